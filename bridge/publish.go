package bridge

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/state"
)

func (b *Bridge) event(e Event) {
	b.box.put(message{topic: b.topics.bridge(bridgeEvent), payload: e.json()})
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
	last, lively := maps.Clone(b.last), maps.Clone(b.lively)
	b.mu.Unlock()
	for _, topic := range sortedKeys(last) {
		b.box.put(message{topic: topic, payload: last[topic], retain: true, lively: lively[topic]})
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

// Availability implements device.Observer.
func (b *Bridge) Availability(id string, on bool) {
	v := offline
	if on {
		v = online
	}
	b.stats.setOnline(id, on)
	b.transient(b.topics.device(id, topicAvailability), []byte(v), false)
}

// Metrics implements device.Observer.
func (b *Bridge) Metrics(id string, m device.Metrics) {
	b.stats.setMetrics(id, m)
	js, err := json.Marshal(m)
	if err != nil {
		return
	}
	b.transient(b.topics.device(id, topicMetrics), js, true)
}

// Frame implements device.Observer.
func (b *Bridge) Frame(id string, png []byte) {
	b.transient(b.topics.device(id, topicFrame), png, true)
}

// Fault implements device.Observer.
func (b *Bridge) Fault(id string, err error) {
	b.event(newEvent(time.Now(), levelError, id, b.topics.device(id, topicAvailability), nil, err))
}

// transient publishes a retained topic that is not persisted, and keeps it
// for republishing; lively topics (metrics, frame) go at QoS 0, after the
// rest (see message.lively).
func (b *Bridge) transient(topic string, payload []byte, lively bool) {
	b.mu.Lock()
	b.last[topic] = payload
	b.lively[topic] = lively
	b.mu.Unlock()
	b.box.put(message{topic: topic, payload: payload, retain: true, lively: lively})
}

var _ device.Observer = (*Bridge)(nil)

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
