package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pidicon/pidicon-mqtt/device/picture"
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
	if b.opts.Compat.Pidicon {
		filters[b.compatFilter()] = 1
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
	if b.inputMessage(m) {
		return
	}
	if t == b.opts.HomeAssistant.StatusTopic {
		// Home Assistant (re)started; a retained "online" is old news: we
		// republish on every connection anyway.
		if !m.Retained() && strings.EqualFold(strings.TrimSpace(string(payload)), topic.Online) {
			b.requestRepublish()
		}
		return
	}
	if ip, ok := b.compatAddress(t); ok {
		p = topic.Parsed{Kind: topic.JSONSet, Device: ip}
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
	b.command(p, t, payload, nil)
}

// ErrShuttingDown refuses a command that comes while the daemon stops.
var ErrShuttingDown = errors.New("the daemon is shutting down: the command was not applied")

// Submit checks and carries out a command as if it had arrived on topic
// t, not retained: the same checks, state, events and acknowledgements as
// over MQTT. It returns once the command is done, with the reason it was
// refused, if it was. The web page sends its commands through it, so it
// works with any broker.
func (b *Bridge) Submit(ctx context.Context, t string, payload []byte) error {
	p := b.topics.Parse(t)
	if _, compat := b.compatAddress(t); !p.IsCommand() && !compat {
		return fmt.Errorf("%s is not a command topic", t)
	}
	reply := make(chan error, 1)
	b.command(p, t, payload, reply)
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// command checks a command message and hands it to Run's goroutine, or
// reports why not; reply, if not nil, gets the outcome once the command is
// done.
func (b *Bridge) command(p topic.Parsed, t string, payload []byte, reply chan<- error) {
	refuse := func(err error) {
		b.reject(p, t, payload, err)
		if reply != nil {
			reply <- err
		}
	}
	if limit := maxPayload(p); len(payload) > limit {
		refuse(fmt.Errorf("payload is %d bytes; commands are at most %d bytes on this topic", len(payload), limit))
		return
	}
	var c command
	var err error
	if ip, ok := b.compatAddress(t); ok {
		c, err = b.checkCompat(ip, t, payload)
		p.Device = c.device
	} else {
		c, err = b.check(p, t, payload)
	}
	if err != nil {
		refuse(err)
		return
	}
	c.reply = reply
	if c.kind == topic.Request && c.image == "" {
		b.requestRepublish() // many requests in a row are one republish
		c.done(nil)
		return
	}
	// Under the read lock, so that once shutdown has taken the write lock
	// no accepted command can slip into the inbox after its last drain.
	b.takingMu.RLock()
	defer b.takingMu.RUnlock()
	if b.closing.Load() {
		c.done(ErrShuttingDown)
		return
	}
	select {
	case b.inbox <- c:
	default:
		refuse(errors.New("too many commands waiting; this one was dropped"))
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

// maxPayload is the largest payload the command topic takes: an image
// upload its file, a notification its inline image, the others
// MaxPayload.
func maxPayload(p topic.Parsed) int {
	switch {
	case p.Kind == topic.Request && strings.HasPrefix(p.Name, topic.RequestImage):
		return picture.MaxUpload
	case p.Kind == topic.NotifyRequest:
		return MaxNotifyPayload
	}
	return MaxPayload
}

// check turns a command message into a command, or says what is wrong.
func (b *Bridge) check(p topic.Parsed, t string, payload []byte) (command, error) {
	c := command{kind: p.Kind, device: p.Device, topic: t, payload: payload}
	if p.Kind == topic.Request {
		switch {
		case p.Name == topic.RequestRepublish:
			return c, nil
		case strings.HasPrefix(p.Name, topic.RequestImage):
			return b.checkImageRequest(c, strings.TrimPrefix(p.Name, topic.RequestImage), payload)
		}
		return c, fmt.Errorf("unknown request %q (requests: %s, %s<name>)", p.Name, topic.RequestRepublish, topic.RequestImage)
	}
	if p.Kind == topic.NotifyRequest && p.Device == "" {
		return b.checkNotification(c, payload) // bridge/notify: every display
	}
	d, ok := b.devices[p.Device]
	if !ok {
		return c, fmt.Errorf("unknown device %q (devices: %s)", p.Device, strings.Join(b.ids, ", "))
	}
	var err error
	switch p.Kind {
	case topic.GetRequest:
		return c, nil
	case topic.NotifyRequest:
		return b.checkNotification(c, payload)
	case topic.DismissRequest:
		c.dismiss = strings.TrimSpace(string(payload))
		return c, nil
	case topic.RebootRequest:
		return b.checkReboot(c, d)
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
		// The event's topic and error: cut where they would repeat a huge topic.
		log.Warn("command rejected", logkey.Topic, ev.Topic, logkey.Error, ev.Error, logkey.NotLoggedSince, suppressed)
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
		c.done(nil)
	case topic.NotifyRequest, topic.DismissRequest:
		c.done(b.applyNotification(c))
	case topic.Request:
		b.submitImage(c) // done by the image goroutine
	case topic.RebootRequest:
		b.applyReboot(c) // done by the display's goroutine
	case topic.FieldSet, topic.JSONSet:
		d := b.devices[c.device]
		patch, err := b.checkParams(d, c.patch)
		if err != nil {
			b.reject(topic.Parsed{Kind: c.kind, Device: c.device}, c.topic, c.payload, err)
			c.done(err)
			return
		}
		st, changed, err := b.opts.Store.Apply(c.device, patch, time.Now())
		if err != nil {
			b.log.Error("apply command", logkey.Device, c.device, logkey.Error, err)
			c.done(err)
			return
		}
		fields := patch.Present()
		if patch.ActiveScene != nil && patch.PlayState == nil {
			fields = append(fields, state.FieldPlayState)
		}
		if patch.ActiveScene != nil && patch.SceneParams == nil {
			fields = append(fields, state.FieldSceneParams)
		}
		d.Controller.Logger().Info("set", logkey.Fields, strings.Join(fields, ","), logkey.Changed, changed)
		if changed || patch.ActiveScene != nil {
			d.Controller.Desire(st, patch.ActiveScene != nil)
		}
		if patch.ActiveScene != nil {
			delete(b.missing, c.device)
			b.updateInputs()
		}
		b.publishDevice(c.device, fields, false)
		c.done(nil)
	}
}

// checkParams checks the scene parameters a set gives, or that a scene
// set without them can start with its defaults, against the scene being
// set or the one running, and writes them in canonical form. It runs on
// Run's goroutine, so the scene running is the one of every set before.
func (b *Bridge) checkParams(d *Device, p state.Patch) (state.Patch, error) {
	if p.ActiveScene == nil && p.SceneParams == nil {
		return p, nil
	}
	cur, _ := b.opts.Store.Get(d.ID)
	name, params := cur.ActiveScene, cur.SceneParams
	if p.ActiveScene != nil {
		name, params = *p.ActiveScene, state.NoParams
	}
	if p.SceneParams != nil {
		params = *p.SceneParams
	}
	canonical, err := d.Controller.CheckParams(name, params)
	if err != nil {
		return p, err
	}
	if p.SceneParams != nil {
		p.SceneParams = &canonical
	}
	return p, nil
}
