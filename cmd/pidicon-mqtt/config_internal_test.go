package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func loadYAML(t *testing.T, text string, vars map[string]string) (Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
	return loadConfig(path, env(vars))
}

func TestConfig_Defaults(t *testing.T) {
	cfg, err := loadConfig("", env(map[string]string{"PIDICON_STATE_DIR": "/srv/state"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"mqtt.url", cfg.MQTT.URL, ""},
		{"mqtt.base_topic", cfg.MQTT.BaseTopic, "pidicon"},
		{"mqtt.client_id", cfg.MQTT.ClientID, "pidicon-mqtt-pidicon"},
		{"broker.listen", cfg.Broker.Listen, "127.0.0.1:1883"},
		{"homeassistant.enabled", cfg.HomeAssistant.Enabled, true},
		{"homeassistant.discovery_prefix", cfg.HomeAssistant.DiscoveryPrefix, "homeassistant"},
		{"state.path", cfg.State.Path, "/srv/state/runtime-state.json"},
		{"state.debounce", cfg.State.Debounce, 10 * time.Second},
		{"state.max_delay", cfg.State.MaxDelay, 60 * time.Second},
		{"state.restore_wait", cfg.State.RestoreWait, time.Second},
		{"state.persist", cfg.State.Persist, true},
		{"log.level", cfg.Log.Level, "info"},
		{"log.format", cfg.Log.Format, "text"},
		{"devices", len(cfg.Devices), 1},
		{"devices[0].id", cfg.Devices[0].ID, "demo"},
		{"devices[0].type", cfg.Devices[0].Type, "sim"},
		{"devices[0].brightness", *cfg.Devices[0].Brightness, 75},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	d := cfg.Devices[0].defaults()
	if d.ActiveScene != "startup" || d.PlayState != "playing" || !d.DisplayOn || d.LoggingLevel != "warning" {
		t.Errorf("device defaults %+v", d)
	}
}

func TestConfig_EnvironmentOverridesFile(t *testing.T) {
	cfg, err := loadYAML(t, "mqtt:\n  url: tcp://file:1883\nstate:\n  debounce: 2s\n", map[string]string{
		"PIDICON_MQTT_URL":        "tcp://127.0.0.1:1999",
		"PIDICON_STATE_MAX_DELAY": "30s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.URL != "tcp://127.0.0.1:1999" || cfg.State.MaxDelay != 30*time.Second || cfg.State.Debounce != 2*time.Second {
		t.Errorf("got url %q max_delay %s debounce %s", cfg.MQTT.URL, cfg.State.MaxDelay, cfg.State.Debounce)
	}
}

func TestConfig_Validate(t *testing.T) {
	cases := []refusal{
		{"upper-case id", "devices: [{id: Kitchen, type: sim}]", `"Kitchen"`},
		{"space in id", "devices: [{id: has space, type: sim}]", `"has space"`},
		{"slash in id", "devices: [{id: a/b, type: sim}]", `"a/b"`},
		{"plus in id", "devices: [{id: a+b, type: sim}]", `"a+b"`},
		{"hash in id", "devices: [{id: 'a#b', type: sim}]", `"a#b"`},
		{"reserved id", "devices: [{id: bridge, type: sim}]", "reserved"},
		{"duplicate id", "devices: [{id: a, type: sim}, {id: a, type: sim}]", "also used"},
		{"duplicate host", "devices: [{id: a, type: pixoo64, host: 10.0.0.1}, {id: b, type: pixoo64, host: 10.0.0.1}]", "also used"},
		{"unknown type", "devices: [{id: a, type: toaster}]", "toaster"},
		{"pixoo without host", "devices: [{id: a, type: pixoo64}]", "needs a host"},
		{"unknown startup scene", "devices: [{id: a, type: sim, startup_scene: disco}]", "disco"},
		{"bad play_state", "devices: [{id: a, type: sim, play_state: dancing}]", "play_state"},
		{"bad brightness", "devices: [{id: a, type: sim, brightness: 101}]", "brightness"},
		{"bad colour", "devices: [{id: a, type: sim, fill_color: red}]", "fill_color"},
		{"max_delay below debounce", "state: {debounce: 10s, max_delay: 5s}", "max_delay"},
		{"bad url scheme", "mqtt: {url: 'http://x:1883'}", "scheme"},
		{"bad base topic", "mqtt: {base_topic: 'a/#'}", "base_topic"},
		{"base topic Home Assistant cannot use", "mqtt: {base_topic: 'home/pidicon'}", "node id"},
		{"open listener without users", "broker: {listen: '0.0.0.0:1883'}", "allow_anonymous"},
		{"bad log level", "log: {level: loud}", "log.level"},
	}
	checkRefused(t, cases)
}

// refusal is a config that must be refused, with an error mentioning want.
type refusal struct{ name, yaml, want string }

// checkRefused loads and validates each config and checks it is refused
// for the right reason.
func checkRefused(t *testing.T, cases []refusal) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadYAML(t, tc.yaml, nil)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestConfig_ValidateListsEveryProblem(t *testing.T) {
	cfg, err := loadYAML(t, "log: {level: loud}\ndevices: [{id: Bad, type: sim}, {id: ok, type: toaster}]", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := cfg.Validate().Error()
	for _, want := range []string{"log.level", `"Bad"`, "toaster"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q missing from %s", want, msg)
		}
	}
}

func TestConfig_UnknownKeyRefused(t *testing.T) {
	if _, err := loadYAML(t, "mqtt: {ulr: tcp://x:1883}", nil); err == nil || !strings.Contains(err.Error(), "ulr") {
		t.Errorf("error %v, want one naming the unknown key", err)
	}
}

func TestConfig_NestedBaseTopicWithoutHomeAssistant(t *testing.T) {
	cfg, err := loadYAML(t, "mqtt: {base_topic: 'home/pidicon'}\nhomeassistant: {enabled: false}", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("a nested base topic without discovery: %v", err)
	}
}

func TestConfig_OpenListenerAllowedExplicitly(t *testing.T) {
	cfg, err := loadYAML(t, "broker: {listen: '0.0.0.0:1883', allow_anonymous: true}", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("allow_anonymous: %v", err)
	}
}

func TestConfig_ExampleFileIsValid(t *testing.T) {
	cfg, err := loadConfig("../../config.example.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("config.example.yaml: %v", err)
	}
}
