package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfig_DevicesKeyWithoutValue: "devices:" with nothing under it is
// refused, saying how to write what was meant; it used to create the demo
// display. "devices: []" is no display; no key at all is the demo display.
func TestConfig_DevicesKeyWithoutValue(t *testing.T) {
	for _, text := range []string{"devices:\n", "devices: ~\n", "devices:\n  # - id: living-room\n  #   type: pixoo64\n"} {
		cfg, err := loadYAML(t, text, nil)
		if err == nil || !strings.Contains(err.Error(), "devices: the key has no value") || !strings.Contains(err.Error(), "devices: []") {
			t.Errorf("%q: error %v, want one saying the key has no value and how to write none", text, err)
		}
		if len(cfg.Devices) != 0 {
			t.Errorf("%q: devices %+v, want none", text, cfg.Devices)
		}
	}
	cfg, err := loadYAML(t, "devices: []\n", nil)
	if err != nil || len(cfg.Devices) != 0 {
		t.Errorf("devices: [] gives %+v, %v; want no device and no error", cfg.Devices, err)
	}
	cfg, err = loadYAML(t, "log: {level: debug}\n", nil)
	if err != nil || len(cfg.Devices) != 1 || cfg.Devices[0].ID != "demo" {
		t.Errorf("no devices key gives %+v, %v; want the demo display", cfg.Devices, err)
	}
}

// TestConfig_FileWithoutYAMLExtension: a config file named without an
// extension viper knows is read as YAML (it failed with "Unsupported
// Config Type").
func TestConfig_FileWithoutYAMLExtension(t *testing.T) {
	for _, name := range []string{"config", "config.conf", "pidicon.cfg", "config.YAML", "config.ini", "config.hcl", "config.properties"} {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte("log: {level: debug}\ndevices: [{id: desk, type: sim}]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(path, env(nil))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if cfg.Log.Level != "debug" || len(cfg.Devices) != 1 || cfg.Devices[0].ID != "desk" {
			t.Errorf("%s: log.level %q, devices %+v; want the file's", name, cfg.Log.Level, cfg.Devices)
		}
	}
	// A known extension keeps its format.
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"log": {"level": "warning"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := loadConfig(path, env(nil)); err != nil || cfg.Log.Level != "warning" {
		t.Errorf("config.json: log.level %q, %v", cfg.Log.Level, err)
	}
}
