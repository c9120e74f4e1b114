package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pidicon/pidicon-mqtt/state"
)

// subscribeCommands subscribes to the command topics. Retained messages
// that the broker delivers now are cleared and reported, never applied.
func (b *Bridge) subscribeCommands(ctx context.Context) {
	filters := make(map[string]byte)
	for _, f := range b.topics.commandFilters() {
		filters[f] = 1
	}
	if b.opts.HomeAssistant.Enabled && b.opts.HomeAssistant.StatusTopic != "" {
		filters[b.opts.HomeAssistant.StatusTopic] = 1
	}
	if err := subscribe(ctx, b.client, filters, 10*time.Second); err != nil && ctx.Err() == nil {
		b.log.Error("cannot subscribe to command topics; commands will not arrive until the next reconnect", "error", err)
	}
}

// onMessage is paho's handler for every message. It runs on paho's
// goroutine and must not block: it checks the message and hands it to Run's
// goroutine, or reports why not.
func (b *Bridge) onMessage(_ mqtt.Client, m mqtt.Message) {
	b.stats.received.Add(1)
	topic, payload := m.Topic(), m.Payload()
	if b.restoring.Load() && strings.HasPrefix(topic, b.opts.HomeAssistant.DiscoveryPrefix+"/") {
		b.recordFound(m)
		return
	}
	if topic == b.opts.HomeAssistant.StatusTopic {
		// Home Assistant (re)started; a retained "online" is old news: we
		// republish on every connection anyway.
		if !m.Retained() && strings.EqualFold(strings.TrimSpace(string(payload)), online) {
			b.requestRepublish()
		}
		return
	}
	p := b.topics.parse(topic)
	switch p.kind {
	case kindOther:
		return
	case kindSync:
		if string(payload) == b.opts.ClientID {
			select {
			case b.syncCh <- struct{}{}:
			default:
			}
		}
		return
	case kindState:
		if b.restoring.Load() {
			b.recordFound(m)
		}
		return
	}
	if len(payload) == 0 && b.ourClear(topic) {
		return
	}
	if m.Retained() {
		if len(payload) > 0 {
			b.clearRetained(topic)
			b.reject(p, topic, payload, ErrRetainedCommand)
		}
		return
	}
	if len(payload) > MaxPayload {
		b.reject(p, topic, payload, fmt.Errorf("payload is %d bytes; commands are at most %d bytes", len(payload), MaxPayload))
		return
	}
	c, err := b.check(p, topic, payload)
	if err != nil {
		b.reject(p, topic, payload, err)
		return
	}
	if c.kind == kindRequest {
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
		b.reject(p, topic, payload, errors.New("too many commands waiting; this one was dropped"))
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
func (b *Bridge) check(p parsed, topic string, payload []byte) (command, error) {
	c := command{kind: p.kind, device: p.device, topic: topic}
	if p.kind == kindRequest {
		if p.name != requestRepublish {
			return c, fmt.Errorf("unknown request %q (requests: %s)", p.name, requestRepublish)
		}
		return c, nil
	}
	d, ok := b.devices[p.device]
	if !ok {
		return c, fmt.Errorf("unknown device %q (devices: %s)", p.device, strings.Join(b.ids, ", "))
	}
	var err error
	switch p.kind {
	case kindGet:
		return c, nil
	case kindBadFieldSet:
		return c, fmt.Errorf("unknown field %q (fields: %s)", p.field, strings.Join(state.Fields(), ", "))
	case kindFieldSet:
		c.patch, err = state.ParseField(p.field, string(payload))
	case kindJSONSet:
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
func (b *Bridge) reject(p parsed, topic string, payload []byte, err error) {
	ev := newEvent(time.Now(), levelError, p.device, topic, payload, err)
	log := b.log
	if d, ok := b.devices[p.device]; ok {
		log = d.Controller.Logger()
	}
	if ok, suppressed := b.rejectLog.allow(time.Now()); ok {
		log.Warn("command rejected", "topic", topic, "error", err, "not_logged_since_last", suppressed)
	}
	b.event(ev)
}

// ReportRefused reports a retained command that the embedded broker
// refused; it is the broker's OnRefused callback.
func (b *Bridge) ReportRefused(clientID, topic string, payload []byte) {
	b.reject(b.topics.parse(topic), topic, payload, ErrRetainedCommand)
}

// clearEcho is how long the empty message of a clear is expected back; a
// clear that never went out (the connection dropped) is forgotten then, so
// a user's later empty set on that topic is reported as it should be.
const clearEcho = 10 * time.Second

// clearRetained deletes a retained command from the broker; the empty
// message that comes back to us is recognised as our own.
func (b *Bridge) clearRetained(topic string) {
	b.mu.Lock()
	b.clears[topic] = time.Now().Add(clearEcho)
	b.mu.Unlock()
	b.box.put(message{topic: topic, retain: true})
}

// ourClear reports whether an empty message on topic is the echo of our
// own clear, and forgets the clear.
func (b *Bridge) ourClear(topic string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.clears[topic]
	delete(b.clears, topic)
	return ok && time.Now().Before(until)
}

// apply carries out a checked command on Run's goroutine.
func (b *Bridge) apply(c command) {
	switch c.kind {
	case kindGet:
		b.publishDevice(c.device, state.Fields(), true)
	case kindFieldSet, kindJSONSet:
		d := b.devices[c.device]
		st, changed, err := b.opts.Store.Apply(c.device, c.patch, time.Now())
		if err != nil {
			b.log.Error("apply command", "device", c.device, "error", err)
			return
		}
		fields := c.patch.Present()
		if c.patch.ActiveScene != nil && c.patch.PlayState == nil {
			fields = append(fields, state.FieldPlayState)
		}
		d.Controller.Logger().Info("set", "fields", strings.Join(fields, ","), "changed", changed)
		if changed || c.patch.ActiveScene != nil {
			d.Controller.Desire(st, c.patch.ActiveScene != nil)
		}
		b.publishDevice(c.device, fields, false)
	}
}
