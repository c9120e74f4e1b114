package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/sim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait for a condition in these tests.
const waitTimeout = 10 * time.Second

// startServer serves h on a free loopback port until the test ends.
func startServer(t *testing.T, h http.Handler) (*sim.Server, string) {
	t.Helper()
	srv := sim.NewServer(h)
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv, addr
}

// newDriver returns a Pixoo 64 driver for addr, closed when the test ends.
func newDriver(t *testing.T, addr string, opts pixoo64.Options) *pixoo64.Client {
	t.Helper()
	c, err := pixoo64.New(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// waitFor waits until cond holds, checking it after each request dev
// answers, and fails the test after waitTimeout.
func waitFor(t *testing.T, dev interface{ Changed() <-chan struct{} }, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		changed := dev.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// fetchPNG gets a PNG of the given size.
func fetchPNG(t *testing.T, url string, w, h int) image.Image {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	if b := img.Bounds(); b != image.Rect(0, 0, w, h) {
		t.Fatalf("%s is %v, want %dx%d", url, b, w, h)
	}
	return img
}

// fetchState gets a simulator's /state.
func fetchState(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var state map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&state); err != nil {
		t.Fatal(err)
	}
	return state
}

// route is a request to a simulator and the status and Content-Type of
// its answer (ctype "" takes any).
type route struct {
	method, path string
	status       int
	ctype        string
}

// checkRoutes sends each route's request to h in-process and checks the
// answer.
func checkRoutes(t *testing.T, h http.Handler, routes []route) {
	t.Helper()
	for _, tt := range routes {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status {
			t.Errorf("%s %s: HTTP %d, want %d", tt.method, tt.path, rec.Code, tt.status)
		}
		if tt.ctype != "" && rec.Header().Get("Content-Type") != tt.ctype {
			t.Errorf("%s %s: Content-Type %q, want %q", tt.method, tt.path, rec.Header().Get("Content-Type"), tt.ctype)
		}
	}
}

// simulator is what Pixoo and Awtrix share, R being the record of one
// request: the tests below check it the same way for both.
type simulator[R any] interface {
	http.Handler
	SetFault(sim.Fault)
	SetLatency(time.Duration)
	Close()
	Changed() <-chan struct{}
	Requests() []R
	Brightness() int
}

// dialer returns a call of a driver for host (Probe, or PushFrame of some
// frame) with the given request timeout; the driver is closed when the
// test ends.
type dialer func(t *testing.T, host string, timeout time.Duration) func(context.Context) error

// probePixoo is the Probe of a Pixoo 64 driver.
func probePixoo(t *testing.T, host string, timeout time.Duration) func(context.Context) error {
	return newDriver(t, host, pixoo64.Options{Timeout: timeout}).Probe
}

// testServerReleasesHang checks that Down and Close end requests that a
// handler holds, and return only once the handler has returned; what (the
// name of the call dial returns) is sent to a hanging device.
func testServerReleasesHang[S simulator[R], R any](t *testing.T, newSim func() S, what string, dial dialer) {
	for _, stop := range []string{"Down", "Close"} {
		t.Run(stop, func(t *testing.T) {
			dev := newSim() // not closed: only the server may release it
			dev.SetFault(sim.FaultHang)
			srv, addr := startServer(t, dev)
			call := dial(t, addr, time.Hour)

			done := make(chan error, 1)
			go func() { done <- call(context.Background()) }()
			waitFor(t, dev, "the request to hang", func() bool { return len(dev.Requests()) == 1 })

			var err error
			if stop == "Down" {
				err = srv.Down()
			} else {
				err = srv.Close()
			}
			if err != nil {
				t.Fatalf("%s: %v", stop, err)
			}
			select {
			case err := <-done:
				if err == nil {
					t.Errorf("%s of a hanging device succeeded", what)
				}
			case <-time.After(waitTimeout):
				t.Fatalf("%s still blocked after the server stopped", what)
			}
		})
	}
}

// testLatency checks SetLatency on dev, served at addr; latencyMS is its
// State().LatencyMS.
func testLatency[R any](t *testing.T, dev simulator[R], addr string, latencyMS func() int64, dial dialer) {
	t.Helper()
	dev.SetLatency(time.Hour)
	if got := latencyMS(); got != time.Hour.Milliseconds() {
		t.Errorf("State().LatencyMS = %d", got)
	}
	if err := dial(t, addr, 50*time.Millisecond)(t.Context()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Probe of a slow device: %v, want a deadline error", err)
	}
	dev.SetLatency(time.Millisecond)
	if err := dial(t, addr, waitTimeout)(t.Context()); err != nil {
		t.Errorf("Probe of a slightly slow device: %v", err)
	}
}

// testCloseReleases checks that Close frees requests held by a hang or a
// latency under a server that waits for its handlers.
func testCloseReleases[S simulator[R], R any](t *testing.T, newSim func() S, dial dialer) {
	for _, slow := range []string{"hang", "latency"} {
		t.Run(slow, func(t *testing.T) {
			dev := newSim()
			if slow == "hang" {
				dev.SetFault(sim.FaultHang)
			} else {
				dev.SetLatency(time.Hour)
			}
			ts := httptest.NewServer(dev)
			t.Cleanup(ts.Close)
			probe := dial(t, ts.URL, time.Hour)
			done := make(chan error, 1)
			go func() { done <- probe(context.Background()) }()
			if slow == "hang" {
				waitFor(t, dev, "the request", func() bool { return len(dev.Requests()) == 1 })
			}
			dev.Close()
			select {
			case err := <-done:
				if err == nil {
					t.Error("Probe succeeded")
				}
			case <-time.After(waitTimeout):
				t.Fatal("Probe still blocked after Close")
			}
		})
	}
}

// testChanged checks that dev's Changed channel is closed by the next API
// request, setBrightness5, once it has been applied.
func testChanged[R any](t *testing.T, dev simulator[R], setBrightness5 func()) {
	t.Helper()
	ch := dev.Changed()
	select {
	case <-ch:
		t.Fatal("Changed() closed before any request")
	default:
	}
	go setBrightness5()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatal("Changed() not closed after a request")
	}
	if dev.Brightness() != 5 {
		t.Errorf("brightness %d after Changed, want 5", dev.Brightness())
	}
}

func TestServer_DownUp(t *testing.T) {
	dev := sim.NewPixoo()
	t.Cleanup(dev.Close)
	srv, addr := startServer(t, dev)
	if srv.Addr() != addr || srv.URL() != "http://"+addr || !srv.IsUp() {
		t.Fatalf("Addr() %q, URL() %q, IsUp() %v after Start returned %q", srv.Addr(), srv.URL(), srv.IsUp(), addr)
	}
	c := newDriver(t, srv.URL(), pixoo64.Options{})
	if err := c.Probe(t.Context()); err != nil {
		t.Fatalf("Probe while up: %v", err)
	}

	if err := srv.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if err := srv.Down(); err != nil {
		t.Fatalf("Down again: %v", err)
	}
	if srv.IsUp() || srv.Addr() != addr {
		t.Errorf("IsUp() %v, Addr() %q while down", srv.IsUp(), srv.Addr())
	}
	// The kept-alive connection was closed by Down: the first request may
	// see that instead of a refusal, but it must fail too.
	if err := c.Probe(t.Context()); err == nil {
		t.Fatal("Probe succeeded while down")
	}
	c.Close()
	if err := c.Probe(t.Context()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Probe while down: %v, want connection refused", err)
	}

	if err := srv.Up(); err != nil {
		t.Fatalf("Up: %v", err)
	}
	if err := srv.Up(); err != nil {
		t.Fatalf("Up again: %v", err)
	}
	if !srv.IsUp() || srv.Addr() != addr {
		t.Errorf("IsUp() %v, Addr() %q after Up, want true, %q", srv.IsUp(), srv.Addr(), addr)
	}
	if err := c.Probe(t.Context()); err != nil {
		t.Fatalf("Probe after Up: %v", err)
	}
}

func TestServer_Lifecycle(t *testing.T) {
	srv := sim.NewServer(http.NotFoundHandler())
	if err := srv.Up(); err == nil {
		t.Error("Up before Start succeeded")
	}
	if err := srv.Down(); err != nil {
		t.Errorf("Down before Start: %v", err)
	}
	if _, err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Start("127.0.0.1:0"); err == nil {
		t.Error("second Start succeeded")
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for name, f := range map[string]func() error{"Up": srv.Up, "Down": srv.Down} {
		if err := f(); !errors.Is(err, sim.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if _, err := srv.Start("127.0.0.1:0"); !errors.Is(err, sim.ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
	if _, err := sim.NewServer(http.NotFoundHandler()).Start("256.0.0.1:0"); err == nil {
		t.Error("Start on a bad address succeeded")
	}
}

// TestServer_ReleasesHang checks that Down and Close end requests that a
// handler holds, and return only once the handler has returned.
func TestServer_ReleasesHang(t *testing.T) {
	testServerReleasesHang(t, sim.NewPixoo, "Probe", probePixoo)
}
