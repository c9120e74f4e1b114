package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// Startup is one start-up run: a daemon with a state file of N devices,
// from process start until a subscriber has seen every device's state.
type Startup struct {
	Devices int `json:"devices"`
	// Seconds is process start → the last device state seen (of those
	// that came, when not all did).
	Seconds float64 `json:"seconds"`
	// States is the devices whose <base>/<id>/state the subscriber saw.
	States int `json:"states"`
	// Restored is the devices whose state carried the file's brightness.
	Restored int `json:"restored"`
	// Topics is how many of the devices' state topics (deviceLeaves, so
	// TopicsExpected = 7 × Devices) a QoS 1 subscriber on "#" received.
	Topics         int `json:"topics"`
	TopicsExpected int `json:"topics_expected"`
	// Late is how many of them the late subscriber on "<base>/#"
	// (LateBase) received.
	Late   int    `json:"late_topics"`
	Memory Memory `json:"memory"`
	// LateBase is a QoS 1 subscriber on "<base>/#" that subscribes after
	// the start (and after Memory was read), against every retained topic
	// of the daemon under the base topic; LateHA, with Home Assistant on,
	// one on "homeassistant/#" that subscribes after it, against every
	// discovery config. The broker sends them all at once, whatever the
	// daemon's pacing.
	LateBase Late  `json:"late_base"`
	LateHA   *Late `json:"late_homeassistant,omitempty"`
}

// Complete reports whether every device's state arrived.
func (s Startup) Complete() bool { return s.States == s.Devices }

// deviceLeaves are the retained topics each device has in the contract's
// "Device state" table.
func deviceLeaves() []string { return append(state.Fields(), "state", "availability") }

// retainedLeaves are every retained topic of a device, cleared on an
// external broker before a run.
func retainedLeaves() []string {
	return append(deviceLeaves(), topic.Metrics, topic.Frame, topic.Notification)
}

// watcher observes a daemon's start: one client on <base>/+/state, one on
// "#" counting the device state topics and keeping every topic the daemon
// has retained.
type watcher struct {
	base   string
	ids    map[string]int // device id -> index
	accept accept
	leaves map[string]bool

	states, all *client

	mu     sync.Mutex
	seen   map[string]int // device -> brightness of its last state
	last   time.Time      // when the last new device state arrived
	topics map[string]bool
	lastT  time.Time // when the last new topic arrived
	// retained are the topics under the base topic and the discovery
	// prefix with a payload now, of those the daemon publishes retained
	// (retainedByDaemon): what a late subscriber should get.
	retained map[string]bool
}

// accept says which messages a watcher counts.
type accept int

const (
	anyMessage   accept = iota // retained or not
	liveOnly                   // for a subscription made before the start: an external broker may still hold retained messages of earlier runs
	retainedOnly               // for a subscription made after the start
)

// ok reports whether m counts; an empty payload (a deletion) never does.
func (a accept) ok(m mqtt.Message) bool { return a.flagOK(m) && len(m.Payload()) > 0 }

// flagOK reports whether m's retain flag is one that counts.
func (a accept) flagOK(m mqtt.Message) bool {
	switch a {
	case liveOnly:
		return !m.Retained()
	case retainedOnly:
		return m.Retained()
	}
	return true
}

// newWatcher watches the bench devices 0..n-1.
func newWatcher(base string, n int, a accept) *watcher { return newWatcherFor(base, ids(n), a) }

// newWatcherFor watches the devices ids.
func newWatcherFor(base string, ids []string, a accept) *watcher {
	w := &watcher{
		base:     base,
		ids:      make(map[string]int, len(ids)),
		accept:   a,
		leaves:   make(map[string]bool),
		seen:     make(map[string]int, len(ids)),
		topics:   make(map[string]bool, 7*len(ids)),
		retained: make(map[string]bool, 10*len(ids)),
	}
	for i, id := range ids {
		w.ids[id] = i
	}
	for _, l := range deviceLeaves() {
		w.leaves[l] = true
	}
	return w
}

// connect connects and subscribes both clients, the state one first.
func (w *watcher) connect(ctx context.Context, url string, timeout time.Duration) error {
	var err error
	if w.states, err = dial(ctx, url, "startup-state", timeout, w.onState); err != nil {
		return err
	}
	if err = w.states.subscribe(ctx, map[string]byte{w.base + "/+/state": 1}); err != nil {
		return err
	}
	return w.connectAll(ctx, url, timeout)
}

// connectAll connects and subscribes only the client on "#".
func (w *watcher) connectAll(ctx context.Context, url string, timeout time.Duration) error {
	var err error
	if w.all, err = dial(ctx, url, "startup-all", timeout, w.onAny); err != nil {
		return err
	}
	return w.all.subscribe(ctx, map[string]byte{"#": 1})
}

// waitTopics waits until the "#" client has every device topic, or none
// came for quiet (none at all: for twice that), or timeout passed.
func (w *watcher) waitTopics(ctx context.Context, want int, quiet, timeout time.Duration) {
	start := time.Now()
	waitFor(ctx, timeout, func() bool {
		_, _, got, last := w.progress()
		if last.IsZero() {
			last = start.Add(quiet)
		}
		return got == want || time.Since(last) > quiet
	})
}

// close disconnects the clients that were connected.
func (w *watcher) close() {
	for _, c := range []*client{w.states, w.all} {
		if c != nil {
			c.close()
		}
	}
}

// onState is the state client's handler: it records each device's
// brightness and when a device was first seen.
func (w *watcher) onState(m mqtt.Message) {
	at := time.Now()
	if !w.accept.ok(m) {
		return
	}
	id, ok := deviceOf(m.Topic(), w.base, "state")
	if _, known := w.ids[id]; !ok || !known {
		return
	}
	var st struct {
		Brightness int `json:"brightness"`
	}
	if json.Unmarshal(m.Payload(), &st) != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, dup := w.seen[id]; !dup {
		w.last = at
	}
	w.seen[id] = st.Brightness
}

// onAny is the "#" client's handler: it records each device state topic,
// and the retained topics of the daemon (an empty payload deletes one).
func (w *watcher) onAny(m mqtt.Message) {
	at := time.Now()
	if !w.accept.flagOK(m) {
		return
	}
	if retainedByDaemon(w.base, m.Topic()) {
		w.mu.Lock()
		if len(m.Payload()) == 0 {
			delete(w.retained, m.Topic())
		} else {
			w.retained[m.Topic()] = true
		}
		w.mu.Unlock()
	}
	if len(m.Payload()) == 0 {
		return
	}
	rest, ok := strings.CutPrefix(m.Topic(), w.base+"/")
	if !ok {
		return
	}
	id, leaf, ok := strings.Cut(rest, "/")
	if _, known := w.ids[id]; !ok || !known || !w.leaves[leaf] {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.topics[m.Topic()] {
		w.topics[m.Topic()] = true
		w.lastT = at
	}
}

// progress returns the device states and topics seen and when the last
// new one of each arrived.
func (w *watcher) progress() (states int, last time.Time, topics int, lastT time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen), w.last, len(w.topics), w.lastT
}

// retainedNow returns the daemon's retained topics seen so far.
func (w *watcher) retainedNow() map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.retained)
}

// restored counts the devices whose state has the brightness of the file.
func (w *watcher) restored() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for id, b := range w.seen {
		if b == benchState(w.ids[id], time.Time{}).Brightness {
			n++
		}
	}
	return n
}

// runStartup starts a daemon with a state file of n devices and measures
// how long it takes until their state is on the broker.
func (b *bench) runStartup(ctx context.Context, n int) (Startup, error) {
	res := Startup{Devices: n, TopicsExpected: n * len(deviceLeaves())}
	dir := filepath.Join(b.tmp, fmt.Sprintf("startup-%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("start-up of %d: %w", n, err)
	}
	defer os.RemoveAll(dir)
	statePath := filepath.Join(dir, "runtime-state.json")
	if err := writeStateFile(ctx, statePath, n); err != nil {
		return res, err
	}
	live := anyMessage
	if b.external() {
		live = liveOnly
	}
	w := newWatcher(baseTopic, n, live)
	defer w.close()
	if b.external() {
		if err := b.clearRetained(ctx); err != nil {
			return res, err
		}
		if err := w.connect(ctx, b.opts.broker, b.opts.timeout); err != nil {
			return res, fmt.Errorf("start-up of %d: watch: %w", n, err)
		}
	}
	d, url, err := b.startBench(ctx, dir, n, statePath)
	if err != nil {
		return res, fmt.Errorf("start-up of %d: %w", n, err)
	}
	defer d.stop()
	b.dirty = n
	if !b.external() {
		if err := w.connect(ctx, url, b.opts.timeout); err != nil {
			return res, fmt.Errorf("start-up of %d: watch: %w", n, err)
		}
	}
	// Until every state came, or none came for a while: a miss is a
	// result, reported as a count, not an error.
	stall := b.opts.timeout
	waitFor(ctx, b.opts.startupTimeout, func() bool {
		got, last, _, _ := w.progress()
		return got == n || (!last.IsZero() && time.Since(last) > stall)
	})
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if err := d.checkAlive(); err != nil {
		return res, fmt.Errorf("start-up of %d: %w", n, err)
	}
	quiet := min(b.opts.timeout, 2*time.Second)
	w.waitTopics(ctx, res.TopicsExpected, quiet, b.opts.startupTimeout)
	var last time.Time
	res.States, last, res.Topics, _ = w.progress()
	res.Restored = w.restored()
	if !last.IsZero() {
		res.Seconds = last.Sub(d.start).Seconds()
	}
	if res.Memory, err = sampleMemory(ctx, d, b.gcWait()); err != nil {
		return res, fmt.Errorf("start-up of %d: %w", n, err)
	}
	if err := b.measureLates(ctx, &res, d, url, w); err != nil {
		return res, fmt.Errorf("start-up of %d: %w", n, err)
	}
	if err := d.stop(); err != nil {
		return res, fmt.Errorf("start-up of %d: %w", n, err)
	}
	return res, nil
}

// measureLates measures the late subscribers of a start-up run, one after
// the other, against the retained topics w saw; the "#" subscriber of w
// stays, so that topics the daemon publishes meanwhile are expected too.
func (b *bench) measureLates(ctx context.Context, res *Startup, d *daemon, url string, w *watcher) error {
	all := w.retainedNow()
	lb, got, err := b.measureLate(ctx, d, url, baseTopic+"/#", underFilter(all, baseTopic))
	if err != nil {
		return err
	}
	res.LateBase = lb
	for t := range got {
		rest, _ := strings.CutPrefix(t, baseTopic+"/")
		id, leaf, _ := strings.Cut(rest, "/")
		if _, known := w.ids[id]; known && w.leaves[leaf] {
			res.Late++
		}
	}
	if b.external() {
		defer func() { b.leftover = w.retainedNow() }()
	}
	if !b.opts.ha {
		return nil
	}
	all = w.retainedNow()
	lh, _, err := b.measureLate(ctx, d, url, discoveryPrefix+"/#", underFilter(all, discoveryPrefix))
	if err != nil {
		return err
	}
	res.LateHA = &lh
	return nil
}

// clearRetained deletes the retained topics that an earlier run may have
// left on the external broker, so that the daemon restores from its file
// and the watchers see only this run's messages: at the first call every
// retained topic under the base topic and of its discovery configs that
// the broker sends (sweep), then those a watcher saw the last run's daemon
// leave, and every retained topic of the devices it may have had.
func (b *bench) clearRetained(ctx context.Context) error {
	if !b.external() || (b.dirty == 0 && len(b.leftover) == 0 && b.swept) {
		return nil
	}
	c, err := dial(ctx, b.opts.broker, "clear", b.opts.timeout, nil)
	if err != nil {
		return fmt.Errorf("clear retained topics: %w", err)
	}
	defer c.close()
	clear := maps.Clone(b.leftover)
	if clear == nil {
		clear = make(map[string]bool)
	}
	if !b.swept {
		found, err := retainedOn(ctx, b.opts.broker, []string{baseTopic + "/#", discoveryPrefix + "/+/" + baseTopic + "/#"}, b.opts.timeout)
		if err != nil {
			return fmt.Errorf("clear retained topics: %w", err)
		}
		maps.Copy(clear, found)
		b.swept = true
	}
	for i := range b.dirty {
		for _, leaf := range retainedLeaves() {
			clear[baseTopic+"/"+benchID(i)+"/"+leaf] = true
		}
	}
	if err := c.publishAll(ctx, 256, slices.Sorted(maps.Keys(clear)), nil, true); err != nil {
		return fmt.Errorf("clear retained topics: %w", err)
	}
	b.dirty, b.leftover = 0, nil
	return nil
}

// retainedOn returns the retained topics with a payload that the broker at
// url sends for filters: a QoS 0 subscription (no per-client limit on
// deliveries in flight), until a message the tool publishes after
// subscribing comes back behind them, or timeout.
func retainedOn(ctx context.Context, url string, filters []string, timeout time.Duration) (map[string]bool, error) {
	marker := "pidicon-bench/sweep/" + randomHex(8)
	var mu sync.Mutex
	found := make(map[string]bool)
	done := make(chan struct{})
	var once sync.Once
	c, err := dial(ctx, url, "sweep", timeout, func(m mqtt.Message) {
		if m.Topic() == marker {
			once.Do(func() { close(done) })
			return
		}
		if m.Retained() && len(m.Payload()) > 0 {
			mu.Lock()
			found[m.Topic()] = true
			mu.Unlock()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("find retained topics: %w", err)
	}
	defer c.close()
	subs := map[string]byte{marker: 0}
	for _, f := range filters {
		subs[f] = 0
	}
	if err := c.subscribe(ctx, subs); err != nil {
		return nil, fmt.Errorf("find retained topics: %w", err)
	}
	c.send(marker, []byte("end"), false)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		return nil, fmt.Errorf("find retained topics: the broker did not send %s back within %s", marker, timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(found), nil
}

// startupSizes is the sorted list of start-up sizes.
func startupSizes(ns []int) []int {
	out := slices.Clone(ns)
	slices.Sort(out)
	return slices.Compact(out)
}
