package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pidicon/pidicon-mqtt/schedule"
)

func TestConfig_Schedule(t *testing.T) {
	cfg, err := loadYAML(t, `
state: {persist: false}
devices:
  - id: demo
    type: sim
    schedule:
      - {at: "07:00", days: [mon, fri], set: {displayOn: true, activeScene: clock, sceneParams: {myColor: "#ff0000"}}}
      - {at: "22:30:10", set: {brightness: 10}}
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	entries, err := cfg.Devices[0].scheduleEntries()
	if err != nil || len(entries) != 2 {
		t.Fatalf("entries %v, %v", entries, err)
	}
	e := entries[0]
	if e.Device != "demo" || e.At != (schedule.Clock{Hour: 7}) || !e.Days[1] || !e.Days[5] || e.Days[0] {
		t.Errorf("entry %+v", e)
	}
	// Keys keep their case (viper makes them lower case).
	if want := `{"activeScene":"clock","displayOn":true,"sceneParams":{"myColor":"#ff0000"}}`; string(e.Set) != want {
		t.Errorf("set %s, want %s", e.Set, want)
	}
	if !entries[1].Days[0] || !entries[1].Days[6] || entries[1].At.Second != 10 {
		t.Errorf("entry %+v: want every day at 22:30:10", entries[1])
	}
}

func TestConfig_ScheduleRefused(t *testing.T) {
	checkRefused(t, []refusal{
		{"bad time", "devices: [{id: a, type: sim, schedule: [{at: '7am', set: {brightness: 1}}]}]", `schedule[0]: at "7am"`},
		{"bad day", "devices: [{id: a, type: sim, schedule: [{at: '07:00', days: [monday], set: {brightness: 1}}]}]", `day "monday"`},
		{"no set", "devices: [{id: a, type: sim, schedule: [{at: '07:00'}]}]", "schedule[0]: set"},
		{"bad value", "devices: [{id: a, type: sim, schedule: [{at: '07:00', set: {brightness: 500}}]}]", "brightness"},
		{"unknown field", "devices: [{id: a, type: sim, schedule: [{at: '07:00', set: {volume: 5}}]}]", "volume"},
		{"unknown entry key", "devices: [{id: a, type: sim, schedule: [{at: '07:00', when: x, set: {brightness: 1}}]}]", "when"},
	})
}

func TestConfig_Scenes(t *testing.T) {
	dir := t.TempDir()
	scenes := filepath.Join(dir, "scenes")
	os.Mkdir(scenes, 0o755)
	os.WriteFile(filepath.Join(scenes, "dash.yaml"), []byte("name: dash\nlayers: [{type: fill}]\n"), 0o644)
	cfg, err := loadYAML(t, "state: {path: "+filepath.Join(dir, "state.json")+"}\ndevices: [{id: a, type: sim, startup_scene: dash}]\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Scenes.Dir != scenes {
		t.Errorf("scenes.dir = %q, want scenes/ beside the state file", cfg.Scenes.Dir)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("a scene file's scene as startup_scene: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	cfg.Scenes.Dir = file
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "scenes.dir") {
		t.Errorf("scenes.dir a file: %v", err)
	}
}
