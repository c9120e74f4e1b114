package bridge

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// firing is one call of a watchdog's fire.
type firing struct {
	id   string
	down time.Duration
}

// watchdogRig runs the watchdogs of a display "demo" (after 30s) and one
// without a watchdog ("plain") in a synctest bubble, recording each firing.
type watchdogRig struct {
	w         *watchdogs
	connected atomic.Bool
	mu        sync.Mutex
	fired     []firing
}

func newWatchdogRig(t *testing.T) *watchdogRig {
	r := &watchdogRig{}
	r.connected.Store(true)
	devices := map[string]*Device{
		"demo":  {ID: "demo", Watchdog: Watchdog{After: 30 * time.Second, Actions: []Action{{Topic: "plug/set", Payload: []byte("OFF")}}}},
		"plain": {ID: "plain"},
	}
	r.w = newWatchdogs(devices, slog.New(slog.DiscardHandler), r.connected.Load, func(id string, _ Watchdog, down time.Duration) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.fired = append(r.fired, firing{id, down})
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { r.w.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// firings returns the firings so far, after everything due has run.
func (r *watchdogRig) firings() []firing {
	synctest.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]firing(nil), r.fired...)
}

// TestWatchdog_OncePerOutage: the watchdog fires when the display has
// been unanswered for exactly After, once however long the outage lasts,
// and again in a new outage once the display has answered in between.
func TestWatchdog_OncePerOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newWatchdogRig(t)
		r.w.availability("demo", true)
		r.w.availability("plain", false)
		r.w.availability("demo", false)
		time.Sleep(30*time.Second - time.Millisecond)
		if got := r.firings(); len(got) != 0 {
			t.Fatalf("fired %v before 30s", got)
		}
		time.Sleep(time.Millisecond)
		if got := r.firings(); len(got) != 1 || got[0] != (firing{"demo", 30 * time.Second}) {
			t.Fatalf("at 30s: fired %v, want demo once, down 30s", got)
		}
		time.Sleep(time.Hour)
		r.w.availability("demo", false) // another failed probe changes nothing
		time.Sleep(time.Hour)
		if got := r.firings(); len(got) != 1 {
			t.Fatalf("fired %v during one outage, want once", got)
		}

		r.w.availability("demo", true)
		time.Sleep(time.Minute)
		r.w.availability("demo", false)
		time.Sleep(30 * time.Second)
		if got := r.firings(); len(got) != 2 || got[1] != (firing{"demo", 30 * time.Second}) {
			t.Fatalf("second outage: fired %v, want a second firing after 30s", got)
		}
	})
}

// TestWatchdog_AnsweredInTime: a display that answers again before
// After is not acted upon, and its next outage counts from its own start.
func TestWatchdog_AnsweredInTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newWatchdogRig(t)
		r.w.availability("demo", false) // never answered since the start
		time.Sleep(20 * time.Second)
		r.w.availability("demo", true)
		time.Sleep(20 * time.Second)
		r.w.availability("demo", false)
		time.Sleep(20 * time.Second)
		if got := r.firings(); len(got) != 0 {
			t.Fatalf("fired %v, but no outage lasted 30s", got)
		}
		time.Sleep(10 * time.Second)
		if got := r.firings(); len(got) != 1 || got[0].down != 30*time.Second {
			t.Fatalf("fired %v, want once, 30s into the second outage", got)
		}
	})
}

// TestWatchdog_FlapBetweenLooks: a display that answers and fails again
// before the watchdog's goroutine looks still starts a new outage.
func TestWatchdog_FlapBetweenLooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newWatchdogRig(t)
		r.w.availability("demo", false)
		time.Sleep(30 * time.Second)
		if len(r.firings()) != 1 {
			t.Fatal("no first firing")
		}
		time.Sleep(time.Minute)
		r.w.availability("demo", true)
		r.w.availability("demo", false)
		time.Sleep(30 * time.Second)
		if got := r.firings(); len(got) != 2 || got[1].down != 30*time.Second {
			t.Fatalf("fired %v, want a second firing 30s after the flap", got)
		}
	})
}

// TestWatchdog_WaitsForTheBroker: a watchdog due while the broker is not
// connected waits (its messages would be dropped) and fires once it is.
func TestWatchdog_WaitsForTheBroker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newWatchdogRig(t)
		r.connected.Store(false)
		r.w.availability("demo", false)
		time.Sleep(time.Minute)
		if got := r.firings(); len(got) != 0 {
			t.Fatalf("fired %v without a broker", got)
		}
		r.connected.Store(true)
		time.Sleep(watchdogRetry)
		got := r.firings()
		if len(got) != 1 || got[0].down != time.Minute+watchdogRetry {
			t.Fatalf("fired %v, want once, as soon as the broker is back", got)
		}
		time.Sleep(time.Hour)
		if len(r.firings()) != 1 {
			t.Fatal("fired again in the same outage")
		}
	})
}
