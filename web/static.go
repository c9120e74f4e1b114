package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
)

// staticFile is one of the page's files, built into the binary.
type staticFile struct {
	data        []byte
	contentType string
	etag        string
}

// loadStatic reads the page's files once. Each gets an ETag from its
// content, so that a browser revalidates cheaply and never keeps the page
// of an older daemon.
func loadStatic() map[string]staticFile {
	files := make(map[string]staticFile)
	root, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err) // the folder is embedded: cannot happen
	}
	entries, err := fs.ReadDir(root, ".")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := fs.ReadFile(root, e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(data)
		ct := mime.TypeByExtension(path.Ext(e.Name()))
		if ct == "" {
			ct = "application/octet-stream"
		}
		files[e.Name()] = staticFile{data: data, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return files
}

// static serves one of the page's files.
func (s *Server) static(name string) http.HandlerFunc {
	f := s.files[name]
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		if r.Header.Get("If-None-Match") == f.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", f.contentType)
		h.Set("Content-Length", strconv.Itoa(len(f.data)))
		w.Write(f.data)
	}
}
