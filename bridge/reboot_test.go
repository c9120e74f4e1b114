package bridge_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/sim"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

// display is a simulated Pixoo 64 on a loopback port whose server the
// test holds, to take it down and up.
type display struct {
	pixoo  *sim.Pixoo
	server *sim.Server
}

// simulated makes device i a simulated Pixoo 64 of the test's, probed
// every 100ms and retried at most every 200ms while away, with watchdog w.
func simulated(t *testing.T, i int, w bridge.Watchdog) (setup, *display) {
	t.Helper()
	p, srv := testkit.StartPixoo(t)
	drv, err := pixoo64.New(srv.Addr(), pixoo64.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drv.Close)
	return func(o *bridge.Options) {
		d := &o.Devices[i]
		d.Watchdog = w
		d.Controller = device.NewController(device.Options{
			ID: d.ID, Name: d.Name, Version: "test", Driver: drv, Scenes: scene.Builtin(),
			LogHandler: slog.NewTextHandler(t.Output(), nil),
			ProbeEvery: 100 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		})
	}, &display{pixoo: p, server: srv}
}

// availabilityAfter waits for availability payload of id after mark and
// returns the position after it.
func availabilityAfter(t *testing.T, c *mqtttest.Client, mark int, id, payload string) int {
	t.Helper()
	for i, m := range c.Since(mark) {
		if m.Topic == topic(id, "availability") && m.Text() == payload {
			return mark + i + 1
		}
	}
	if _, ok := c.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool {
		return m.Topic == topic(id, "availability") && m.Text() == payload
	}); !ok {
		t.Fatalf("%s availability never became %s", id, payload)
	}
	return availabilityAfter(t, c, mark, id, payload)
}

// TestBridge_Reboot: pidicon/<id>/reboot restarts the display (the
// simulator gets Device/SysReboot); it is reported offline while it
// restarts and online after, and it is driven back to the desired state
// its restart had undone (screen off, the drawing channel).
func TestBridge_Reboot(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	tune, dev := simulated(t, 0, bridge.Watchdog{})
	dev.pixoo.SetRebootTime(300 * time.Millisecond)
	startDaemon(t, url, []string{"demo"}, nil, tune)
	c := mqtttest.Connect(t, url)
	c.Subscribe(base + "/#")

	c.Publish(topic("demo", "displayOn/set"), "OFF", false)
	mqtttest.WaitUntil(t, 5*time.Second, "screen off, drawing channel", func() bool {
		return !dev.pixoo.ScreenOn() && dev.pixoo.Channel() == 3
	})
	mark := c.Mark()
	c.Publish(topic("demo", "reboot"), "PRESS", false)
	mqtttest.WaitUntil(t, 5*time.Second, "the display rebooted", func() bool { return dev.pixoo.Reboots() == 1 })
	availabilityAfter(t, c, availabilityAfter(t, c, mark, "demo", "offline"), "demo", "online")
	mqtttest.WaitUntil(t, 5*time.Second, "driven back: screen off, drawing channel", func() bool {
		return !dev.pixoo.ScreenOn() && dev.pixoo.Channel() == 3
	})
	var sawReboot bool
	for _, r := range dev.pixoo.Requests() {
		sawReboot = sawReboot || r.Command == "Device/SysReboot"
	}
	if !sawReboot {
		t.Error("the simulator got no Device/SysReboot")
	}
	for _, m := range c.Since(mark) {
		if m.Topic == base+"/bridge/event" {
			t.Errorf("event during a reboot that went well: %s", m.Text())
		}
	}
	if dev.pixoo.Reboots() != 1 {
		t.Errorf("%d reboots, want 1", dev.pixoo.Reboots())
	}
}

// TestBridge_RebootRefused: a display that cannot reboot (in memory), an
// unknown display and a display that does not answer each refuse the
// command with an error event naming the display and the reason, and
// nothing reaches the hardware.
func TestBridge_RebootRefused(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	tune, dev := simulated(t, 0, bridge.Watchdog{})
	startDaemon(t, url, []string{"demo", "strip"}, nil, tune, stripDisplay(1))
	c := mqtttest.Connect(t, url)
	c.Subscribe(base + "/#")

	refused := func(id, why string) {
		t.Helper()
		mark := c.Mark()
		c.Publish(topic(id, "reboot"), "", false)
		ev, ok := c.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool {
			return m.Topic == base+"/bridge/event" && m.JSON()["topic"] == topic(id, "reboot")
		})
		if !ok {
			t.Fatalf("no event for the reboot of %s", id)
		}
		js := ev.JSON()
		if js["level"] != "error" || js["device"] != id || !strings.Contains(js["error"].(string), why) {
			t.Errorf("reboot of %s: event %s, want an error naming %s and %q", id, ev.Text(), id, why)
		}
	}
	refused("strip", "cannot be rebooted")
	refused("ghost", "unknown device")

	if err := dev.server.Down(); err != nil {
		t.Fatal(err)
	}
	availabilityAfter(t, c, 0, "demo", "offline")
	refused("demo", "does not answer")
	if err := dev.server.Up(); err != nil {
		t.Fatal(err)
	}
	mark := c.Mark()
	availabilityAfter(t, c, mark, "demo", "online")
	if n := dev.pixoo.Reboots(); n != 0 {
		t.Errorf("%d reboots reached the display", n)
	}
}
