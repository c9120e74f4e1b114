package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfig_APIAndWatchdogRefused lists the api and watchdog settings
// check-config refuses, each with a message that says what is wrong.
func TestConfig_APIAndWatchdogRefused(t *testing.T) {
	const pixoo = "{id: a, type: pixoo64, host: 10.0.0.1, "
	wd := func(s string) string { return "devices: [" + pixoo + "watchdog: " + s + "}]" }
	action := func(topic string) string {
		return wd("{after: 5m, actions: [{topic: '" + topic + "', payload: 'OFF'}]}")
	}
	checkRefused(t, []refusal{
		{"unknown api", "devices: [" + pixoo + "api: v2}]", `api "v2" is not one of auto, post, divoom_api`},
		{"api on a kind with one", "devices: [{id: a, type: awtrix, host: 10.0.0.1, api: post}]", "has one API"},
		{"no actions", wd("{after: 5m}"), "watchdog.actions: give at least one"},
		{"no after", wd("{actions: [{topic: plug/set, payload: 'OFF'}]}"), "watchdog.after 0s"},
		{"after without a unit", wd("{after: 300, actions: [{topic: plug/set}]}"), "write a unit"},
		{"negative after", wd("{after: -5m, actions: [{topic: plug/set}]}"), "watchdog.after -5m0s"},
		{"bad after", wd("{after: soon, actions: [{topic: plug/set}]}"), "after"},
		{"empty topic", action(""), "empty"},
		{"wildcard", action("plugs/+/set"), "wildcards"},
		{"multi-level wildcard", action("plugs/#"), "wildcards"},
		{"broker topic", action("$SYS/broker"), "belong to the broker"},
		{"own set topic", action("pidicon/a/displayOn/set"), "daemon's own topics"},
		{"own reboot topic", action("pidicon/a/reboot"), "daemon's own topics"},
		{"own state topic", action("pidicon/a/state"), "daemon's own topics"},
		{"own bridge request", action("pidicon/bridge/request/republish"), "daemon's own topics"},
		{"the base topic", action("pidicon"), "daemon's own topics"},
		{"own discovery config", action("homeassistant/button/pidicon/a_reboot/config"), "daemon's own topics"},
		{"Home Assistant status", action("homeassistant/status"), "status topic"},
		{"bad qos", wd("{after: 5m, actions: [{topic: plug/set, qos: 3}]}"), "qos 3"},
		{"unknown action key", wd("{after: 5m, actions: [{topic: plug/set, delay: 5s}]}"), "delay"},
		{"compat command", "compat: {pidicon: {enabled: true}}\n" + action("pixoo/10.0.0.1/state/upd"), "compat.pidicon.prefix"},
	})
}

// TestConfig_APIAndWatchdog reads a valid watchdog and the api defaults.
func TestConfig_APIAndWatchdog(t *testing.T) {
	cfg, err := loadYAML(t, `
mqtt: {base_topic: home}
devices:
  - id: a
    type: pixoo64
    host: 10.0.0.1
    watchdog:
      after: 5m
      actions:
        - {topic: zigbee2mqtt/pixoo-plug/set, payload: '{"state":"OFF"}'}
        - {topic: pidicon/not-ours, payload: run, retain: true, qos: 0}
  - {id: b, type: pixoo64, host: 10.0.0.2, api: divoom_api}
  - {id: c, type: awtrix, host: 10.0.0.3}
  - {id: d, type: sim}
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for i, want := range []string{"auto", "divoom_api", "", "auto"} {
		if got := cfg.Devices[i].API; got != want {
			t.Errorf("devices[%d].api = %q, want %q", i, got, want)
		}
	}
	w := cfg.Devices[0].watchdog()
	if w.After != 5*time.Minute || len(w.Actions) != 2 {
		t.Fatalf("watchdog %+v", w)
	}
	if a := w.Actions[0]; a.Topic != "zigbee2mqtt/pixoo-plug/set" || string(a.Payload) != `{"state":"OFF"}` || a.Retain || a.QoS != 1 {
		t.Errorf("first action %+v, want QoS 1 (the default), not retained", a)
	}
	if a := w.Actions[1]; !a.Retain || a.QoS != 0 {
		t.Errorf("second action %+v, want retained at QoS 0", a)
	}
	if w := cfg.Devices[1].watchdog(); w.After != 0 || w.Actions != nil {
		t.Errorf("a device without a watchdog has %+v", w)
	}
}

// TestCheckConfig_Watchdog: check-config names the device, the action and
// the reason, and prints a good watchdog.
func TestCheckConfig_Watchdog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	bad := "devices: [{id: lab, type: sim, watchdog: {after: 300, actions: [{topic: pidicon/lab/set, payload: '{}'}]}}]"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	err := checkConfig(path, new(bytes.Buffer), env(nil))
	if err == nil {
		t.Fatal("check-config passed a watchdog that publishes to the daemon's own topic")
	}
	for _, want := range []string{`devices[0] (id "lab")`, "watchdog.after 300ns", "write a unit",
		`watchdog.actions[0].topic "pidicon/lab/set"`, "daemon's own topics"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from:\n%v", want, err)
		}
	}

	path = filepath.Join(dir, "good.yaml")
	good := "devices: [{id: lab, type: sim, watchdog: {after: 5m, actions: [{topic: plug/set, payload: 'OFF'}]}}]"
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := checkConfig(path, &out, env(nil)); err != nil {
		t.Fatalf("check-config: %v", err)
	}
	for _, want := range []string{"api: auto", "after: 5m0s", "topic: plug/set", "qos: 1", "retain: false"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("%q missing from the printed config:\n%s", want, out.String())
		}
	}
}
