package bridge

import "testing"

func TestPolicy_DaemonOnly(t *testing.T) {
	p := policy{topics: topics{base: "pidicon"}, discovery: "homeassistant", status: "homeassistant/status"}
	cases := map[string]bool{
		// The daemon's topics.
		"pidicon":                                        true,
		"pidicon/demo/state":                             true,
		"pidicon/demo/brightness":                        true,
		"pidicon/demo/availability":                      true,
		"pidicon/demo/metrics":                           true,
		"pidicon/demo/frame":                             true,
		"pidicon/demo/set/extra":                         true,
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
		"pidicon/bridge/request/republish": false,
		// Home Assistant's status, other daemons' and other applications' topics.
		"homeassistant/status":                           false,
		"homeassistant/light/other/demo_light/config":    false,
		"homeassistant/light/pidiconx/demo_light/config": false,
		"pidiconx/demo/state":                            false,
		"zigbee2mqtt/lamp":                               false,
		"accept-probe/1":                                 false,
	}
	for topic, want := range cases {
		if got := p.daemonOnly(topic); got != want {
			t.Errorf("daemonOnly(%q) = %v, want %v", topic, got, want)
		}
	}
	nested := policy{topics: topics{base: "home/pidicon"}, discovery: "homeassistant"}
	for topic, want := range map[string]bool{
		"home/pidicon/demo/state":                            true,
		"home/pidicon/demo/brightness/set":                   false,
		"home/other":                                         false,
		"homeassistant/light/home/pidicon/demo_light/config": true,
	} {
		if got := nested.daemonOnly(topic); got != want {
			t.Errorf("base home/pidicon: daemonOnly(%q) = %v, want %v", topic, got, want)
		}
	}
}
