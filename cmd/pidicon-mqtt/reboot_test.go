package main_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// embeddedDaemon runs the daemon with the embedded broker on a free port
// and devices (YAML list items), and returns a client subscribed to
// subscribe once every device's state is published.
func embeddedDaemon(t *testing.T, devices string, subscribe ...string) *mqtttest.Client {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	config := writeConfig(t, dir, fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
state: {persist: false}
devices:
%s`, port, devices))
	startProc(t, config)
	mqtttest.WaitAccepting(t, 10*time.Second, url)
	c := mqtttest.Connect(t, url)
	c.Subscribe(append([]string{"pidicon/#"}, subscribe...)...)
	return c
}

// waitAvailability waits for availability payload of id after mark and
// returns the position after it.
func waitAvailability(t *testing.T, c *mqtttest.Client, mark int, id, payload string) int {
	t.Helper()
	want := "pidicon/" + id + "/availability"
	if _, ok := c.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool { return m.Topic == want && m.Text() == payload }); !ok {
		t.Fatalf("%s never became %s", want, payload)
	}
	for i, m := range c.Since(mark) {
		if m.Topic == want && m.Text() == payload {
			return mark + i + 1
		}
	}
	panic("unreachable")
}

// TestDaemon_Reboot reboots a simulated Pixoo 64 and a simulated AWTRIX
// clock inside the daemon over MQTT: each goes offline and comes back;
// an in-memory display refuses with an event. Home Assistant has a
// reboot button for each display that can reboot.
func TestDaemon_Reboot(t *testing.T) {
	c := embeddedDaemon(t, `
  - {id: pixoo, type: sim}
  - {id: clock, type: sim-awtrix}
  - {id: mem, type: mock}
`, "homeassistant/#")
	for _, id := range []string{"pixoo", "clock", "mem"} {
		waitAvailability(t, c, 0, id, "online")
	}
	for _, id := range []string{"pixoo", "clock"} {
		cfg := "homeassistant/button/pidicon/" + id + "_reboot/config"
		m := c.WaitFor(10*time.Second, cfg, func(m mqtttest.Msg) bool { return m.Topic == cfg })
		if js := m.JSON(); js["command_topic"] != "pidicon/"+id+"/reboot" || js["device_class"] != "restart" {
			t.Errorf("%s: %s", cfg, m.Text())
		}
	}
	if _, ok := c.Current()["homeassistant/button/pidicon/mem_reboot/config"]; ok {
		t.Error("the in-memory display has a reboot button")
	}

	mark := c.Mark()
	c.Publish("pidicon/pixoo/reboot", "PRESS", false)
	c.Publish("pidicon/clock/reboot", "", false)
	c.Publish("pidicon/mem/reboot", "PRESS", false)
	for _, id := range []string{"pixoo", "clock"} {
		waitAvailability(t, c, waitAvailability(t, c, mark, id, "offline"), id, "online")
	}
	ev, ok := c.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool {
		return m.Topic == "pidicon/bridge/event" && m.JSON()["topic"] == "pidicon/mem/reboot"
	})
	if !ok || !strings.Contains(ev.Text(), "cannot be rebooted") {
		t.Errorf("reboot of the in-memory display: event %q, want one saying it cannot be rebooted", ev.Text())
	}
	for _, m := range c.Since(mark) {
		if m.Topic == "pidicon/bridge/event" && m.JSON()["device"] != "mem" {
			t.Errorf("unexpected event: %s", m.Text())
		}
	}
}

// TestDaemon_DivoomAPIAndWatchdog drives a Pixoo 64 that answers only at
// /divoom_api (newer firmware) with the default api (auto), then takes it
// down: after watchdog.after the configured message goes out once, with a
// warning event.
func TestDaemon_DivoomAPIAndWatchdog(t *testing.T) {
	pixoo, srv := testkit.StartPixoo(t)
	pixoo.SetEndpoints(false, true)
	c := embeddedDaemon(t, fmt.Sprintf(`
  - id: lab
    type: pixoo64
    host: %q
    brightness: 30
    watchdog:
      after: 1s
      actions:
        - {topic: zigbee2mqtt/lab-plug/set, payload: '{"state":"OFF"}'}
`, srv.Addr()), "zigbee2mqtt/#")
	waitState(t, c, "lab", func(s state.State) bool { return s.Brightness == 30 })
	mqtttest.WaitUntil(t, 10*time.Second, "the display gets brightness 30", func() bool { return pixoo.Brightness() == 30 })
	var after []string
	for i, r := range pixoo.Requests() {
		if r.Status == 200 {
			for _, r := range pixoo.Requests()[i:] {
				after = append(after, r.Path)
			}
			break
		}
	}
	if len(after) == 0 || slices.Contains(after, "/post") {
		t.Errorf("once /divoom_api answered, requests went to %v; want /divoom_api only", after)
	}

	mark := c.Mark()
	if err := srv.Down(); err != nil {
		t.Fatal(err)
	}
	const plug = "zigbee2mqtt/lab-plug/set"
	m, ok := c.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool { return m.Topic == plug })
	if !ok || m.Text() != `{"state":"OFF"}` {
		t.Fatalf("watchdog action: %q, %v", m.Text(), ok)
	}
	ev, ok := c.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool {
		return m.Topic == "pidicon/bridge/event" && m.JSON()["topic"] == plug
	})
	var js map[string]any
	if ok {
		_ = json.Unmarshal(ev.Payload, &js)
	}
	if !ok || js["level"] != "warning" || js["device"] != "lab" || js["payload"] != `{"state":"OFF"}` {
		t.Errorf("watchdog event %q, want a warning naming lab and what was published", ev.Text())
	}
}

// TestDaemon_StandaloneSimulatorNewFirmware serves a simulated Pixoo 64
// that, like newer firmware, answers only /divoom_api, on two addresses;
// the daemon finds its API on the second one, and both addresses are the
// same display.
func TestDaemon_StandaloneSimulatorNewFirmware(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	second := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startSimProc(t, "pixoo64", addr, "--api", "divoom_api", "--also-listen", second)
	c := embeddedDaemon(t, fmt.Sprintf("  - {id: lab, type: pixoo64, host: %q}\n", second))
	waitState(t, c, "lab", func(s state.State) bool { return s.Brightness == 75 })
	c.Publish("pidicon/lab/brightness/set", "20", false)
	mqtttest.WaitUntil(t, 10*time.Second, "the simulator has brightness 20 on both addresses", func() bool {
		a, errA := simState(addr)
		b, errB := simState(second)
		return errA == nil && errB == nil && a["brightness"] == 20.0 && b["brightness"] == 20.0
	})
}
