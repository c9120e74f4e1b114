package bridge

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// InputRecorder takes the messages of the topics that scene files read
// (userscene.Inputs) and reports whether a value changed. It is called
// from paho's goroutine and must return quickly.
type InputRecorder interface {
	Record(topic string, payload []byte, retained bool) bool
}

// inputRetry is how long a failed input subscription waits to be tried
// again.
const inputRetry = 5 * time.Second

// inputs are the topics the displays' scenes read now and which
// displays read each (CONTRACT §8: the daemon subscribes to the inputs of
// the scenes on some display). Run's goroutine sets them; runInputs
// subscribes and unsubscribes; paho's goroutine reads them to route a
// message.
type inputs struct {
	mu      sync.Mutex
	readers map[string][]string // topic -> ids of the displays whose scene reads it
	resub   bool                // a new connection: subscribe to all again
	wake    chan struct{}       // capacity 1
}

// updateInputs works out the topics the active scenes read and hands them
// to runInputs. Topics the daemon subscribes to for itself (commands,
// bridge topics, Home Assistant's status) are left out: a second
// subscription to them would deliver commands twice or replace ours.
func (b *Bridge) updateInputs() {
	if b.opts.Inputs == nil {
		return
	}
	readers := make(map[string][]string)
	for _, id := range b.ids {
		st, ok := b.opts.Store.Get(id)
		if !ok {
			continue
		}
		d := b.devices[id]
		sc, ok := d.Controller.Scene(st.ActiveScene)
		if !ok {
			continue
		}
		for _, in := range sc.Inputs {
			if b.ownTopic(in.Topic) {
				if !b.warnedInput[in.Topic] {
					b.warnedInput[in.Topic] = true
					d.Controller.Logger().Warn("a scene input is one of the daemon's own command or bridge topics; it is not read",
						logkey.Scene, sc.Name, logkey.Topic, in.Topic)
				}
				continue
			}
			if !slices.Contains(readers[in.Topic], id) {
				readers[in.Topic] = append(readers[in.Topic], id)
			}
		}
	}
	b.in.mu.Lock()
	b.in.readers = readers
	b.in.mu.Unlock()
	b.in.poke()
}

// ownTopic reports whether t is a topic the daemon subscribes to for
// itself.
func (b *Bridge) ownTopic(t string) bool {
	if _, compat := b.compatAddress(t); compat || b.topics.IsCommand(t) {
		return true
	}
	return t == b.opts.HomeAssistant.StatusTopic || strings.HasPrefix(t, b.topics.Bridge(topic.BridgeID)+"/")
}

func (in *inputs) poke() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// resubscribe asks runInputs to subscribe to every input again: a new
// connection may have lost them.
func (in *inputs) resubscribe() {
	in.mu.Lock()
	in.resub = true
	in.mu.Unlock()
	in.poke()
}

// take returns the topics wanted now and whether to subscribe to all.
func (in *inputs) take() (map[string]bool, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	want := make(map[string]bool, len(in.readers))
	for t := range in.readers {
		want[t] = true
	}
	resub := in.resub
	in.resub = false
	return want, resub
}

// inputMessage records a message of an input topic and has the displays
// that read it draw again; it reports whether t is an input topic.
func (b *Bridge) inputMessage(m mqtt.Message) bool {
	if b.opts.Inputs == nil {
		return false
	}
	b.in.mu.Lock()
	ids := b.in.readers[m.Topic()]
	b.in.mu.Unlock()
	if len(ids) == 0 {
		return false
	}
	if b.opts.Inputs.Record(m.Topic(), m.Payload(), m.Retained()) {
		for _, id := range ids {
			b.devices[id].Controller.Redraw()
		}
	}
	return true
}

// runInputs keeps the broker's subscriptions to input topics equal to
// the topics wanted, until ctx is done. It is the only goroutine that
// subscribes to or unsubscribes from them, so Run's goroutine never waits
// for the broker.
func (b *Bridge) runInputs(ctx context.Context) {
	held := make(map[string]bool) // topics the broker may hold for us
	retry := time.NewTimer(time.Hour)
	retry.Stop() // armed only after a failure
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.in.wake:
		case <-retry.C:
		}
		want, resub := b.in.take()
		if !b.client.IsConnectionOpen() {
			continue // the next connection resubscribes
		}
		if !b.syncInputs(ctx, want, held, resub) && ctx.Err() == nil {
			if resub {
				b.in.resubscribe() // not done: again at the retry
			}
			retry.Reset(inputRetry)
		}
	}
}

// syncInputs subscribes to the topics of want not held (all of them if
// resub) and unsubscribes from those held but not wanted; it reports
// whether both worked.
func (b *Bridge) syncInputs(ctx context.Context, want, held map[string]bool, resub bool) bool {
	add := make(map[string]byte)
	for t := range want {
		if resub || !held[t] {
			add[t] = 0 // QoS 0: readings, not commands; retained values still come at once
		}
	}
	var drop []string
	for t := range held {
		if !want[t] {
			drop = append(drop, t)
		}
	}
	ok := true
	if len(add) > 0 {
		if err := subscribe(ctx, b.client, add, 10*time.Second); err != nil {
			if ctx.Err() == nil {
				b.log.Warn("cannot subscribe to scene inputs; trying again", logkey.Topics, strings.Join(slices.Sorted(maps.Keys(add)), ", "), logkey.Error, err)
			}
			ok = false
		} else {
			for t := range add {
				held[t] = true
			}
			b.log.Debug("subscribed to scene inputs", logkey.Topics, strings.Join(slices.Sorted(maps.Keys(add)), ", "))
		}
	}
	if len(drop) > 0 {
		slices.Sort(drop)
		if err := await(ctx, b.client.Unsubscribe(drop...), 10*time.Second); err != nil {
			if ctx.Err() == nil {
				b.log.Warn("cannot unsubscribe from scene inputs; trying again", logkey.Topics, strings.Join(drop, ", "), logkey.Error, err)
			}
			ok = false
		} else {
			for _, t := range drop {
				delete(held, t)
			}
			b.log.Debug("unsubscribed from scene inputs", logkey.Topics, strings.Join(drop, ", "))
		}
	}
	return ok
}
