package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/sim"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// binary is the daemon built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pidicon-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pidicon-mqtt")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		// -race needs cgo; fall back to a plain build.
		out, err = exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "build daemon: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is the daemon running as a subprocess.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *testkit.Buffer
	done chan struct{}
}

// startProc runs the daemon with a config file and extra environment.
func startProc(t *testing.T, config string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, "--config", config)
	cmd.Env = append(cleanEnv(), env...)
	return startCmd(t, cmd)
}

// startCmd runs cmd, which runs the daemon, until the test ends; its
// output is logged if the test fails.
func startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, cmd: cmd, out: new(testkit.Buffer), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("daemon output:\n%s", p.out.String())
		}
	})
	return p
}

func cleanEnv() []string {
	// The race detector sleeps a second at exit by default.
	env := []string{"GORACE=atexit_sleep_ms=0"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PIDICON_") {
			env = append(env, kv)
		}
	}
	return env
}

// stop sends sig and returns the exit code, failing after limit.
func (p *proc) stop(sig syscall.Signal, limit time.Duration) int {
	p.t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		p.t.Fatalf("daemon still running %s after %v", limit, sig)
		return -1
	}
}

func freePort(t *testing.T) int { return testkit.FreePort(t) }

// pixooSim runs a simulated Pixoo 64 in the test process, as a device on
// the network would be.
func pixooSim(t *testing.T) (*sim.Pixoo, string) {
	t.Helper()
	p, srv := testkit.StartPixoo(t)
	return p, srv.Addr()
}

func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitState waits until the retained state of id satisfies ok.
func waitState(t *testing.T, c *mqtttest.Client, id string, ok func(state.State) bool) {
	t.Helper()
	c.WaitState(10*time.Second, "pidicon", id, ok)
}

// TestDaemon_SetStopRestart is the walking skeleton end to end: set over
// MQTT, SIGTERM flushes the file (long before the debounce would have), a
// restart on an empty broker restores from the file and drives the device.
func TestDaemon_SetStopRestart(t *testing.T) {
	for _, withMosquitto := range []bool{false, true} {
		name := map[bool]string{false: "embedded", true: "mosquitto"}[withMosquitto]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			pixoo, addr := pixooSim(t)
			statePath := filepath.Join(dir, "state", "runtime-state.json")
			port := freePort(t)
			url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
			var env []string
			var mosq *mqtttest.Mosquitto
			if withMosquitto {
				mosq = mqtttest.StartMosquitto(t, mqtttest.Options{})
				url = mosq.URL()
				env = append(env, "PIDICON_MQTT_URL="+url)
			}
			config := writeConfig(t, dir, fmt.Sprintf(`
mqtt: {base_topic: pidicon}
broker: {listen: "127.0.0.1:%d"}
state: {path: %q, debounce: 1m, max_delay: 5m}
devices:
  - {id: demo, name: Demo, type: pixoo64, host: %q}
`, port, statePath, addr))

			d := startProc(t, config, env...)
			mqtttest.WaitAccepting(t, 10*time.Second, url)
			c := mqtttest.Connect(t, url)
			c.Subscribe("pidicon/#")
			waitState(t, c, "demo", func(s state.State) bool { return s.Brightness == 75 })
			if !strings.Contains(d.out.String(), statePath) {
				t.Errorf("the log does not name the state file %s", statePath)
			}

			c.Publish("pidicon/demo/brightness/set", "40", false)
			mqtttest.WaitUntil(t, 10*time.Second, "the device gets brightness 40", func() bool { return pixoo.Brightness() == 40 })
			c.Publish("pidicon/demo/set", `{"brightness":10,"displayOn":false}`, false)
			waitState(t, c, "demo", func(s state.State) bool { return s.Brightness == 10 && !s.DisplayOn })

			if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
				t.Fatalf("exit code %d after SIGTERM, want 0", code)
			}
			doc, err := state.ReadFile(statePath)
			if err != nil {
				t.Fatalf("state file after SIGTERM: %v", err)
			}
			if e := doc.Devices["demo"]; e.Brightness == nil || *e.Brightness != 10 || e.DisplayOn == nil || *e.DisplayOn {
				t.Errorf("state file has demo %+v, want brightness 10 and display off", e.Patch)
			}
			if withMosquitto {
				got := mqtttest.Retained(t, url, "pidicon/bridge/state")
				if m := got["pidicon/bridge/state"]; m.Text() != "offline" {
					t.Errorf("bridge/state = %q after SIGTERM, want offline", m.Text())
				}
				// The broker forgets everything: the file alone restores.
				mosq.Stop()
				mosq.StartAgain()
			}

			// The device forgets too (a power cycle): the daemon must drive
			// it back to the restored state.
			pixoo.PowerCycle()
			before := len(pixoo.Requests())
			d = startProc(t, config, env...)
			mqtttest.WaitAccepting(t, 10*time.Second, url)
			c2 := mqtttest.Connect(t, url)
			c2.Subscribe("pidicon/#")
			waitState(t, c2, "demo", func(s state.State) bool { return s.Brightness == 10 && !s.DisplayOn })
			mqtttest.WaitUntil(t, 10*time.Second, "the device is driven to the restored state", func() bool {
				return pixoo.Brightness() == 10 && !pixoo.ScreenOn()
			})
			var sawRestore bool
			for _, r := range pixoo.Requests()[before:] {
				if r.Command == "Channel/SetBrightness" && r.Body["Brightness"] == json.Number("10") {
					sawRestore = true
				}
			}
			if !sawRestore {
				t.Error("the restarted daemon never sent Channel/SetBrightness 10")
			}
			if code := d.stop(syscall.SIGINT, 5*time.Second); code != 0 {
				t.Errorf("exit code %d after SIGINT, want 0", code)
			}
		})
	}
}

// TestDaemon_BadDeviceID checks that a config with an invalid id is refused
// at start-up, naming the id.
func TestDaemon_BadDeviceID(t *testing.T) {
	for _, id := range []string{"Kitchen", "has space", "a/b", "a+b", "a#b", "bridge"} {
		t.Run(id, func(t *testing.T) {
			dir := t.TempDir()
			config := writeConfig(t, dir, fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
state: {persist: false}
devices: [{id: %q, type: sim}]
`, freePort(t), id))
			d := startProc(t, config)
			select {
			case <-d.done:
			case <-time.After(5 * time.Second):
				t.Fatal("daemon still running with an invalid device id")
			}
			if code := d.cmd.ProcessState.ExitCode(); code == 0 {
				t.Error("exit code 0 with an invalid device id")
			}
			if !strings.Contains(d.out.String(), fmt.Sprintf("%q", id)) {
				t.Errorf("the error does not name %q: %s", id, d.out.String())
			}
		})
	}
}

// TestDaemon_ExampleConfig runs the shipped example config: it must start
// as is (the embedded broker on its port, a sim device).
func TestDaemon_ExampleConfig(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	d := startProc(t, "../../config.example.yaml",
		fmt.Sprintf("PIDICON_BROKER_LISTEN=127.0.0.1:%d", port),
		"PIDICON_STATE_PATH="+filepath.Join(dir, "state.json"))
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	mqtttest.WaitAccepting(t, 10*time.Second, fmt.Sprintf("127.0.0.1:%d", port))
	c := mqtttest.Connect(t, url)
	c.Subscribe("pidicon/#")
	m := c.WaitFor(10*time.Second, "bridge/info", func(m mqtttest.Msg) bool { return m.Topic == "pidicon/bridge/info" })
	var info struct{ Devices []struct{ ID string } }
	if err := json.Unmarshal(m.Payload, &info); err != nil || len(info.Devices) == 0 {
		t.Errorf("bridge/info %s: %v", m.Payload, err)
	}
	if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
