package sim_test

import (
	"context"
	"errors"
	"net/http"
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
func waitFor(t *testing.T, dev *sim.Pixoo, what string, cond func() bool) {
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
	for _, stop := range []string{"Down", "Close"} {
		t.Run(stop, func(t *testing.T) {
			dev := sim.NewPixoo() // not closed: only the server may release it
			dev.SetFault(sim.FaultHang)
			srv, addr := startServer(t, dev)
			c := newDriver(t, addr, pixoo64.Options{Timeout: time.Hour})

			done := make(chan error, 1)
			go func() { done <- c.Probe(context.Background()) }()
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
					t.Error("Probe of a hanging device succeeded")
				}
			case <-time.After(waitTimeout):
				t.Fatal("Probe still blocked after the server stopped")
			}
		})
	}
}
