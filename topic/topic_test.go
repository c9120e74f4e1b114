package topic_test

import (
	"slices"
	"testing"

	"github.com/pidicon/pidicon-mqtt/topic"
)

func TestPolicy_DaemonOnly(t *testing.T) {
	p := topic.Policy{Layout: topic.Layout{Base: "pidicon"}, Discovery: "homeassistant", Status: "homeassistant/status"}
	cases := map[string]bool{
		// The daemon's topics.
		"pidicon":                                        true,
		"pidicon/demo/state":                             true,
		"pidicon/demo/brightness":                        true,
		"pidicon/demo/availability":                      true,
		"pidicon/demo/metrics":                           true,
		"pidicon/demo/frame":                             true,
		"pidicon/demo/set/extra":                         true,
		"pidicon/demo/reboot/set":                        false, // a set topic of a field that does not exist
		"pidicon/bridge/reboot":                          true,
		"pidicon/bridge/state":                           true,
		"pidicon/bridge/info":                            true,
		"pidicon/bridge/event":                           true,
		"pidicon/bridge/sync":                            true,
		"homeassistant/light/pidicon/demo_light/config":  true,
		"homeassistant/select/pidicon/demo_scene/config": true,
		// Commands.
		"pidicon/demo/brightness/set":      false,
		"pidicon/demo/bogus/set":           false,
		"pidicon/demo/set":                 false,
		"pidicon/demo/get":                 false,
		"pidicon/demo/reboot":              false,
		"pidicon/bridge/request/republish": false,
		// Home Assistant's status, other daemons' and other applications' topics.
		"homeassistant/status":                           false,
		"homeassistant/light/other/demo_light/config":    false,
		"homeassistant/light/pidiconx/demo_light/config": false,
		"pidiconx/demo/state":                            false,
		"zigbee2mqtt/lamp":                               false,
		"accept-probe/1":                                 false,
	}
	for tp, want := range cases {
		if got := p.DaemonOnly(tp); got != want {
			t.Errorf("DaemonOnly(%q) = %v, want %v", tp, got, want)
		}
	}
	nested := topic.Policy{Layout: topic.Layout{Base: "home/pidicon"}, Discovery: "homeassistant"}
	for tp, want := range map[string]bool{
		"home/pidicon/demo/state":                            true,
		"home/pidicon/demo/brightness/set":                   false,
		"home/other":                                         false,
		"homeassistant/light/home/pidicon/demo_light/config": true,
	} {
		if got := nested.DaemonOnly(tp); got != want {
			t.Errorf("base home/pidicon: DaemonOnly(%q) = %v, want %v", tp, got, want)
		}
	}
}

func TestLayout_ParseReboot(t *testing.T) {
	l := topic.Layout{Base: "pidicon"}
	p := l.Parse("pidicon/demo/reboot")
	if p.Kind != topic.RebootRequest || p.Device != "demo" || !p.IsCommand() {
		t.Errorf("Parse(pidicon/demo/reboot) = %+v, want a reboot command of demo", p)
	}
	for _, tp := range []string{"pidicon/bridge/reboot", "pidicon/demo/reboot/now", "other/demo/reboot"} {
		if k := l.Parse(tp).Kind; k == topic.RebootRequest {
			t.Errorf("Parse(%q) is a reboot command", tp)
		}
	}
	if !slices.Contains(l.CommandFilters(), "pidicon/+/reboot") {
		t.Errorf("CommandFilters() = %v, want pidicon/+/reboot among them", l.CommandFilters())
	}
}

func TestValidID(t *testing.T) {
	long := "a123456789012345678901234567890123456789012345678901234567890123"
	cases := map[string]bool{
		"demo": true, "0": true, "living-room_2": true, long[:64]: true,
		"": false, long + "4": false, "_x": false, "-x": false, "Demo": false,
		"192.168.1.5": false, "a/b": false, "a+": false, "a#": false, "é": false,
	}
	for id, want := range cases {
		if got := topic.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

// TestLayout_DeviceCommands: every exact command topic of a device is a
// command to Parse, for the device, and the list holds no duplicates.
func TestLayout_DeviceCommands(t *testing.T) {
	l := topic.Layout{Base: "pidicon"}
	got := l.DeviceCommands("demo")
	for _, tp := range got {
		if p := l.Parse(tp); !p.IsCommand() || p.Device != "demo" {
			t.Errorf("%s: parsed as %+v, want a command of demo", tp, p)
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
		t.Errorf("duplicates in %v", got)
	}
	for _, want := range []string{"pidicon/demo/brightness/set", "pidicon/demo/set", "pidicon/demo/get", "pidicon/demo/notify", "pidicon/demo/notify/dismiss", "pidicon/demo/reboot"} {
		if !slices.Contains(got, want) {
			t.Errorf("%s missing from %v", want, got)
		}
	}
}
