package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
)

// Watchdog is what the bridge does about a display that stops answering:
// once it has not answered for After, each of Actions is published, once
// per outage (not again until the display has answered again). The zero
// value is no watchdog.
type Watchdog struct {
	After   time.Duration
	Actions []Action
}

// Action is one MQTT message a watchdog publishes, such as switching the
// display's smart plug off (through Home Assistant or Zigbee2MQTT).
type Action struct {
	Topic   string
	Payload []byte
	Retain  bool
	QoS     byte // 0, 1 or 2
}

// watchdogRetry is how often a due watchdog looks again while the broker
// is not connected: its actions would be dropped, so it waits.
const watchdogRetry = time.Second

// watchdogs keeps the watchdogs of the displays that have one. The
// controllers report availability (seen, from their goroutines, under
// mu); run's goroutine owns the timers and fires the actions.
type watchdogs struct {
	log *slog.Logger
	// connected reports whether published messages can go out now.
	connected func() bool
	// fire publishes the actions of device id, down for so long.
	fire func(id string, w Watchdog, down time.Duration)

	mu   sync.Mutex
	seen map[string]*seenAvailability // devices with a watchdog -> what their controller reported
	wake chan struct{}                // capacity 1: seen changed

	// Only run's goroutine uses these.
	watches map[string]*watch
}

// seenAvailability is what a controller last reported.
type seenAvailability struct {
	reported bool      // availability was reported at least once
	online   bool      // the last report
	since    time.Time // when it went offline
	answered uint64    // how many times it came online
}

// watch is one display's watchdog as run's goroutine keeps it.
type watch struct {
	Watchdog
	down     time.Time // when this outage began; zero while it answers
	fired    bool      // the actions of this outage were published
	answered uint64    // seenAvailability.answered when last looked
	waiting  bool      // due, but the broker is not connected (logged once)
}

// newWatchdogs returns the watchdogs of devices (those with After > 0);
// fire and connected are called from run's goroutine.
func newWatchdogs(devices map[string]*Device, log *slog.Logger, connected func() bool, fire func(string, Watchdog, time.Duration)) *watchdogs {
	w := &watchdogs{
		log:       log,
		connected: connected,
		fire:      fire,
		seen:      make(map[string]*seenAvailability),
		wake:      make(chan struct{}, 1),
		watches:   make(map[string]*watch),
	}
	for id, d := range devices {
		if d.Watchdog.After > 0 && len(d.Watchdog.Actions) > 0 {
			w.seen[id] = &seenAvailability{}
			w.watches[id] = &watch{Watchdog: d.Watchdog}
		}
	}
	return w
}

// availability records a controller's report; it never blocks.
func (w *watchdogs) availability(id string, online bool) {
	w.mu.Lock()
	s, ok := w.seen[id]
	if ok {
		switch {
		case online && !s.online:
			s.answered++
		case !online && (s.online || !s.reported):
			s.since = time.Now()
		}
		s.online, s.reported = online, true
	}
	w.mu.Unlock()
	if ok {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// run fires the watchdogs that are due until ctx is done.
func (w *watchdogs) run(ctx context.Context) {
	if len(w.watches) == 0 {
		return
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		w.look()
		next := w.fireDue(time.Now())
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// look takes in what the controllers reported.
func (w *watchdogs) look() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, s := range w.seen {
		wt := w.watches[id]
		if s.answered != wt.answered { // it answered since: a new outage
			wt.answered, wt.fired = s.answered, false
		}
		wt.down = time.Time{}
		if s.reported && !s.online {
			wt.down = s.since
		}
	}
}

// fireDue fires the watchdogs that are due at now and returns when the
// next one is (zero: none).
func (w *watchdogs) fireDue(now time.Time) time.Time {
	var next time.Time
	sooner := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for id, wt := range w.watches {
		if wt.down.IsZero() || wt.fired {
			continue
		}
		due := wt.down.Add(wt.After)
		switch {
		case now.Before(due):
			sooner(due)
		case !w.connected():
			if !wt.waiting {
				w.log.Warn("watchdog due, but the MQTT broker is not connected; its actions go out once it is",
					logkey.Device, id, logkey.After, wt.After)
				wt.waiting = true
			}
			sooner(now.Add(watchdogRetry))
		default:
			wt.fired, wt.waiting = true, false
			w.fire(id, wt.Watchdog, now.Sub(wt.down))
		}
	}
	return next
}

// fireWatchdog publishes a watchdog's actions, each logged and reported
// as a warning event naming the display and what was published.
func (b *Bridge) fireWatchdog(id string, w Watchdog, down time.Duration) {
	now := time.Now()
	for _, a := range w.Actions {
		b.box.put(message{topic: a.Topic, payload: a.Payload, retain: a.Retain, ownQoS: true, qosLevel: a.QoS})
		b.log.Warn("watchdog: display does not answer; published its action",
			logkey.Device, id, logkey.Down, readable(down), logkey.Topic, a.Topic)
		err := fmt.Errorf("watchdog: %s has not answered for %s; published this payload to %s (retain %t, QoS %d)",
			id, readable(down), a.Topic, a.Retain, a.QoS)
		b.opts.Events.Report(event.New(now, event.LevelWarning, id, a.Topic, a.Payload, err))
	}
}

// readable rounds d for people: to the second, or the millisecond below
// one.
func readable(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}
