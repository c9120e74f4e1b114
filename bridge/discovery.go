package bridge

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// HomeAssistant configures MQTT discovery for Home Assistant.
type HomeAssistant struct {
	// Enabled publishes discovery configs; when false, ours are cleared.
	Enabled bool
	// DiscoveryPrefix is Home Assistant's discovery prefix (homeassistant).
	DiscoveryPrefix string
	// StatusTopic is where Home Assistant announces itself ("online");
	// the bridge then republishes discovery and state.
	StatusTopic string
}

// supportURL is where users find help, published in the origin block.
const supportURL = "https://github.com/pidicon/pidicon-mqtt"

// entity is one discovery config: the component and object id name its
// topic, <prefix>/<component>/<base>/<object id>/config.
type entity struct {
	component string
	objectID  string
	config    map[string]any
}

// discoveryFilter matches every discovery config this daemon can have
// published: our base topic is the node id.
func (b *Bridge) discoveryFilter() string {
	return b.opts.HomeAssistant.DiscoveryPrefix + "/+/" + b.topics.Base + "/+/config"
}

func (b *Bridge) discoveryTopic(e entity) string {
	return b.opts.HomeAssistant.DiscoveryPrefix + "/" + e.component + "/" + b.topics.Base + "/" + e.objectID + "/config"
}

// uniqueID is <base>_<id>_<entity> (CONTRACT §3), stable forever.
func (b *Bridge) uniqueID(id, name string) string { return b.topics.Base + "_" + id + "_" + name }

// origin is the origin block of every config.
func (b *Bridge) origin() map[string]any {
	return map[string]any{"name": "pidicon-mqtt", "sw_version": b.opts.Version, "support_url": supportURL}
}

// bridgeDeviceID identifies the bridge itself as a Home Assistant device.
func (b *Bridge) bridgeDeviceID() string { return b.topics.Base + "_bridge" }

// entities lists the discovery configs of every configured device and of
// the bridge.
func (b *Bridge) entities() []entity {
	var out []entity
	for _, id := range b.ids {
		d := b.devices[id]
		out = append(out, b.deviceEntities(entityFacts{
			id: d.ID, name: d.Name, kind: d.Kind,
			scenes: d.Controller.Scenes(), canReboot: d.Controller.CanReboot(),
		})...)
	}
	return append(out, b.bridgeEntities()...)
}

// entityFacts is what a device's discovery configs are made of.
type entityFacts struct {
	id, name  string
	kind      device.Kind
	scenes    []string
	canReboot bool
}

// goneDeviceConfigs are the discovery topics a device no longer in the
// config can have had: every entity a device can have.
func (b *Bridge) goneDeviceConfigs(id string) []string {
	var out []string
	for _, e := range b.deviceEntities(entityFacts{id: id, canReboot: true}) {
		out = append(out, b.discoveryTopic(e))
	}
	return out
}

func (b *Bridge) deviceEntities(d entityFacts) []entity {
	t := func(suffix string) string { return b.topics.Device(d.id, suffix) }
	dev := map[string]any{
		"identifiers":  []string{b.topics.Base + "_" + d.id},
		"name":         d.name,
		"manufacturer": d.kind.Manufacturer,
		"model":        d.kind.Model,
		"sw_version":   b.opts.Version,
		"via_device":   b.bridgeDeviceID(),
	}
	availability := []map[string]string{
		{"topic": b.topics.Bridge(topic.BridgeState)},
		{"topic": t(topic.Availability)},
	}
	// common fills the keys every entity of the device shares.
	common := func(component, name, label string, cfg map[string]any) entity {
		uid := b.uniqueID(d.id, name)
		cfg["unique_id"] = uid
		cfg["default_entity_id"] = component + "." + uid
		cfg["name"] = label
		cfg["device"] = dev
		cfg["origin"] = b.origin()
		cfg["availability"] = availability
		cfg["availability_mode"] = "all"
		cfg["qos"] = 1
		return entity{component: component, objectID: d.id + "_" + name, config: cfg}
	}
	options := make(map[string][]string)
	for _, f := range state.Schema() {
		options[f.Name] = f.Options
	}
	metric := func(name, label, template string, extra map[string]any) entity {
		cfg := map[string]any{
			"state_topic":     t(topic.Metrics),
			"value_template":  template,
			"entity_category": "diagnostic",
		}
		for k, v := range extra {
			cfg[k] = v
		}
		return common("sensor", name, label, cfg)
	}
	out := []entity{
		common("light", "display", "Display", map[string]any{
			"command_topic":            t(state.FieldDisplayOn + "/" + topic.Set),
			"state_topic":              t(state.FieldDisplayOn),
			"payload_on":               "true",
			"payload_off":              "false",
			"brightness_command_topic": t(state.FieldBrightness + "/" + topic.Set),
			"brightness_state_topic":   t(state.FieldBrightness),
			"brightness_scale":         100,
		}),
		common("select", "scene", "Scene", map[string]any{
			"command_topic": t(state.FieldActiveScene + "/" + topic.Set),
			"state_topic":   t(state.FieldActiveScene),
			"options":       d.scenes,
			"icon":          "mdi:palette",
		}),
		common("select", "play_state", "Play state", map[string]any{
			"command_topic": t(state.FieldPlayState + "/" + topic.Set),
			"state_topic":   t(state.FieldPlayState),
			"options":       options[state.FieldPlayState],
			"icon":          "mdi:play-pause",
		}),
		common("select", "logging_level", "Logging level", map[string]any{
			"command_topic":   t(state.FieldLoggingLevel + "/" + topic.Set),
			"state_topic":     t(state.FieldLoggingLevel),
			"options":         options[state.FieldLoggingLevel],
			"entity_category": "config",
			"icon":            "mdi:math-log",
		}),
		metric("status", "Status", "{{ value_json.status }}", nil),
		metric("fps", "Frame rate", "{{ value_json.fps }}", map[string]any{"unit_of_measurement": "fps", "state_class": "measurement"}),
		metric("pushes", "Frames pushed", "{{ value_json.pushes }}", map[string]any{"state_class": "total_increasing"}),
		metric("skipped", "Frames skipped", "{{ value_json.skipped }}", map[string]any{"state_class": "total_increasing"}),
		metric("errors", "Errors", "{{ value_json.errors }}", map[string]any{"state_class": "total_increasing"}),
		common("image", "frame", "Frame", map[string]any{
			"image_topic":  t(topic.Frame),
			"content_type": "image/png",
		}),
		common("notify", "notify", "Notify", map[string]any{
			"command_topic": t(topic.Notify),
			"icon":          "mdi:message-alert",
		}),
		// Setting the text shows the text scene with it, through the
		// original pidicon shape on activeScene/set.
		common("text", "text", "Message", map[string]any{
			"command_topic":    t(state.FieldActiveScene + "/" + topic.Set),
			"command_template": `{"scene":"` + scene.Text + `","text":{{ value | tojson }}}`,
			"state_topic":      t(state.FieldSceneParams),
			"value_template":   "{{ value_json.text | default('') }}",
			"min":              0,
			"max":              255,
			"mode":             "text",
			"icon":             "mdi:message-text",
		}),
		common("button", "republish", "Republish state", map[string]any{
			"command_topic":   t(topic.Get),
			"payload_press":   "PRESS",
			"entity_category": "diagnostic",
		}),
	}
	if d.canReboot {
		out = append(out, common("button", "reboot", "Reboot", map[string]any{
			"command_topic":   t(topic.Reboot),
			"payload_press":   "PRESS",
			"device_class":    "restart",
			"entity_category": "config",
		}))
	}
	return out
}

// bridgeEntities are the bridge's own: a connectivity sensor and a button
// that republishes everything.
func (b *Bridge) bridgeEntities() []entity {
	dev := map[string]any{
		"identifiers":  []string{b.bridgeDeviceID()},
		"name":         "pidicon-mqtt bridge (" + b.topics.Base + ")",
		"manufacturer": "pidicon-mqtt",
		"model":        "MQTT bridge",
		"sw_version":   b.opts.Version,
	}
	mk := func(component, name, label string, cfg map[string]any) entity {
		uid := b.uniqueID("bridge", name)
		cfg["unique_id"] = uid
		cfg["default_entity_id"] = component + "." + uid
		cfg["name"] = label
		cfg["device"] = dev
		cfg["origin"] = b.origin()
		cfg["qos"] = 1
		cfg["entity_category"] = "diagnostic"
		return entity{component: component, objectID: "bridge_" + name, config: cfg}
	}
	return []entity{
		mk("binary_sensor", "connection", "Connection", map[string]any{
			"state_topic":  b.topics.Bridge(topic.BridgeState),
			"payload_on":   topic.Online,
			"payload_off":  topic.Offline,
			"device_class": "connectivity",
		}),
		mk("button", "republish", "Republish everything", map[string]any{
			"command_topic":      b.topics.Bridge(topic.BridgeRequest + topic.RequestRepublish),
			"payload_press":      "PRESS",
			"availability_topic": b.topics.Bridge(topic.BridgeState),
		}),
	}
}

// publishDiscovery publishes every discovery config, retained. They are
// encoded each time, not kept: republishing is rare (a connection, Home
// Assistant's restart), and ten thousand displays' configs kept encoded
// were 9 KB a display beside the broker's copy.
func (b *Bridge) publishDiscovery() {
	if !b.opts.HomeAssistant.Enabled {
		return
	}
	for _, e := range b.entities() {
		js, err := json.Marshal(e.config)
		if err != nil {
			b.log.Error("encode discovery config", logkey.Entity, e.objectID, logkey.Error, err)
			continue
		}
		b.box.put(message{topic: b.discoveryTopic(e), payload: js, retain: true})
	}
}

// clearStale deletes (empty retained payloads) the discovery configs found
// on the broker that match no configured entity (or all of ours, when
// discovery is off), and the retained topics of devices no longer in the
// config.
func (b *Bridge) clearStale(configs []string, devices []string) {
	want := make(map[string]bool)
	if b.opts.HomeAssistant.Enabled {
		for _, e := range b.entities() {
			want[b.discoveryTopic(e)] = true
		}
	}
	var cleared []string
	for _, topic := range configs {
		if !want[topic] {
			b.retain(topic, nil)
			cleared = append(cleared, topic)
		}
	}
	if len(cleared) > 0 {
		b.log.Info("cleared discovery configs of entities no longer configured", logkey.Topics, strings.Join(cleared, ", "))
	}
	for _, id := range devices {
		if _, ok := b.devices[id]; ok || id == topic.BridgeID {
			continue
		}
		b.clearDeviceTopics(id)
		b.log.Info("cleared the retained topics of a device no longer configured", logkey.Device, id)
	}
}

// clearDeviceTopics deletes the retained topics of a device no longer in
// the config.
func (b *Bridge) clearDeviceTopics(id string) {
	for _, suffix := range append(state.Fields(), topic.State, topic.Availability, topic.Metrics, topic.Frame, topic.Notification) {
		b.retain(b.topics.Device(id, suffix), nil)
	}
}

// clearKeptDevices deletes, by their exact topics, the retained topics and
// discovery configs of the devices the state file keeps but the config no
// longer has, except those the wildcards of the restore found (seen, which
// clearStale cleared). It is for a broker that hands retained messages only
// to exact subscriptions: there the wildcards find nothing, and only the
// file still knows these devices.
func (b *Bridge) clearKeptDevices(kept []string, seen []string) {
	var cleared []string
	for _, id := range kept {
		_, configured := b.devices[id]
		if configured || id == topic.BridgeID || !topic.ValidID(id) || slices.Contains(seen, id) {
			continue
		}
		b.clearDeviceTopics(id)
		for _, t := range b.goneDeviceConfigs(id) {
			b.retain(t, nil)
		}
		cleared = append(cleared, id)
	}
	if len(cleared) > 0 {
		b.log.Info("cleared, by their exact topics, the retained topics and discovery configs of devices no longer configured that the state file keeps",
			logkey.Devices, strings.Join(cleared, ", "))
	}
}
