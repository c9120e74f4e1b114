// Package testkit holds the helpers that tests of several packages share:
// a log buffer safe for concurrent writers, HTTP stand-ins for devices (a
// server that records every request, one that never answers, a transport
// that calls a handler in-process), test frames, and a client of the web
// page's stream of server-sent events. Tests only.
package testkit

import (
	"bytes"
	"image"
	"image/color"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/sim"
)

// Buffer collects output written from several goroutines, such as logs.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// HandlerTransport sends requests straight to an http.Handler, in the
// caller's goroutine: a real driver and a real simulator without a
// network, so that a synctest bubble's fake clock covers both.
type HandlerTransport struct{ Handler http.Handler }

// RoundTrip serves req with the handler.
func (t HandlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.Handler.ServeHTTP(rec, req)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	return rec.Result(), nil
}

// HangingServer is a device that takes requests and never answers until
// the test ends; entered gets a value per request.
func HangingServer(t testing.TB) (url string, entered <-chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	in := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	return srv.URL, in
}

// Request is one request a Recorder got, verbatim.
type Request struct {
	Method, Path, Query string
	ContentType         string
	Body                string
}

// Call is "METHOD /path?query", for comparing sequences of requests.
func (r Request) Call() string {
	s := r.Method + " " + r.Path
	if r.Query != "" {
		s += "?" + r.Query
	}
	return s
}

// Recorder is a device stand-in on a test HTTP server: it records every
// request and answers as its reply func says.
type Recorder struct {
	// URL is the server's base URL.
	URL string

	t     testing.TB
	mu    sync.Mutex
	reqs  []Request
	reply func(r Request, w http.ResponseWriter)
}

// NewRecorder starts a Recorder that answers with reply until SetReply
// changes it; it stops when the test ends.
func NewRecorder(t testing.TB, reply func(r Request, w http.ResponseWriter)) *Recorder {
	t.Helper()
	d := &Recorder{t: t, reply: reply}
	srv := httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(srv.Close)
	d.URL = srv.URL
	return d
}

func (d *Recorder) serve(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		d.t.Errorf("read body: %v", err)
	}
	req := Request{
		Method:      r.Method,
		Path:        r.URL.Path,
		Query:       r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"),
		Body:        buf.String(),
	}
	d.mu.Lock()
	d.reqs = append(d.reqs, req)
	reply := d.reply
	d.mu.Unlock()
	reply(req, w)
}

// SetReply changes the answer to the following requests.
func (d *Recorder) SetReply(f func(r Request, w http.ResponseWriter)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reply = f
}

// Take returns the requests received since the last call.
func (d *Recorder) Take() []Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	reqs := d.reqs
	d.reqs = nil
	return reqs
}

// Frame returns a w x h frame with a distinct colour per pixel, as a
// sub-image of a larger one so that its origin and stride are not trivial.
func Frame(w, h int) *image.RGBA {
	big := image.NewRGBA(image.Rect(-5, -3, w+20, h+12))
	r := image.Rect(7, 2, 7+w, 2+h)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			big.SetRGBA(x, y, color.RGBA{R: uint8(x * 256 / w), G: uint8(y * 256 / h), B: uint8(x ^ y), A: 0xff})
		}
	}
	return big.SubImage(r).(*image.RGBA)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartPixoo serves a simulated Pixoo 64 on a free loopback port, as a
// device on the network would be, until the test ends.
func StartPixoo(t testing.TB) (*sim.Pixoo, *sim.Server) {
	t.Helper()
	p := sim.NewPixoo()
	return p, serve(t, p)
}

// StartAwtrix serves a simulated AWTRIX 3 clock on a free loopback port,
// as a device on the network would be, until the test ends.
func StartAwtrix(t testing.TB) (*sim.Awtrix, *sim.Server) {
	t.Helper()
	a := sim.NewAwtrix()
	return a, serve(t, a)
}

// serve serves s (sim.Serve) until the test ends.
func serve(t testing.TB, s device.Simulator) *sim.Server {
	t.Helper()
	srv, stop, err := sim.Serve(s, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return srv
}
