package main_test

import (
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/state"
)

// gauge is the scene file of the end-to-end test: the top-left pixel
// shows whether the power is over the param limit, the next one the
// colour of the file's version, the third the mode.
func gauge(version string) string {
	return fmt.Sprintf(`name: gauge
description: A test gauge
fps: 0
params:
  - {name: limit, type: number, default: 1000}
inputs:
  power: {topic: home/meter, field: data.power}
  mode: home/mode
layers:
  - {type: fill, color: "#000000"}
  - {type: pixel, x: 0, y: 0, color: "{{if gt .inputs.power .params.limit}}#ff0000{{else}}#00ff00{{end}}"}
  - {type: pixel, x: 1, y: 0, color: "%s"}
  - {type: pixel, x: 2, y: 0, color: "{{if eq .inputs.mode \"eco\"}}#0000ff{{else}}#ffffff{{end}}"}
`, version)
}

// TestDaemon_SceneFileLife walks a scene file through the daemon with
// MQTT only, as a user would: dropped in, it appears in bridge/info and
// the Home Assistant scene select within 2 s; set active, it draws the
// input values published; edited, the change shows; broken, an event names
// the file and line and the old version stays on; deleted, the display
// goes black with an event and activeScene stays; put back, it shows again.
func TestDaemon_SceneFileLife(t *testing.T) {
	dir := t.TempDir()
	scenes := filepath.Join(dir, "scenes")
	if err := os.Mkdir(scenes, 0o755); err != nil {
		t.Fatal(err)
	}
	pixoo, addr := pixooSim(t)
	port := freePort(t)
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	config := writeConfig(t, dir, fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
state: {path: %q}
scenes: {dir: %q}
devices:
  - {id: demo, type: pixoo64, host: %q}
`, port, filepath.Join(dir, "runtime-state.json"), scenes, addr))
	startProc(t, config)
	mqtttest.WaitAccepting(t, 10*time.Second, url)
	c := mqtttest.Connect(t, url)
	c.Subscribe("pidicon/#", "homeassistant/#")
	waitState(t, c, "demo", func(s state.State) bool { return s.ActiveScene == "startup" })
	c.Publish("home/meter", `{"data":{"power":1500}}`, true)

	infoHas := func(name string) func(mqtttest.Msg) bool {
		return func(m mqtttest.Msg) bool {
			var info struct{ Scenes []string }
			return m.Topic == "pidicon/bridge/info" && json.Unmarshal(m.Payload, &info) == nil && slices.Contains(info.Scenes, name)
		}
	}
	selectHas := func(name string) func(mqtttest.Msg) bool {
		return func(m mqtttest.Msg) bool {
			var cfg struct{ Options []string }
			return m.Topic == "homeassistant/select/pidicon/demo_scene/config" && json.Unmarshal(m.Payload, &cfg) == nil && slices.Contains(cfg.Options, name)
		}
	}

	// Dropped in.
	mark := c.Mark()
	path := filepath.Join(scenes, "gauge.yaml")
	if err := os.WriteFile(path, []byte(gauge("#ffff00")), 0o644); err != nil {
		t.Fatal(err)
	}
	dropped := time.Now()
	if _, ok := c.WaitSince(mark, 2*time.Second, infoHas("gauge")); !ok {
		t.Fatal("the new scene is not in bridge/info within 2 s")
	}
	if _, ok := c.WaitSince(mark, 2*time.Second-time.Since(dropped), selectHas("gauge")); !ok {
		t.Fatal("the new scene is not in the Home Assistant scene select within 2 s")
	}

	// Set active: the retained input value is there at once.
	frameAt := func(x int, want color.RGBA, what string) {
		t.Helper()
		mqtttest.WaitUntil(t, 10*time.Second, what, func() bool { return pixoo.Frame().RGBAAt(x, 0) == want })
	}
	red, green, yellow, blue, white, cyan := rgb(255, 0, 0), rgb(0, 255, 0), rgb(255, 255, 0), rgb(0, 0, 255), rgb(255, 255, 255), rgb(0, 255, 255)
	c.Publish("pidicon/demo/activeScene/set", "gauge", false)
	frameAt(0, red, "the retained power (1500 > 1000) shown at once")
	frameAt(1, yellow, "the file's first version")
	frameAt(2, white, "the mode without a value")
	c.Publish("home/meter", `{"data":{"power":800}}`, false)
	frameAt(0, green, "a new power value")
	c.Publish("home/mode", "eco", false)
	frameAt(2, blue, "a new mode value")
	// Parameters work as for the built-in scenes.
	c.Publish("pidicon/demo/sceneParams/set", `{"limit":500}`, false)
	frameAt(0, red, "800 over the limit set to 500")

	// Edited.
	if err := os.WriteFile(path, []byte(gauge("#00ffff")), 0o644); err != nil {
		t.Fatal(err)
	}
	frameAt(1, cyan, "the edited version")

	// Broken: an event names the file and the line; the old version stays.
	mark = c.Mark()
	if err := os.WriteFile(path, []byte(gauge("#00ffff")+"  - {type: pixel, x: 3, color: \"{{.inputs.nope}}\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ev, ok := c.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool { return m.Topic == "pidicon/bridge/event" })
	if !ok {
		t.Fatal("no event about the broken file")
	}
	var e struct{ Topic, File, Error, Level string }
	var line int
	if err := json.Unmarshal(ev.Payload, &e); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(ev.Payload, &struct{ Line *int }{&line})
	if e.File != path || e.Topic != "file:"+path || line != 14 || !strings.Contains(e.Error, `no input "nope"`) || e.Level != "error" {
		t.Errorf("event %s: want file %s, line 14, the reason", ev.Payload, path)
	}
	c.Publish("home/meter", `{"data":{"power":100}}`, false)
	frameAt(0, green, "the previous version still draws new values")
	if got := pixoo.Frame().RGBAAt(1, 0); got != cyan {
		t.Errorf("pixel 1 = %v after the broken edit, want the previous version's", got)
	}

	// Deleted: black, an event, activeScene kept.
	mark = c.Mark()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	mqtttest.WaitUntil(t, 10*time.Second, "the display goes black", func() bool {
		f := pixoo.Frame()
		return f.RGBAAt(0, 0) == rgb(0, 0, 0) && f.RGBAAt(1, 0) == rgb(0, 0, 0)
	})
	if _, ok := c.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool {
		return m.Topic == "pidicon/bridge/event" && m.JSON()["device"] == "demo" && strings.Contains(m.Text(), "gauge")
	}); !ok {
		t.Error("no event for the display whose scene went away")
	}
	if m, _ := c.Last("pidicon/demo/activeScene"); m.Text() != "gauge" {
		t.Errorf("activeScene = %q after the file went, want gauge kept", m.Text())
	}

	// Put back.
	if err := os.WriteFile(path, []byte(gauge("#ffff00")), 0o644); err != nil {
		t.Fatal(err)
	}
	frameAt(1, yellow, "the scene back")
	frameAt(0, green, "with its input values")
	if m, _ := c.Last("pidicon/demo/activeScene"); m.Text() != "gauge" {
		t.Errorf("activeScene = %q, want gauge", m.Text())
	}
	// The original pidicon's shape: the scene and its parameters at once.
	c.Publish("pidicon/demo/activeScene/set", `{"scene":"gauge","limit":50}`, false)
	frameAt(0, red, "100 over the limit 50 set with the scene")
	waitState(t, c, "demo", func(s state.State) bool { return s.SceneParams == `{"limit":50}` })
}

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{R: r, G: g, B: b, A: 255} }

// TestDaemon_ScheduleAtStartUp: an entry that came due while the daemon
// was down applies at start-up if it is newer than the restored state,
// and not if the state is newer.
func TestDaemon_ScheduleAtStartUp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stateAt time.Duration // before now
		applied bool
	}{
		{"state older than the entry", 24 * time.Hour, true},
		{"state newer than the entry", time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			now := time.Now()
			statePath := filepath.Join(dir, "runtime-state.json")
			doc := fmt.Sprintf(`{"version":1,"timestamp":%q,"devices":{"demo":{"activeScene":"clock","playState":"playing","brightness":60,"displayOn":true,"loggingLevel":"warning","timestamp":%q}}}`,
				state.FormatTime(now.Add(-tc.stateAt)), state.FormatTime(now.Add(-tc.stateAt)))
			if err := os.WriteFile(statePath, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			// The entry came due three or four minutes ago, in the local time.
			at := now.Add(-3 * time.Minute).Format("15:04")
			port := freePort(t)
			url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
			config := writeConfig(t, dir, fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
state: {path: %q}
devices:
  - id: demo
    type: sim
    schedule:
      - {at: %q, set: {brightness: 20, sceneParams: {color: "#00ff00"}, activeScene: fill}}
`, port, statePath, at))
			startProc(t, config)
			mqtttest.WaitAccepting(t, 10*time.Second, url)
			c := mqtttest.Connect(t, url)
			c.Subscribe("pidicon/#")
			if tc.applied {
				waitState(t, c, "demo", func(s state.State) bool {
					return s.Brightness == 20 && s.ActiveScene == "fill" && s.SceneParams == `{"color":"#00ff00"}`
				})
				return
			}
			waitState(t, c, "demo", func(s state.State) bool { return s.ActiveScene == "clock" })
			// Anything the schedule did would come right after the restore;
			// a command sent now is applied after it.
			c.Publish("pidicon/demo/loggingLevel/set", "info", false)
			st := c.WaitState(10*time.Second, "pidicon", "demo", func(s state.State) bool { return s.LoggingLevel == state.LevelInfo })
			if st.Brightness != 60 || st.ActiveScene != "clock" {
				t.Errorf("state %+v: the schedule applied an entry older than the restored state", st)
			}
		})
	}
}

// TestCheckScene runs check-scene on a good and a bad file: the daemon's
// messages, and the exit code.
func TestCheckScene(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte(gauge("#ffffff")), 0o644)
	os.WriteFile(bad, []byte(strings.Replace(gauge("#ffffff"), "type: pixel, x: 1", "type: pixle, x: 1", 1)), 0o644)
	out, err := exec.Command(binary, "check-scene", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `scene "gauge" is valid`) {
		t.Errorf("check-scene good.yaml: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "check-scene", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), bad+`:12: layer 3: type "pixle" is not one of`) {
		t.Errorf("check-scene bad.yaml: %v\n%s", err, out)
	}
}
