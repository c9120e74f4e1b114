package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// subscribeCommands subscribes to the command topics. Retained messages
// that the broker delivers now are cleared and reported, never applied.
func (b *Bridge) subscribeCommands(ctx context.Context) {
	filters := make(map[string]byte)
	for _, f := range b.topics.CommandFilters() {
		filters[f] = 1
	}
	if b.opts.HomeAssistant.Enabled && b.opts.HomeAssistant.StatusTopic != "" {
		filters[b.opts.HomeAssistant.StatusTopic] = 1
	}
	if err := subscribe(ctx, b.client, filters, 10*time.Second); err != nil && ctx.Err() == nil {
		b.log.Error("cannot subscribe to command topics; commands will not arrive until the next reconnect", logkey.Error, err)
	}
}

// onMessage is paho's handler for every message. It runs on paho's
// goroutine and must not block: it checks the message and hands it to Run's
// goroutine, or reports why not.
func (b *Bridge) onMessage(_ mqtt.Client, m mqtt.Message) {
	b.stats.received.Add(1)
	t, payload := m.Topic(), m.Payload()
	p := b.topics.Parse(t)
	if b.retained.take(m, b.topics.Bridge(topic.BridgeSync), p.IsCommand()) {
		return // for the read of retained messages in progress
	}
	if t == b.opts.HomeAssistant.StatusTopic {
		// Home Assistant (re)started; a retained "online" is old news: we
		// republish on every connection anyway.
		if !m.Retained() && strings.EqualFold(strings.TrimSpace(string(payload)), topic.Online) {
			b.requestRepublish()
		}
		return
	}
	if !p.IsCommand() {
		return // state, sync or another topic: only reads take those
	}
	if len(payload) == 0 && b.ourClear(t) {
		return
	}
	if m.Retained() {
		// A second subscription that matches the topic brings the same
		// retained command again while our clear is on its way: it was
		// reported once.
		if len(payload) > 0 && !b.clearing(t) {
			b.clearRetained(t)
			b.reject(p, t, payload, topic.ErrRetainedCommand)
		}
		return
	}
	if len(payload) > MaxPayload {
		b.reject(p, t, payload, fmt.Errorf("payload is %d bytes; commands are at most %d bytes", len(payload), MaxPayload))
		return
	}
	c, err := b.check(p, t, payload)
	if err != nil {
		b.reject(p, t, payload, err)
		return
	}
	if c.kind == topic.Request {
		b.requestRepublish() // many requests in a row are one republish
		return
	}
	// Under the read lock, so that once shutdown has taken the write lock
	// no accepted command can slip into the inbox after its last drain.
	b.takingMu.RLock()
	defer b.takingMu.RUnlock()
	if b.closing.Load() {
		return
	}
	select {
	case b.inbox <- c:
	default:
		b.reject(p, t, payload, errors.New("too many commands waiting; this one was dropped"))
	}
}

// requestRepublish asks Run's goroutine to republish everything; requests
// that come while one is pending are merged into it.
func (b *Bridge) requestRepublish() {
	select {
	case b.republishReq <- struct{}{}:
	default:
	}
}

// check turns a command message into a command, or says what is wrong.
func (b *Bridge) check(p topic.Parsed, t string, payload []byte) (command, error) {
	c := command{kind: p.Kind, device: p.Device, topic: t}
	if p.Kind == topic.Request {
		if p.Name != topic.RequestRepublish {
			return c, fmt.Errorf("unknown request %q (requests: %s)", p.Name, topic.RequestRepublish)
		}
		return c, nil
	}
	d, ok := b.devices[p.Device]
	if !ok {
		return c, fmt.Errorf("unknown device %q (devices: %s)", p.Device, strings.Join(b.ids, ", "))
	}
	var err error
	switch p.Kind {
	case topic.GetRequest:
		return c, nil
	case topic.BadFieldSet:
		return c, fmt.Errorf("unknown field %q (fields: %s)", p.Field, strings.Join(state.Fields(), ", "))
	case topic.FieldSet:
		c.patch, err = state.ParseField(p.Field, string(payload))
	case topic.JSONSet:
		c.patch, err = state.ParsePatch(payload)
	}
	if err != nil {
		return c, err
	}
	if c.patch.ActiveScene != nil {
		if err := d.Controller.CheckScene(*c.patch.ActiveScene); err != nil {
			return c, err
		}
	}
	return c, nil
}

// reject reports a refused message on bridge/event and in the log.
func (b *Bridge) reject(p topic.Parsed, t string, payload []byte, err error) {
	ev := event.New(time.Now(), event.LevelError, p.Device, t, payload, err)
	log := b.log
	if d, ok := b.devices[p.Device]; ok {
		log = d.Controller.Logger()
	}
	if ok, suppressed := b.rejectLog.Allow(time.Now()); ok {
		log.Warn("command rejected", logkey.Topic, t, logkey.Error, err, logkey.NotLoggedSince, suppressed)
	}
	b.opts.Events.Report(ev)
}

// clearEcho is how long the empty message of a clear is expected back; a
// clear that never went out (the connection dropped) is forgotten then, so
// a user's later empty set on that topic is reported as it should be.
const clearEcho = 10 * time.Second

// clearRetained deletes a retained command from the broker; the empty
// message that comes back to us is recognised as our own.
func (b *Bridge) clearRetained(t string) {
	b.mu.Lock()
	b.clears[t] = time.Now().Add(clearEcho)
	b.mu.Unlock()
	b.box.put(message{topic: t, retain: true})
}

// clearing reports whether a clear of topic t is on its way.
func (b *Bridge) clearing(t string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.clears[t]
	return ok && time.Now().Before(until)
}

// ourClear reports whether an empty message on topic is the echo of our
// own clear, and forgets the clear.
func (b *Bridge) ourClear(t string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.clears[t]
	delete(b.clears, t)
	return ok && time.Now().Before(until)
}

// apply carries out a checked command on Run's goroutine.
func (b *Bridge) apply(c command) {
	switch c.kind {
	case topic.GetRequest:
		b.publishDevice(c.device, state.Fields(), true)
	case topic.FieldSet, topic.JSONSet:
		d := b.devices[c.device]
		st, changed, err := b.opts.Store.Apply(c.device, c.patch, time.Now())
		if err != nil {
			b.log.Error("apply command", logkey.Device, c.device, logkey.Error, err)
			return
		}
		fields := c.patch.Present()
		if c.patch.ActiveScene != nil && c.patch.PlayState == nil {
			fields = append(fields, state.FieldPlayState)
		}
		d.Controller.Logger().Info("set", logkey.Fields, strings.Join(fields, ","), logkey.Changed, changed)
		if changed || c.patch.ActiveScene != nil {
			d.Controller.Desire(st, c.patch.ActiveScene != nil)
		}
		b.publishDevice(c.device, fields, false)
	}
}
