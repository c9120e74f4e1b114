package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// setter drives the daemon: client pub publishes <base>/<id>/brightness/set
// with a value different from the device's current one, and the operation
// is answered when client sub, subscribed to <base>/+/state, sees that
// device's state carry the new brightness.
type setter struct {
	pub, sub *client
	base     string
	ids      []string
	dones    chan done

	// Only drive's goroutine uses these: which devices each slot drives.
	window int
	next   []int

	mu      sync.Mutex
	cur     map[string]int     // last brightness seen, per device
	pending map[string]waiting // the set outstanding, per device
	seq     uint64
}

// waiting is a set whose state has not been seen yet.
type waiting struct {
	slot int
	seq  uint64
	want int
}

// newSetter connects the two clients and waits until the retained state
// of every device has arrived, so that each set changes something.
func newSetter(ctx context.Context, url, base string, ids []string, timeout time.Duration) (*setter, error) {
	s := &setter{
		base:    base,
		ids:     ids,
		dones:   make(chan done, queueSize),
		cur:     make(map[string]int),
		pending: make(map[string]waiting),
	}
	var err error
	s.sub, err = dial(ctx, url, "state", timeout, s.onState)
	if err != nil {
		return nil, err
	}
	s.pub, err = dial(ctx, url, "set", timeout, nil)
	if err != nil {
		s.sub.close()
		return nil, err
	}
	err = s.sub.subscribe(ctx, map[string]byte{base + "/+/state": 1})
	if err == nil {
		err = waitFor(ctx, timeout, func() bool { return s.known() >= len(ids) })
		if err != nil {
			err = fmt.Errorf("the retained state of %d of %d devices arrived: %w", s.known(), len(ids), err)
		}
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("set driver: %w", err)
	}
	return s, nil
}

// onState is sub's handler.
func (s *setter) onState(m mqtt.Message) {
	at := time.Now()
	id, ok := deviceOf(m.Topic(), s.base, "state")
	if !ok {
		return
	}
	var st struct {
		Brightness *int `json:"brightness"`
	}
	if json.Unmarshal(m.Payload(), &st) != nil || st.Brightness == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur[id] = *st.Brightness
	if w, ok := s.pending[id]; ok && w.want == *st.Brightness {
		delete(s.pending, id)
		select {
		case s.dones <- done{slot: w.slot, seq: w.seq, at: at}:
		default:
		}
	}
}

// known is the number of devices whose state has been seen.
func (s *setter) known() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cur)
}

// start sends the next set of slot: slot s drives devices s, s+w, s+2w, …
// in turn, so no device has two sets outstanding.
func (s *setter) start(slot int) (uint64, error) {
	n := (len(s.ids) - slot + s.window - 1) / s.window
	id := s.ids[slot+s.next[slot]*s.window]
	s.next[slot] = (s.next[slot] + 1) % n
	s.mu.Lock()
	want := s.cur[id]%100 + 1 // 1..100, never the current value
	s.seq++
	seq := s.seq
	s.pending[id] = waiting{slot: slot, seq: seq, want: want}
	s.mu.Unlock()
	s.pub.send(s.base+"/"+id+"/brightness/set", strconv.AppendInt(nil, int64(want), 10), false)
	return seq, nil
}

// run drives the sets with spec; the window is at most one set per device.
func (s *setter) run(ctx context.Context, spec loadSpec) (loadResult, error) {
	spec.window = min(spec.window, len(s.ids))
	s.window, s.next = spec.window, make([]int, spec.window)
	res, err := drive(ctx, spec, s.start, s.dones)
	if err != nil {
		return res, fmt.Errorf("sets: %w", err)
	}
	return res, nil
}

// close disconnects both clients.
func (s *setter) close() {
	s.pub.close()
	s.sub.close()
}

// deviceOf returns the device id of <base>/<id>/<leaf>.
func deviceOf(topic, base, leaf string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, base+"/")
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, "/"+leaf)
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

// waitFor polls cond until it holds, ctx is done or timeout passed.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("not within %s", timeout)
		case <-tick.C:
		}
	}
	return nil
}
