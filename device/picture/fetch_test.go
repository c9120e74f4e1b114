package picture_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

func TestFetch(t *testing.T) {
	pngData := testkit.PNG(t, photo(20, 10))
	big := bytes.Repeat([]byte{0xff}, 2000)
	mux := http.NewServeMux()
	serve := func(path, contentType string, body []byte) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if contentType != "" {
				w.Header().Set("Content-Type", contentType)
			}
			w.Write(body)
		})
	}
	serve("/ok.png", "image/png", pngData)
	serve("/page.html", "text/html; charset=utf-8", []byte("<html></html>"))
	serve("/untyped", "", nil) // net/http sniffs: text/plain
	serve("/big.png", "image/png", big)
	// raw answers with head and body as written, bypassing the server's
	// checks of Content-Length.
	raw := func(path, head string, body []byte) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n" + head + "\r\n")
			buf.Write(body)
			buf.Flush()
		})
	}
	raw("/lying-small.png", "Content-Length: 500\r\n", big) // claims 500, sends 2000
	raw("/unannounced.png", "", big)                        // no length: until the connection ends
	mux.HandleFunc("/chunked.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		for range 4 {
			w.Write(big[:500])
			w.(http.Flusher).Flush() // no Content-Length at all
		}
	})
	mux.HandleFunc("/slow.png", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers only when the client gives up
	})
	mux.HandleFunc("/slow-body.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(pngData[:10])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/to-ftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://example.com/a.png", http.StatusFound)
	})
	mux.HandleFunc("/to-ok", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok.png", http.StatusFound)
	})
	mux.HandleFunc("/hops/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n == 0 {
			http.Redirect(w, r, "/ok.png", http.StatusFound)
			return
		}
		http.Redirect(w, r, "/hops/"+strconv.Itoa(n-1), http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	f := picture.Fetcher{Timeout: 200 * time.Millisecond, MaxBytes: 1000}
	ok := []string{"/ok.png", "/to-ok", "/hops/2"} // /hops/2 redirects three times
	for _, path := range ok {
		t.Run(path, func(t *testing.T) {
			got, err := f.Fetch(context.Background(), srv.URL+path)
			if err != nil || !bytes.Equal(got, pngData) {
				t.Fatalf("Fetch = %d bytes, %v; want the PNG", len(got), err)
			}
		})
	}
	tests := []struct {
		url  string
		want error
		says string
	}{
		{srv.URL + "/missing.png", picture.ErrFetch, "status 404 Not Found"},
		{srv.URL + "/page.html", picture.ErrNotImage, `content type "text/html; charset=utf-8"`},
		{srv.URL + "/untyped", picture.ErrNotImage, `content type ""`},
		{srv.URL + "/big.png", picture.ErrTooLarge, "2000 bytes, more than 1000"},
		{srv.URL + "/unannounced.png", picture.ErrTooLarge, "more than 1000 bytes"},
		{srv.URL + "/chunked.png", picture.ErrTooLarge, "more than 1000 bytes"},
		{srv.URL + "/slow.png", picture.ErrFetch, "no complete answer within 200ms"},
		{srv.URL + "/slow-body.png", picture.ErrFetch, "no complete answer within 200ms"},
		{srv.URL + "/to-ftp", picture.ErrFetch, `redirect to ftp://example.com/a.png: scheme "ftp" is not http or https`},
		{srv.URL + "/hops/3", picture.ErrFetch, "more than 3 redirects"},
		{"ftp://example.com/a.png", picture.ErrFetch, `scheme "ftp" is not http or https`},
		{"file:///etc/passwd", picture.ErrFetch, `scheme "file"`},
		{"/ok.png", picture.ErrFetch, `scheme ""`},
		{"http:///ok.png", picture.ErrFetch, "no host"},
		{"http://[::1", picture.ErrFetch, "missing ']'"},
		{"http://user:secret@" + strings.TrimPrefix(srv.URL, "http://") + "/missing.png", picture.ErrFetch, "user:xxxxx@"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := f.Fetch(context.Background(), tt.url)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("Fetch = %d bytes, %v; want %v", len(got), err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
			if strings.Contains(tt.says, "no complete answer") && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %q is not context.DeadlineExceeded", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}

	t.Run("lying Content-Length", func(t *testing.T) {
		// The client reads no more than was announced.
		got, err := f.Fetch(context.Background(), srv.URL+"/lying-small.png")
		if err != nil || len(got) != 500 {
			t.Fatalf("Fetch = %d bytes, %v; want the 500 announced", len(got), err)
		}
	})
	t.Run("caller's context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := picture.Fetcher{}.Fetch(ctx, srv.URL+"/ok.png")
		if !errors.Is(err, picture.ErrFetch) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Fetch = %v; want ErrFetch and context.Canceled", err)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		got, err := picture.Fetcher{}.Fetch(context.Background(), srv.URL+"/big.png")
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("Fetch = %d bytes, %v", len(got), err)
		}
	})
	t.Run("caller's client keeps its redirect policy", func(t *testing.T) {
		asked := 0
		client := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
			asked++
			return errors.New("no redirects here")
		}}
		_, err := picture.Fetcher{Client: client}.Fetch(context.Background(), srv.URL+"/to-ok")
		if !errors.Is(err, picture.ErrFetch) || asked != 1 {
			t.Fatalf("Fetch = %v, policy asked %d times; want its refusal", err, asked)
		}
		_, err = picture.Fetcher{Client: client}.Fetch(context.Background(), srv.URL+"/to-ftp")
		if !strings.Contains(err.Error(), `scheme "ftp"`) || asked != 1 {
			t.Fatalf("Fetch = %v, policy asked %d times; want the scheme refused first", err, asked)
		}
	})
}
