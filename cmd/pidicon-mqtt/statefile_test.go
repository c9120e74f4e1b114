package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// readOnlyDaemon is a daemon on its embedded broker whose state folder
// refuses new files (as a root-owned /data does to the image's user), with
// a client watching everything under pidicon/.
type readOnlyDaemon struct {
	*proc
	path     string // the state file
	httpPort int
	client   *mqtttest.Client
	writable func() // makes the state folder writable again
}

// startReadOnly writes content (if any) to the state file, makes its
// folder read-only and starts the daemon.
func startReadOnly(t *testing.T, content string) *readOnlyDaemon {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	d := &readOnlyDaemon{path: filepath.Join(data, "runtime-state.json"), httpPort: freePort(t)}
	if content != "" {
		if err := os.WriteFile(d.path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	brokerPort := freePort(t)
	config := writeConfig(t, dir, fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
http: {listen: "127.0.0.1:%d"}
state: {path: %q, debounce: 50ms, max_delay: 200ms}
devices: [{id: demo, type: sim}]
`, brokerPort, d.httpPort, d.path))
	d.writable = testkit.ReadOnlyDir(t, data)
	d.proc = startProc(t, config)
	url := fmt.Sprintf("tcp://127.0.0.1:%d", brokerPort)
	mqtttest.WaitAccepting(t, 10*time.Second, url)
	d.client = mqtttest.Connect(t, url)
	d.client.Subscribe("pidicon/#")
	d.client.WaitFor(10*time.Second, "bridge online", func(m mqtttest.Msg) bool {
		return m.Topic == "pidicon/bridge/state" && m.Text() == "online"
	})
	return d
}

// health returns /healthz's status code and body.
func (d *readOnlyDaemon) health() (int, string) {
	return get(fmt.Sprintf("http://127.0.0.1:%d/healthz", d.httpPort))
}

// waitHealth waits until /healthz answers code with a body containing
// text.
func (d *readOnlyDaemon) waitHealth(code int, text string) {
	d.t.Helper()
	mqtttest.WaitUntil(d.t, 20*time.Second, fmt.Sprintf("/healthz answers %d %q", code, text), func() bool {
		got, body := d.health()
		return got == code && strings.Contains(body, text)
	})
}

// writable reports pidicon_state_writable from /metrics (-1: missing).
func (d *readOnlyDaemon) writableMetric() float64 {
	v, ok := scrape(d.httpPort)["pidicon_state_writable"]
	if !ok {
		return -1
	}
	return v
}

// fileEvent waits for an event about the state file and checks its shape:
// topic "file:<path>", file <path>, never the bridge's state topic.
func (d *readOnlyDaemon) fileEvent(mark int, text string) {
	d.t.Helper()
	m, ok := d.client.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool {
		return m.Topic == "pidicon/bridge/event" && strings.Contains(m.Text(), text)
	})
	if !ok {
		d.t.Fatalf("no event on pidicon/bridge/event saying %q", text)
	}
	var ev struct {
		Topic, File, Level, Error string
		Payload                   *string
	}
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		d.t.Fatalf("event %s: %v", m.Payload, err)
	}
	if ev.Topic != "file:"+d.path || ev.File != d.path || ev.Level != "error" {
		d.t.Errorf("event %s: want topic %q, file %q, level error", m.Payload, "file:"+d.path, d.path)
	}
	for _, m := range d.client.Since(mark) {
		if m.Topic == "pidicon/bridge/event" && strings.Contains(m.Text(), `"topic":"pidicon/bridge/state"`) {
			d.t.Errorf("an event names the bridge's state topic: %s", m.Payload)
		}
	}
}

// TestDaemon_UnusableFileKeptUntilMovedAside: a corrupt state file in a
// folder that does not let it be moved aside is never written over
// (CONTRACT §4), though the state changes: the daemon keeps the state on
// the broker, reports every failed attempt and answers 503 on /healthz.
// Once the folder is writable, the next attempt moves the file aside
// unchanged and then writes a valid one.
func TestDaemon_UnusableFileKeptUntilMovedAside(t *testing.T) {
	const corrupt = `{"version":1,"devices":{"demo":{"brightness":`
	d := startReadOnly(t, corrupt)
	mark := d.client.Mark()
	d.client.Publish("pidicon/demo/brightness/set", "33", false)
	waitState(t, d.client, "demo", func(s state.State) bool { return s.Brightness == 33 })
	d.fileEvent(mark, "not written over")
	d.waitHealth(503, "state file cannot be written")
	if got, _ := os.ReadFile(d.path); string(got) != corrupt {
		t.Fatalf("the unusable file was written over: %q", got)
	}
	if out := d.out.String(); strings.Contains(out, "will be replaced") || !strings.Contains(out, "not written over") {
		t.Errorf("the log does not say that the file is kept:\n%s", out)
	}

	d.writable()
	mqtttest.WaitUntil(t, 20*time.Second, "the unusable file moved aside unchanged, then a valid file written", func() bool {
		aside, _ := filepath.Glob(d.path + ".corrupt-*")
		if len(aside) != 1 {
			return false
		}
		if moved, _ := os.ReadFile(aside[0]); string(moved) != corrupt {
			t.Fatalf("%s holds %q, want the unusable file's content %q", aside[0], moved, corrupt)
		}
		doc, err := state.ReadFile(d.path)
		if err != nil {
			return false
		}
		e, ok := doc.Entry("demo")
		return ok && e.Brightness != nil && *e.Brightness == 33
	})
	d.waitHealth(200, "ok")
	if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if aside, _ := filepath.Glob(d.path + ".corrupt-*"); len(aside) != 1 {
		t.Errorf("files moved aside: %v, want one", aside)
	}
}

// TestDaemon_UnwritableStateFolder: a state folder the daemon cannot
// write (a root-owned /data bind mount) is an error at start-up with how
// to fix it, /healthz answers 503 with the reason and pidicon_state_writable
// is 0 until a write succeeds; each failed write is an event about the
// file. Once the folder is writable the state is written and the daemon is
// healthy again.
func TestDaemon_UnwritableStateFolder(t *testing.T) {
	d := startReadOnly(t, "")
	var startLine string
	for _, line := range strings.Split(d.out.String(), "\n") {
		if strings.Contains(line, "state file cannot be written") {
			startLine = line
			break
		}
	}
	if !strings.Contains(startLine, " ERR ") || !strings.Contains(startLine, "chown") {
		t.Errorf("start-up line %q: want an ERR line saying how to fix it (chown)\n%s", startLine, d.out.String())
	}
	d.waitHealth(503, "state file cannot be written")
	if v := d.writableMetric(); v != 0 {
		t.Errorf("pidicon_state_writable %v, want 0", v)
	}
	mark := d.client.Mark()
	d.client.Publish("pidicon/demo/brightness/set", "21", false)
	waitState(t, d.client, "demo", func(s state.State) bool { return s.Brightness == 21 })
	d.fileEvent(mark, "state file not written")
	if v := d.writableMetric(); v != 0 {
		t.Errorf("pidicon_state_writable %v after a failed write, want 0", v)
	}

	d.writable()
	d.waitHealth(200, "ok")
	if v := d.writableMetric(); v != 1 {
		t.Errorf("pidicon_state_writable %v once written, want 1", v)
	}
	doc, err := state.ReadFile(d.path)
	if err != nil {
		t.Fatalf("healthy again, but the state file: %v", err)
	}
	if e, ok := doc.Entry("demo"); !ok || e.Brightness == nil || *e.Brightness != 21 {
		t.Errorf("state file entry %+v, want brightness 21", e)
	}
	if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
