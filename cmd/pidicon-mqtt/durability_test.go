package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/state"
)

// TestDaemon_UnusableFileMovedAside starts the daemon on state files it
// cannot use: each is moved aside (never overwritten), the daemon runs from
// the broker's retained state, and the next write is a valid file.
func TestDaemon_UnusableFileMovedAside(t *testing.T) {
	cases := []struct {
		name  string
		write func(path string) error
	}{
		{"not JSON", func(p string) error { return os.WriteFile(p, []byte("{\"version\":1,\"devices\":{\"demo\":{"), 0o600) }},
		{"unknown version", func(p string) error { return os.WriteFile(p, []byte(`{"version":7,"devices":{}}`), 0o600) }},
		{"invalid value", func(p string) error {
			return os.WriteFile(p, []byte(`{"version":1,"devices":{"demo":{"brightness":500}}}`), 0o600)
		}},
		{"unreadable (a folder)", func(p string) error { return os.Mkdir(p, 0o700) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
			c := mqtttest.Connect(t, url)
			c.Publish("pidicon/demo/state", `{"activeScene":"clock","playState":"paused","brightness":17,"displayOn":true,"loggingLevel":"info","timestamp":"2026-01-01T00:00:00.000Z"}`, true)
			dir := t.TempDir()
			path := filepath.Join(dir, "runtime-state.json")
			if err := tc.write(path); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			config := writeConfig(t, dir, fmt.Sprintf(`
mqtt: {url: %q}
state: {path: %q, debounce: 50ms, max_delay: 200ms}
devices: [{id: demo, type: sim}]
`, url, path))
			d := startProc(t, config)
			c.Subscribe("pidicon/#")
			c.WaitFor(10*time.Second, "bridge online", func(m mqtttest.Msg) bool {
				return m.Topic == "pidicon/bridge/state" && m.Text() == "online"
			})
			waitState(t, c, "demo", func(s state.State) bool { return s.Brightness == 17 && s.ActiveScene == "clock" })

			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("files moved aside: %v, want one", aside)
			}
			if moved, _ := os.ReadFile(aside[0]); string(moved) != string(before) {
				t.Errorf("the moved file's content changed: %q, want %q", moved, before)
			}
			if !strings.Contains(d.out.String(), "cannot be used") {
				t.Errorf("no clear error in the log:\n%s", d.out.String())
			}
			c.Publish("pidicon/demo/brightness/set", "18", false)
			mqtttest.WaitUntil(t, 5*time.Second, "a valid file is written", func() bool {
				doc, err := state.ReadFile(path)
				if err != nil {
					return false
				}
				e, ok := doc.Entry("demo")
				return ok && e.Brightness != nil && *e.Brightness == 18
			})
			if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
				t.Errorf("exit code %d", code)
			}
		})
	}
}

// TestDaemon_StateFolderNotWritable runs the daemon with a state file it
// cannot write (its folder cannot be created): every failed attempt is
// reported on bridge/event, and the in-memory and retained state stay right.
func TestDaemon_StateFolderNotWritable(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-folder")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(blocker, "runtime-state.json")
	config := writeConfig(t, dir, fmt.Sprintf(`
mqtt: {url: %q}
state: {path: %q, debounce: 10ms, max_delay: 20ms}
devices: [{id: demo, type: sim}]
`, url, path))
	c := mqtttest.Connect(t, url)
	c.Subscribe("pidicon/#")
	d := startProc(t, config)
	waitState(t, c, "demo", func(s state.State) bool { return s.Brightness == 75 })
	c.Publish("pidicon/demo/brightness/set", "44", false)
	waitState(t, c, "demo", func(s state.State) bool { return s.Brightness == 44 })
	c.WaitFor(10*time.Second, "an event about the state file", func(m mqtttest.Msg) bool {
		return m.Topic == "pidicon/bridge/event" && strings.Contains(m.Text(), "state file not written")
	})
	got := mqtttest.Retained(t, url, "pidicon/demo/brightness")
	if m := got["pidicon/demo/brightness"]; m.Text() != "44" {
		t.Errorf("retained brightness %q, want 44", m.Text())
	}
	if !strings.Contains(d.out.String(), "cannot write state file") {
		t.Errorf("the failure is not in the log:\n%s", d.out.String())
	}
	// SIGTERM still exits (non-zero: the final write failed, and says so).
	if code := d.stop(syscall.SIGTERM, 5*time.Second); code == 0 {
		t.Error("exit code 0 although the state could not be written")
	}
}
