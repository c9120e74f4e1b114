package bridge_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/mock"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
)

const prefix = "homeassistant"

// withHA turns discovery on.
func withHA(o *bridge.Options) {
	o.HomeAssistant = bridge.HomeAssistant{Enabled: true, DiscoveryPrefix: prefix}
}

// stripDisplay makes device i a 32x8 display (an in-memory one).
func stripDisplay(i int) setup {
	return func(o *bridge.Options) {
		d := &o.Devices[i]
		d.Kind = mock.Kind()
		d.Controller = device.NewController(device.Options{
			ID: d.ID, Name: d.Name, Driver: mock.New(scene.Size{W: 32, H: 8}), Scenes: scene.Builtin(),
		})
	}
}

// configs returns the retained discovery configs under our node id.
func configs(t *testing.T, url, base string) map[string]map[string]any {
	t.Helper()
	out := make(map[string]map[string]any)
	for topic, m := range mqtttest.Retained(t, url, prefix+"/+/"+base+"/+/config") {
		var cfg map[string]any
		if err := json.Unmarshal(m.Payload, &cfg); err != nil {
			t.Errorf("%s is not a JSON object: %v", topic, err)
			continue
		}
		if !m.Retained || m.QoS != 1 {
			t.Errorf("%s: retained %v QoS %d, want retained at QoS 1", topic, m.Retained, m.QoS)
		}
		out[topic] = cfg
	}
	return out
}

// required keys per platform, on top of unique_id, name, device, origin.
var required = map[string][]string{
	"light":         {"command_topic", "state_topic", "brightness_command_topic", "brightness_state_topic", "brightness_scale", "payload_on", "payload_off"},
	"select":        {"command_topic", "options", "state_topic"},
	"sensor":        {"state_topic", "value_template"},
	"button":        {"command_topic"},
	"image":         {"image_topic", "content_type"},
	"notify":        {"command_topic"},
	"text":          {"command_topic", "state_topic", "min", "max"},
	"binary_sensor": {"state_topic", "payload_on", "payload_off"},
}

func TestDiscovery_Payloads(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	startDaemon(t, url, []string{"demo", "strip"}, nil, withHA, stripDisplay(1))
	c := mqtttest.Connect(t, url)
	c.Subscribe(base + "/#")
	// Every device shows a frame and metrics soon after the start: wait
	// for them, since the image and sensor entities read them.
	for _, id := range []string{"demo", "strip"} {
		for _, s := range []string{"frame", "metrics"} {
			c.WaitFor(5*time.Second, id+" "+s, func(m mqtttest.Msg) bool { return m.Topic == topic(id, s) })
		}
	}
	got := configs(t, url, base)
	state := mqtttest.Retained(t, url, base+"/#")
	var info struct {
		Devices []struct {
			ID     string
			Scenes []string
		}
	}
	if err := json.Unmarshal(state[base+"/bridge/info"].Payload, &info); err != nil {
		t.Fatal(err)
	}
	scenesOf := map[string][]string{}
	for _, d := range info.Devices {
		scenesOf[d.ID] = d.Scenes
	}

	uniqueIDs := map[string]string{}
	components := map[string]int{}
	for topic, cfg := range got {
		parts := strings.Split(topic, "/") // homeassistant/<component>/pidicon/<object id>/config
		if len(parts) != 5 {
			t.Errorf("%s: unexpected topic layout", topic)
			continue
		}
		component, object := parts[1], parts[3]
		components[component]++
		for _, k := range append([]string{"unique_id", "name", "device", "origin", "default_entity_id"}, required[component]...) {
			if _, ok := cfg[k]; !ok {
				t.Errorf("%s: no %s", topic, k)
			}
		}
		if _, ok := cfg["object_id"]; ok {
			t.Errorf("%s: uses the deprecated object_id", topic)
		}
		if r, ok := cfg["retain"]; ok && r == true {
			t.Errorf("%s: retain true would make Home Assistant retain commands", topic)
		}
		uid, _ := cfg["unique_id"].(string)
		if prev, dup := uniqueIDs[uid]; dup {
			t.Errorf("unique_id %s used by %s and %s", uid, prev, topic)
		}
		uniqueIDs[uid] = topic
		if want := base + "_" + object; uid != want {
			t.Errorf("%s: unique_id %q, want %q", topic, uid, want)
		}
		if cfg["default_entity_id"] != component+"."+uid {
			t.Errorf("%s: default_entity_id %v", topic, cfg["default_entity_id"])
		}
		dev, _ := cfg["device"].(map[string]any)
		for _, k := range []string{"identifiers", "name", "manufacturer", "model", "sw_version"} {
			if _, ok := dev[k]; !ok {
				t.Errorf("%s: device block has no %s", topic, k)
			}
		}
		origin, _ := cfg["origin"].(map[string]any)
		if origin["name"] != "pidicon-mqtt" {
			t.Errorf("%s: origin %v", topic, origin)
		}
		// Every topic Home Assistant reads is retained on the broker now;
		// every topic it writes is a command topic of ours.
		for k, v := range cfg {
			s, ok := v.(string)
			if !ok {
				continue
			}
			switch {
			case strings.HasSuffix(k, "state_topic") || k == "image_topic" || k == "availability_topic":
				if _, ok := state[s]; !ok {
					t.Errorf("%s: %s %s is not retained on the broker", topic, k, s)
				}
			case strings.HasSuffix(k, "command_topic"):
				if !strings.HasSuffix(s, "/set") && !strings.HasSuffix(s, "/get") && !strings.HasSuffix(s, "/notify") &&
					!strings.HasSuffix(s, "/reboot") && !strings.Contains(s, "/bridge/request/") {
					t.Errorf("%s: %s %s is not a command topic", topic, k, s)
				}
			}
		}
		if id, isDevice := strings.CutSuffix(object, "_scene"); isDevice {
			if opts := toStrings(cfg["options"]); !slices.Equal(opts, scenesOf[id]) {
				t.Errorf("%s: options %v, want the device's scenes %v", topic, opts, scenesOf[id])
			}
		}
		if !strings.HasPrefix(object, "bridge_") {
			av, _ := json.Marshal(cfg["availability"])
			id := strings.SplitN(object, "_", 2)[0]
			want := fmt.Sprintf(`[{"topic":"%s/bridge/state"},{"topic":"%s/%s/availability"}]`, base, base, id)
			if string(av) != want || cfg["availability_mode"] != "all" {
				t.Errorf("%s: availability %s mode %v, want %s mode all", topic, av, cfg["availability_mode"], want)
			}
			if dev["via_device"] != base+"_bridge" {
				t.Errorf("%s: via_device %v", topic, dev["via_device"])
			}
		}
	}
	// Buttons: each display's republish, the bridge's, and a reboot for
	// the display that can reboot (demo, a simulated Pixoo; not strip, an
	// in-memory display).
	want := map[string]int{"light": 2, "select": 6, "sensor": 10, "image": 2, "button": 4, "binary_sensor": 1}
	for k, n := range want {
		if components[k] != n {
			t.Errorf("%d %s entities, want %d (all: %v)", components[k], k, n, components)
		}
	}
	reboot := got[prefix+"/button/"+base+"/demo_reboot/config"]
	if reboot["unique_id"] != base+"_demo_reboot" || reboot["device_class"] != "restart" ||
		reboot["command_topic"] != topic("demo", "reboot") || reboot["payload_press"] == nil {
		t.Errorf("demo's reboot button: %v", reboot)
	}
	if _, ok := got[prefix+"/button/"+base+"/strip_reboot/config"]; ok {
		t.Error("strip, which cannot reboot, has a reboot button")
	}
	if slices.Contains(scenesOf["strip"], "bars") || !slices.Contains(scenesOf["demo"], "bars") {
		t.Errorf("scenes: demo %v, strip %v: bars is for 64x64 only", scenesOf["demo"], scenesOf["strip"])
	}
}

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestDiscovery_TwoDaemonsShareABroker runs two daemons with different base
// topics, each with a device "demo", on one broker: their discovery topics,
// unique ids and device identifiers must not collide.
func TestDiscovery_TwoDaemonsShareABroker(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	startDaemon(t, url, []string{"demo"}, nil, withHA)
	other := func(o *bridge.Options) {
		withHA(o)
		o.BaseTopic = "pidicon2"
		o.ClientID = "other-daemon"
	}
	startDaemonAt(t, url, "pidicon2", []string{"demo"}, other)
	a, b := configs(t, url, "pidicon"), configs(t, url, "pidicon2")
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d and %d configs", len(a), len(b))
	}
	uniqueIDs := map[string]string{}           // unique_id → config topic
	identifiers := []map[string]string{{}, {}} // per daemon: device identifier → config topic
	for i, set := range []map[string]map[string]any{a, b} {
		for topic, cfg := range set {
			uid, ok := cfg["unique_id"].(string)
			if !ok {
				t.Errorf("%s: unique_id %v is not a string", topic, cfg["unique_id"])
				continue
			}
			if prev, dup := uniqueIDs[uid]; dup {
				t.Errorf("unique_id %s used by %s and %s", uid, prev, topic)
			}
			uniqueIDs[uid] = topic
			dev, ok := cfg["device"].(map[string]any)
			if !ok {
				t.Errorf("%s: device block %v is not an object", topic, cfg["device"])
				continue
			}
			list := toStrings(dev["identifiers"])
			if len(list) == 0 {
				t.Errorf("%s: device identifiers %v, want a list of strings", topic, dev["identifiers"])
			}
			for _, id := range list {
				if id == "" {
					t.Errorf("%s: device identifiers %v: want non-empty strings", topic, dev["identifiers"])
				}
				identifiers[i][id] = topic
			}
		}
	}
	// Entities of one daemon share its devices' identifiers; no identifier
	// may appear in both daemons, or Home Assistant merges their devices.
	for id, topic := range identifiers[0] {
		if other, dup := identifiers[1][id]; dup {
			t.Errorf("device identifier %s used by both daemons (%s and %s)", id, topic, other)
		}
	}
	if len(identifiers[0]) < 2 || len(identifiers[1]) < 2 {
		t.Errorf("device identifiers %v and %v: want the bridge and the display in each", identifiers[0], identifiers[1])
	}
}

func TestDiscovery_BirthMessageRepublishes(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	startDaemon(t, url, []string{"demo"}, nil, withHA)
	c := mqtttest.Connect(t, url)
	c.Subscribe(prefix+"/#", base+"/#")
	mark := c.Mark()
	c.Publish(prefix+"/status", "online", false)
	waitTopics(t, c, mark, []string{
		prefix + "/light/" + base + "/demo_display/config",
		topic("demo", "state"), topic("demo", "availability"), base + "/bridge/state",
	})
}

// TestDiscovery_CleansUpRemovedDevices leaves, before the start, discovery
// configs and retained topics of a device that is no longer configured, a
// stale entity of a configured one, and another daemon's config: ours are
// cleared, the other daemon's stays.
func TestDiscovery_CleansUpRemovedDevices(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	c := mqtttest.Connect(t, url)
	stale := []string{
		prefix + "/light/" + base + "/old_display/config",
		prefix + "/select/" + base + "/demo_bogus/config",
		topic("old", "state"), topic("old", "brightness"), topic("old", "availability"),
	}
	for _, s := range stale {
		payload := `{"unique_id":"x"}`
		if strings.HasSuffix(s, "/state") {
			payload = `{"activeScene":"clock","playState":"playing","brightness":1,"displayOn":true,"loggingLevel":"info","timestamp":"2026-01-01T00:00:00.000Z"}`
		}
		c.Publish(s, payload, true)
	}
	foreign := prefix + "/light/someone-else/lamp/config"
	c.Publish(foreign, `{"unique_id":"lamp"}`, true)

	startDaemon(t, url, []string{"demo"}, nil, withHA)
	mqtttest.WaitUntil(t, 5*time.Second, "stale topics cleared", func() bool {
		got := mqtttest.Retained(t, url, "#")
		for _, s := range stale {
			if _, ok := got[s]; ok {
				return false
			}
		}
		return true
	})
	got := mqtttest.Retained(t, url, "#")
	if _, ok := got[foreign]; !ok {
		t.Error("another daemon's discovery config was cleared")
	}
	if _, ok := got[prefix+"/light/"+base+"/demo_display/config"]; !ok {
		t.Error("demo's own config is missing")
	}
}

func TestDiscovery_DisabledClearsOurs(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	d := startDaemon(t, url, []string{"demo"}, nil, withHA)
	if len(configs(t, url, base)) == 0 {
		t.Fatal("no discovery configs with discovery on")
	}
	d.stop()
	startDaemon(t, url, []string{"demo"}, nil, func(o *bridge.Options) {
		o.HomeAssistant = bridge.HomeAssistant{Enabled: false, DiscoveryPrefix: prefix}
	})
	mqtttest.WaitUntil(t, 5*time.Second, "our discovery configs cleared", func() bool {
		return len(configs(t, url, base)) == 0
	})
}
