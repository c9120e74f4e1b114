package bridge

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/state"
)

// MaxPayload is the largest command payload accepted, in bytes.
const MaxPayload = 16 * 1024

// inboxSize bounds the commands accepted but not yet applied.
const inboxSize = 1024

// Options configure a Bridge.
type Options struct {
	// URL is the broker: tcp://, ssl://, tls://, ws:// or wss://.
	URL string
	// BaseTopic is the first level of every topic (e.g. "pidicon").
	BaseTopic string
	// ClientID is the MQTT client id; stable, so the broker keeps the session.
	ClientID string
	// Username and Password log in to the broker, if set.
	Username, Password string
	// TLS configures ssl://, tls:// and wss:// connections.
	TLS *tls.Config
	// RestoreWait bounds the wait for the broker's retained state at the
	// first connection.
	RestoreWait time.Duration
	// Version is the daemon's version, published in bridge/info.
	Version string
	// Logger receives the bridge's logs.
	Logger *slog.Logger
	// Store holds the devices' state.
	Store *state.Store
	// File is the state file as read at start-up, or nil.
	File *state.Document
	// Devices are the configured devices, in config order.
	Devices []Device
	// Flush writes the state file now; called at shutdown, after the last
	// command and before bridge/state goes offline.
	Flush func(context.Context) error
	// HomeAssistant configures MQTT discovery.
	HomeAssistant HomeAssistant
}

// Device is one configured display.
type Device struct {
	ID   string
	Name string
	// Type is the config's device type (pixoo64, awtrix, sim, ...).
	Type string
	// Host is the device's address from the config, used to claim an entry
	// of an original pidicon state file keyed by IP address.
	Host string
	// Defaults is the state used when nothing is restored.
	Defaults   state.State
	Controller *device.Controller
}

// Bridge connects the devices to MQTT. Create it with New and call Run.
type Bridge struct {
	opts    Options
	log     *slog.Logger
	topics  topics
	devices map[string]*Device
	ids     []string // config order
	box     *outbox
	client  mqtt.Client

	inbox     chan command
	connected chan struct{} // capacity 1: "a connection came up"
	closing   atomic.Bool   // shutdown began: take no more commands

	restoring atomic.Bool
	syncCh    chan struct{} // our sync message came back

	mu      sync.Mutex
	found   map[string][]byte // retained state and discovery topics seen at start-up
	last    map[string][]byte // transient retained topics (availability, metrics, frame)
	clears  map[string]int    // set topics we cleared; their empty echo is ours
	sources map[string]state.Source

	stats stats // counters and readiness for Stats and Ready (stats.go)
}

// command is a checked message for the bridge's goroutine.
type command struct {
	kind   kind
	device string
	topic  string
	patch  state.Patch
}

// New returns a bridge for opts.
func New(opts Options) *Bridge {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RestoreWait <= 0 {
		opts.RestoreWait = time.Second
	}
	if opts.HomeAssistant.DiscoveryPrefix == "" {
		opts.HomeAssistant.DiscoveryPrefix = "homeassistant"
	}
	if opts.HomeAssistant.StatusTopic == "" {
		opts.HomeAssistant.StatusTopic = opts.HomeAssistant.DiscoveryPrefix + "/status"
	}
	b := &Bridge{
		opts:      opts,
		log:       opts.Logger,
		topics:    topics{base: opts.BaseTopic},
		devices:   make(map[string]*Device),
		box:       newOutbox(),
		inbox:     make(chan command, inboxSize),
		connected: make(chan struct{}, 1),
		syncCh:    make(chan struct{}, 1),
		last:      make(map[string][]byte),
		clears:    make(map[string]int),
		sources:   make(map[string]state.Source),
	}
	for i := range opts.Devices {
		d := &opts.Devices[i]
		b.devices[d.ID] = d
		b.ids = append(b.ids, d.ID)
	}
	return b
}

// Run restores state, runs the device controllers and serves MQTT until ctx
// is done, then shuts down in the contract's order: stop taking commands,
// flush the state file, publish bridge/state offline, disconnect.
func (b *Bridge) Run(ctx context.Context) error {
	b.startFromFile()

	ctrlCtx, stopCtrls := context.WithCancel(context.WithoutCancel(ctx))
	var ctrls sync.WaitGroup
	for _, id := range b.ids {
		c := b.devices[id].Controller
		ctrls.Go(func() { c.Run(ctrlCtx, b) })
	}
	defer func() {
		stopCtrls()
		ctrls.Wait()
	}()

	b.client = mqtt.NewClient(b.clientOptions())
	b.stats.setClient(b.client)
	pub := &publisher{
		client:    b.client,
		box:       b.box,
		onError:   func(topic string, err error) { b.log.Debug("publish failed", "topic", topic, "error", err) },
		published: &b.stats.published,
		onDrop: func(n int) {
			b.log.Warn("events dropped: the broker connection is too slow", "dropped", n)
		},
	}
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		pub.run(pubCtx)
	}()

	b.log.Info("connecting to MQTT broker", "url", b.opts.URL, "client_id", b.opts.ClientID)
	b.client.Connect() // retries in the background; OnConnect tells us
	warn := time.NewTimer(5 * time.Second)
	defer warn.Stop()

	restored := false
	var inbox chan command // nil (blocked) until state is restored
	for {
		select {
		case <-ctx.Done():
			stopPub()
			<-pubDone
			return b.shutdown(pub, inbox)
		case <-warn.C:
			if !b.client.IsConnectionOpen() {
				b.log.Warn("MQTT broker not reachable yet; still trying", "url", b.opts.URL)
				warn.Reset(time.Minute)
			}
		case <-b.connected:
			b.log.Info("connected to MQTT broker", "url", b.opts.URL)
			if !restored {
				b.restoreFromBroker(ctx)
				restored, inbox = true, b.inbox
				b.stats.restored.Store(true)
			}
			b.subscribeCommands(ctx)
			b.republishAll()
		case c := <-inbox:
			b.apply(c)
		}
	}
}

func (b *Bridge) clientOptions() *mqtt.ClientOptions {
	o := mqtt.NewClientOptions().
		AddBroker(b.opts.URL).
		SetClientID(b.opts.ClientID).
		SetCleanSession(false).
		SetStore(newResendStore()).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(30*time.Second).
		SetKeepAlive(30*time.Second).
		SetPingTimeout(10*time.Second).
		SetConnectTimeout(5*time.Second).
		SetWriteTimeout(5*time.Second).
		SetWill(b.topics.bridge(bridgeState), offline, 1, true).
		SetDefaultPublishHandler(b.onMessage).
		SetConnectionNotificationHandler(b.onConnectionNotification).
		SetOnConnectHandler(func(mqtt.Client) {
			select {
			case b.connected <- struct{}{}:
			default:
			}
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			b.log.Warn("lost the MQTT broker; reconnecting", "error", err)
		})
	if b.opts.Username != "" {
		o.SetUsername(b.opts.Username)
		o.SetPassword(b.opts.Password)
	}
	if b.opts.TLS != nil {
		o.SetTLSConfig(b.opts.TLS)
	}
	return o
}

// startFromFile puts each device's state from the file (or its defaults)
// into the store and the controller, so the hardware is driven even before
// the broker answers.
func (b *Bridge) startFromFile() {
	claimed := make(map[string]bool)
	counts := make(map[state.Source]int)
	for _, id := range b.ids {
		d := b.devices[id]
		var file *state.Entry
		for _, key := range []string{id, hostIP(d.Host)} {
			if e, ok := b.opts.File.Entry(key); ok && key != "" {
				file = &e
				claimed[key] = true
				if key != id {
					b.log.Info("state file entry claimed by host address", "device", id, "key", key)
				}
				break
			}
		}
		st, src := state.Restore(d.Defaults, file, nil)
		st = b.checkScene(d, st)
		b.sources[id] = src
		counts[src]++
		b.opts.Store.Put(id, st)
		d.Controller.Desire(st, false)
	}
	if b.opts.File != nil {
		kept := make(map[string]json.RawMessage)
		for key, raw := range b.opts.File.Raw {
			if !claimed[key] {
				kept[key] = raw
			}
		}
		if len(kept) > 0 {
			b.opts.Store.Keep(kept)
			b.log.Warn("state file holds entries that no configured device claims; they are kept in the file",
				"entries", strings.Join(sortedKeys(kept), ", "))
		}
	}
	b.log.Info("state read from the file", "from_file", counts[state.FromFile], "from_defaults", counts[state.FromDefaults])
}

// checkScene replaces a scene the device cannot show with its default.
func (b *Bridge) checkScene(d *Device, st state.State) state.State {
	if err := d.Controller.CheckScene(st.ActiveScene); err != nil {
		b.log.Warn("restored scene cannot run; using the startup scene", "device", d.ID,
			"scene", st.ActiveScene, "startup_scene", d.Defaults.ActiveScene, "error", err)
		st.ActiveScene = d.Defaults.ActiveScene
	}
	return st
}

// restoreFromBroker reads the retained state topics once, at the first
// connection, and takes each device's broker state where it is newer than
// what the file gave. It waits until the broker has sent every retained
// state (a sync message we publish after subscribing comes back behind
// them) or RestoreWait passed.
func (b *Bridge) restoreFromBroker(ctx context.Context) {
	start := time.Now()
	deadline := time.NewTimer(b.opts.RestoreWait)
	defer deadline.Stop()
	filter := b.topics.base + "/+/" + topicState
	syncTopic := b.topics.bridge(bridgeSync)
	b.mu.Lock()
	b.found = make(map[string][]byte)
	b.mu.Unlock()
	b.restoring.Store(true)
	synced := false
	subCtx, cancel := context.WithTimeout(ctx, b.opts.RestoreWait)
	// QoS 0 throughout: the broker then sends the retained messages and
	// our sync message behind them in order, without the per-client limits
	// on QoS 1 deliveries (mosquitto: 20 in flight, 1,000 queued, the rest
	// dropped) that would let the sync overtake or lose retained state.
	err := subscribe(subCtx, b.client, map[string]byte{filter: 0, b.discoveryFilter(): 0, syncTopic: 0}, b.opts.RestoreWait)
	cancel()
	if err != nil {
		b.log.Warn("cannot read the broker's retained state; going on with the file's", "error", err)
	} else {
		b.client.Publish(syncTopic, 0, false, b.opts.ClientID)
	}
	// paho calls the handler in arrival order, so when the sync message is
	// handled every retained message before it has been recorded.
	select {
	case <-b.syncCh:
		synced = true
	case <-deadline.C:
	case <-ctx.Done():
	}
	b.restoring.Store(false)
	b.mu.Lock()
	got := b.found
	b.found = nil
	b.mu.Unlock()
	b.client.Unsubscribe(filter, b.discoveryFilter(), syncTopic)

	fromBroker := 0
	var configs, seen []string
	for _, topic := range sortedKeys(got) {
		payload := got[topic]
		p := b.topics.parse(topic)
		if p.kind != kindState {
			configs = append(configs, topic) // a discovery config
			continue
		}
		seen = append(seen, p.device)
		d, ok := b.devices[p.device]
		if !ok {
			continue
		}
		bs, err := state.ParseStateJSON(payload)
		if err == nil {
			err = bs.Validate()
		}
		if err != nil {
			b.event(newEvent(time.Now(), levelWarning, d.ID, topic, payload,
				fmt.Errorf("retained state on the broker ignored: %w", err)))
			continue
		}
		cur, _ := b.opts.Store.Get(d.ID)
		if !bs.Timestamp.After(cur.Timestamp) {
			continue
		}
		bs = b.checkScene(d, bs)
		b.opts.Store.Put(d.ID, bs)
		d.Controller.Desire(bs, false)
		b.sources[d.ID] = state.FromBroker
		fromBroker++
	}
	// A device that came from its defaults gets its first timestamp now.
	now := time.Now()
	counts := make(map[state.Source]int)
	for _, id := range b.ids {
		counts[b.sources[id]]++
		if st, _ := b.opts.Store.Get(id); st.Timestamp.IsZero() {
			st.Timestamp = now
			b.opts.Store.Put(id, st)
		}
	}
	b.clearStale(configs, seen)
	b.log.Info("state restored (newest of file and broker wins)",
		"from_file", counts[state.FromFile], "from_broker", counts[state.FromBroker],
		"from_defaults", counts[state.FromDefaults], "retained_seen", len(got),
		"complete", synced, "took", time.Since(start).Round(time.Millisecond))
}

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
		if !m.Retained() && strings.EqualFold(strings.TrimSpace(string(payload)), online) && !b.closing.Load() {
			select {
			case b.inbox <- command{kind: kindBirth, topic: topic}:
			default:
			}
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
	if b.closing.Load() {
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
	select {
	case b.inbox <- c:
	default:
		b.reject(p, topic, payload, errors.New("too many commands waiting; this one was dropped"))
	}
}

// recordFound keeps a retained message seen while restoring.
func (b *Bridge) recordFound(m mqtt.Message) {
	if !m.Retained() || len(m.Payload()) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.found != nil {
		b.found[m.Topic()] = m.Payload()
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
	log.Warn("command rejected", "topic", topic, "error", err)
	b.event(ev)
}

// ReportRefused reports a retained command that the embedded broker
// refused; it is the broker's OnRefused callback.
func (b *Bridge) ReportRefused(clientID, topic string, payload []byte) {
	b.reject(b.topics.parse(topic), topic, payload, ErrRetainedCommand)
}

func (b *Bridge) event(e Event) {
	b.box.put(message{topic: b.topics.bridge(bridgeEvent), payload: e.json()})
}

// clearRetained deletes a retained command from the broker; the empty
// message that comes back to us is recognised as our own.
func (b *Bridge) clearRetained(topic string) {
	b.mu.Lock()
	b.clears[topic]++
	b.mu.Unlock()
	b.box.put(message{topic: topic, retain: true})
}

func (b *Bridge) ourClear(topic string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.clears[topic] == 0 {
		return false
	}
	b.clears[topic]--
	if b.clears[topic] == 0 {
		delete(b.clears, topic)
	}
	return true
}

// apply carries out a checked command on Run's goroutine.
func (b *Bridge) apply(c command) {
	switch c.kind {
	case kindRequest:
		b.log.Info("republishing everything on request")
		b.republishAll()
	case kindBirth:
		b.log.Info("Home Assistant started: republishing discovery and state")
		b.republishAll()
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

// publishDevice publishes the given field topics and the state topic of a
// device, and its availability if asked.
func (b *Bridge) publishDevice(id string, fields []string, availability bool) {
	st, ok := b.opts.Store.Get(id)
	if !ok {
		return
	}
	for _, f := range fields {
		b.retain(b.topics.device(id, f), []byte(st.Value(f)))
	}
	js, err := json.Marshal(st)
	if err == nil {
		b.retain(b.topics.device(id, topicState), js)
	}
	if availability {
		b.mu.Lock()
		av, ok := b.last[b.topics.device(id, topicAvailability)]
		b.mu.Unlock()
		if ok {
			b.retain(b.topics.device(id, topicAvailability), av)
		}
	}
}

func (b *Bridge) retain(topic string, payload []byte) {
	b.box.put(message{topic: topic, payload: payload, retain: true})
}

// republishAll publishes every retained topic: discovery configs, each
// device's state, availability, metrics and frame, bridge/info, then
// bridge/state online.
func (b *Bridge) republishAll() {
	b.publishDiscovery()
	for _, id := range b.ids {
		b.publishDevice(id, state.Fields(), false)
	}
	b.mu.Lock()
	last := make(map[string][]byte, len(b.last))
	for k, v := range b.last {
		last[k] = v
	}
	b.mu.Unlock()
	for _, topic := range sortedKeys(last) {
		b.retain(topic, last[topic])
	}
	b.retain(b.topics.bridge(bridgeInfo), b.info())
	b.retain(b.topics.bridge(bridgeState), []byte(online))
}

// info is the payload of bridge/info.
func (b *Bridge) info() []byte {
	type dev struct {
		ID     string   `json:"id"`
		Name   string   `json:"name"`
		Type   string   `json:"type"`
		Scenes []string `json:"scenes"`
	}
	out := struct {
		Version string   `json:"version"`
		Devices []dev    `json:"devices"`
		Scenes  []string `json:"scenes"`
	}{Version: b.opts.Version, Devices: []dev{}}
	var all []string
	for _, id := range b.ids {
		d := b.devices[id]
		scenes := d.Controller.Scenes()
		out.Devices = append(out.Devices, dev{ID: d.ID, Name: d.Name, Type: d.Type, Scenes: scenes})
		for _, s := range scenes {
			if !slices.Contains(all, s) {
				all = append(all, s)
			}
		}
	}
	out.Scenes = all
	js, _ := json.Marshal(out)
	return js
}

// shutdown stops taking commands, applies those already accepted, flushes
// the state file, publishes bridge/state offline and disconnects.
func (b *Bridge) shutdown(pub *publisher, inbox chan command) error {
	b.closing.Store(true)
	b.log.Info("shutting down")
	for inbox != nil {
		select {
		case c := <-inbox:
			b.apply(c)
			continue
		default:
		}
		break
	}
	var errs []error
	if b.opts.Flush != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := b.opts.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flush state: %w", err))
		}
		cancel()
	}
	b.retain(b.topics.bridge(bridgeState), []byte(offline))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pub.sendQueued(ctx)
	pub.drain(ctx)
	b.client.Disconnect(250)
	return errors.Join(errs...)
}

// Availability implements device.Observer.
func (b *Bridge) Availability(id string, on bool) {
	v := offline
	if on {
		v = online
	}
	b.stats.setOnline(id, on)
	b.transient(b.topics.device(id, topicAvailability), []byte(v))
}

// Metrics implements device.Observer.
func (b *Bridge) Metrics(id string, m device.Metrics) {
	b.stats.setMetrics(id, m)
	js, err := json.Marshal(m)
	if err != nil {
		return
	}
	b.transient(b.topics.device(id, topicMetrics), js)
}

// Frame implements device.Observer.
func (b *Bridge) Frame(id string, png []byte) {
	b.transient(b.topics.device(id, topicFrame), png)
}

// Fault implements device.Observer.
func (b *Bridge) Fault(id string, err error) {
	b.event(newEvent(time.Now(), levelError, id, b.topics.device(id, topicAvailability), nil, err))
}

// transient publishes a retained topic that is not persisted, and keeps it
// for republishing.
func (b *Bridge) transient(topic string, payload []byte) {
	b.mu.Lock()
	b.last[topic] = payload
	b.mu.Unlock()
	b.retain(topic, payload)
}

var _ device.Observer = (*Bridge)(nil)

// hostIP is the address part of a device's host setting.
func hostIP(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ReportPersistFailure reports a failed write of the state file on
// bridge/event; the state stays correct in memory and on the broker.
func (b *Bridge) ReportPersistFailure(err error) {
	b.event(newEvent(time.Now(), levelError, "", b.topics.bridge(bridgeState), nil,
		fmt.Errorf("state file not written (state is kept in memory and retried): %w", err)))
}
