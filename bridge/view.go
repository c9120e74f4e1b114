package bridge

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Update is a retained topic of the daemon and its payload now; an empty
// payload means the topic was cleared.
type Update struct {
	Topic   string
	Payload []byte
}

// view is the daemon's own copy of every retained topic it publishes under
// its base topic, for readers that are not MQTT clients (the web page): it
// works with any broker, and a reader that connects gets it all at once.
type view struct {
	mu       sync.Mutex
	topics   map[string][]byte
	watchers map[int]func(Update)
	list     []func(Update) // the watchers, made again when they change
	next     int
}

// set records the payload of t and tells the watchers if it changed.
func (v *view) set(t string, payload []byte) {
	v.mu.Lock()
	if v.topics == nil {
		v.topics = make(map[string][]byte)
	}
	old, had := v.topics[t]
	if had && bytes.Equal(old, payload) {
		v.mu.Unlock()
		return
	}
	if len(payload) == 0 {
		delete(v.topics, t)
	} else {
		v.topics[t] = payload
	}
	watchers := v.list
	v.mu.Unlock()
	for _, f := range watchers {
		f(Update{Topic: t, Payload: payload})
	}
}

// View returns every retained topic the daemon publishes under its base
// topic, as it is now, sorted by topic. Payloads must not be changed.
func (b *Bridge) View() []Update {
	b.view.mu.Lock()
	defer b.view.mu.Unlock()
	out := make([]Update, 0, len(b.view.topics))
	for _, t := range slices.Sorted(maps.Keys(b.view.topics)) {
		out = append(out, Update{Topic: t, Payload: b.view.topics[t]})
	}
	return out
}

// Watch calls f with every change of a retained topic under the base topic
// from now on, until the returned func is called. f is called from the
// daemon's goroutines and must not block (queue, or drop).
func (b *Bridge) Watch(f func(Update)) (cancel func()) {
	b.view.mu.Lock()
	defer b.view.mu.Unlock()
	if b.view.watchers == nil {
		b.view.watchers = make(map[int]func(Update))
	}
	id := b.view.next
	b.view.next++
	b.view.watchers[id] = f
	b.view.list = slices.Collect(maps.Values(b.view.watchers))
	return func() {
		b.view.mu.Lock()
		defer b.view.mu.Unlock()
		delete(b.view.watchers, id)
		b.view.list = slices.Collect(maps.Values(b.view.watchers))
	}
}

// viewed records a retained publish in the view, if it is under the base
// topic.
func (b *Bridge) viewed(t string, payload []byte) {
	if strings.HasPrefix(t, b.topics.Base+"/") {
		b.view.set(t, payload)
	}
}
