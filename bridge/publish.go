package bridge

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// publishDevice publishes the given field topics and the state topic of a
// device, and its availability if asked.
func (b *Bridge) publishDevice(id string, fields []string, availability bool) {
	st, ok := b.opts.Store.Get(id)
	if !ok {
		return
	}
	for _, f := range fields {
		b.retain(b.topics.Device(id, f), []byte(st.Value(f)))
	}
	js, err := json.Marshal(st)
	if err == nil {
		b.retain(b.topics.Device(id, topic.State), js)
	}
	if availability {
		b.mu.Lock()
		av, ok := b.last[b.topics.Device(id, topic.Availability)]
		b.mu.Unlock()
		if ok {
			b.retain(b.topics.Device(id, topic.Availability), av)
		}
	}
}

func (b *Bridge) retain(t string, payload []byte) {
	b.viewed(t, payload)
	b.box.put(message{topic: t, payload: payload, retain: true})
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
	for _, t := range sortedKeys(last) {
		b.box.put(message{topic: t, payload: last[t], retain: true, lively: lively[t]})
	}
	b.retain(b.topics.Bridge(topic.BridgeInfo), b.info())
	b.retain(b.topics.Bridge(topic.BridgeState), []byte(topic.Online))
}

// info is the payload of bridge/info: the version, the devices and the
// scenes each supports, every scene with its details (CONTRACT §7) and
// the images.
func (b *Bridge) info() []byte {
	type dev struct {
		ID     string     `json:"id"`
		Name   string     `json:"name"`
		Type   string     `json:"type"`
		Size   scene.Size `json:"size"`
		Scenes []string   `json:"scenes"`
	}
	type detail struct {
		Name        string        `json:"name"`
		Description string        `json:"description"`
		Source      string        `json:"source"`
		Params      []scene.Param `json:"params"`
	}
	out := struct {
		Version      string         `json:"version"`
		Devices      []dev          `json:"devices"`
		Scenes       []string       `json:"scenes"`
		SceneDetails []detail       `json:"sceneDetails"`
		Images       []picture.Info `json:"images"`
	}{Version: b.opts.Version, Devices: []dev{}, Scenes: []string{}, SceneDetails: []detail{}, Images: []picture.Info{}}
	for _, id := range b.ids {
		d := b.devices[id]
		scenes := d.Controller.Scenes()
		out.Devices = append(out.Devices, dev{ID: d.ID, Name: d.Name, Type: d.Kind.Type, Size: d.Controller.Size(), Scenes: scenes})
		for _, name := range scenes {
			if slices.Contains(out.Scenes, name) {
				continue
			}
			out.Scenes = append(out.Scenes, name)
			sc, _ := d.Controller.Scene(name)
			params := sc.Params
			if params == nil {
				params = []scene.Param{}
			}
			out.SceneDetails = append(out.SceneDetails, detail{Name: name, Description: sc.Description, Source: sc.SourceName(), Params: params})
		}
	}
	if b.opts.Images != nil {
		out.Images = append(out.Images, b.opts.Images.List()...)
	}
	js, _ := json.Marshal(out)
	return js
}

// Availability implements device.Observer.
func (b *Bridge) Availability(id string, on bool) {
	v := topic.Offline
	if on {
		v = topic.Online
	}
	b.stats.setOnline(id, on)
	b.watchdogs.availability(id, on)
	b.transient(b.topics.Device(id, topic.Availability), []byte(v), false)
}

// Metrics implements device.Observer.
func (b *Bridge) Metrics(id string, m device.Metrics) {
	b.stats.setMetrics(id, m)
	js, err := json.Marshal(m)
	if err != nil {
		return
	}
	b.transient(b.topics.Device(id, topic.Metrics), js, true)
}

// Frame implements device.Observer.
func (b *Bridge) Frame(id string, png []byte) {
	b.transient(b.topics.Device(id, topic.Frame), png, true)
}

// Fault implements device.Observer.
func (b *Bridge) Fault(id string, err error) {
	b.opts.Events.Report(event.New(time.Now(), event.LevelError, id, b.topics.Device(id, topic.Availability), nil, err))
}

// transient publishes a retained topic that is not persisted, and keeps it
// for republishing; lively topics (metrics, frame) go at QoS 0, after the
// rest (see message.lively).
func (b *Bridge) transient(t string, payload []byte, lively bool) {
	b.mu.Lock()
	b.last[t] = payload
	b.lively[t] = lively
	b.mu.Unlock()
	b.viewed(t, payload)
	b.box.put(message{topic: t, payload: payload, retain: true, lively: lively})
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

// Notification implements device.Observer: the retained notification
// topic, {"showing":{…}|null,"queued":N}.
func (b *Bridge) Notification(id string, s device.NotificationStatus) {
	js, err := json.Marshal(s)
	if err != nil {
		return
	}
	b.transient(b.topics.Device(id, topic.Notification), js, false)
}
