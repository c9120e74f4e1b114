package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// commandTimeout bounds how long a command from the page may take: long
// enough for an image to be checked and stored.
const commandTimeout = 15 * time.Second

// maxCommandBody bounds POST /api/command: a notification with an inline
// image, written as a JSON string inside the request.
const maxCommandBody = 4 * bridge.MaxNotifyPayload

// octetStream is the content type of a file of unknown type. POST
// /api/image takes it and every image/* type: each needs a preflight from
// another origin, which is refused, so a form on another site cannot send
// one.
const octetStream = "application/octet-stream"

// routes are the page and its API, behind the cross-origin check and the
// security headers.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.static("index.html"))
	for name := range s.files {
		if name != "index.html" {
			mux.HandleFunc("GET /"+name, s.static(name))
		}
	}
	mux.HandleFunc("GET /api/stream", s.stream)
	mux.HandleFunc("GET /api/frame/{id}", s.frame)
	mux.HandleFunc("POST /api/command", s.command)
	mux.HandleFunc("POST /api/image/{name}", s.image)
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		replyError(w, http.StatusForbidden, errors.New("cross-origin request refused: commands are taken from the daemon's own page only"))
	}))
	return securityHeaders(csrf.Handler(mux))
}

// contentSecurityPolicy lets the page load only its own files (no inline
// script or style), talk only to the daemon, and not be framed.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// securityHeaders sets the headers that keep the page to itself.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		next.ServeHTTP(w, r)
	})
}

// commandRequest is the body of POST /api/command: an MQTT command topic
// and its payload, a JSON string (sent as it is) or any other JSON value
// (sent as its JSON text); none is an empty payload.
type commandRequest struct {
	Topic   string          `json:"topic"`
	Payload json.RawMessage `json:"payload"`
}

// command serves POST /api/command: the command goes through the bridge's
// checks as if it had come over MQTT; a refusal is answered with its
// reason (and reported as an event, as over MQTT).
func (s *Server) command(w http.ResponseWriter, r *http.Request) {
	if mediaType(r) != "application/json" {
		replyError(w, http.StatusUnsupportedMediaType, errors.New("send the command as JSON (Content-Type: application/json)"))
		return
	}
	var req commandRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCommandBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		replyError(w, http.StatusBadRequest, fmt.Errorf("read the command: %w", err))
		return
	}
	if !strings.HasPrefix(req.Topic, s.opts.BaseTopic+"/") {
		replyError(w, http.StatusBadRequest, fmt.Errorf("topic %q: commands go to topics under %s/", req.Topic, s.opts.BaseTopic))
		return
	}
	payload, err := commandPayload(req.Payload)
	if err != nil {
		replyError(w, http.StatusBadRequest, err)
		return
	}
	s.submit(w, r, req.Topic, payload)
}

// commandPayload is the MQTT payload of a command's JSON payload.
func commandPayload(raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		return []byte(s), nil
	}
	return raw, nil
}

// image serves POST /api/image/<name>: the body is the image file, stored
// as if it had been published to <base>/bridge/request/image/<name>.
func (s *Server) image(w http.ResponseWriter, r *http.Request) {
	if mt := mediaType(r); mt != octetStream && !strings.HasPrefix(mt, "image/") {
		replyError(w, http.StatusUnsupportedMediaType, errors.New("send the image file itself (Content-Type image/png, image/gif, image/jpeg or "+octetStream+")"))
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, picture.MaxUpload))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		replyError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("the image is larger than %d bytes (1 MiB)", picture.MaxUpload))
		return
	case err != nil:
		replyError(w, http.StatusBadRequest, fmt.Errorf("read the image: %w", err))
		return
	case len(data) == 0:
		replyError(w, http.StatusBadRequest, errors.New("no image in the request: choose a file"))
		return
	}
	s.submit(w, r, s.opts.BaseTopic+"/"+topic.BridgeRequest+topic.RequestImage+r.PathValue("name"), data)
}

// submit hands a command to the bridge and answers with its outcome.
func (s *Server) submit(w http.ResponseWriter, r *http.Request, t string, payload []byte) {
	select {
	case <-s.opts.Bridge.Restored():
	default:
		replyError(w, http.StatusServiceUnavailable, errors.New("the daemon is starting (the state is not restored yet): try again in a moment"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), commandTimeout)
	defer cancel()
	err := s.opts.Bridge.Submit(ctx, t, payload)
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, `{"ok":true}`+"\n")
	case errors.Is(err, bridge.ErrShuttingDown):
		replyError(w, http.StatusServiceUnavailable, err)
	case errors.Is(err, context.DeadlineExceeded):
		replyError(w, http.StatusGatewayTimeout, errors.New("the daemon did not carry out the command in time"))
	case errors.Is(err, context.Canceled):
		// The page went away; nobody reads the answer.
	default:
		replyError(w, http.StatusUnprocessableEntity, err)
	}
}

// frame serves GET /api/frame/<id>: the display's latest frame as PNG.
func (s *Server) frame(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(r.PathValue("id"), ".png")
	s.mu.Lock()
	f, ok := s.frames[id]
	s.mu.Unlock()
	if !ok || f.png == nil {
		replyError(w, http.StatusNotFound, fmt.Errorf("no frame of %q", id))
		return
	}
	etag := `"` + strconv.FormatUint(f.version, 10) + `"`
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "image/png")
	h.Set("Content-Length", strconv.Itoa(len(f.png)))
	w.Write(f.png)
}

// mediaType is the media type of the request's body, "" if none.
func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// replyError answers {"error": "..."} with status.
func replyError(w http.ResponseWriter, status int, err error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{err.Error()})
}
