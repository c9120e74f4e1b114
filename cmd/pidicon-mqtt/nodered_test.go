package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// nodeREDDir holds the example flow, its package.json and lock file, and
// once installed (npm ci, by .ci/run or by the test) node_modules.
const nodeREDDir = "../../examples/node-red"

// installedNodeRED returns the node binary and Node-RED's red.js, running
// npm ci first when node_modules is missing.
func installedNodeRED(t *testing.T) (node, redJS string) {
	t.Helper()
	node, errNode := exec.LookPath("node")
	npm, errNPM := exec.LookPath("npm")
	if errNode != nil || errNPM != nil {
		testkit.SkipOrFail(t, "Node.js and npm are not installed (Node-RED 4.1 needs Node.js 18.5 or later)")
	}
	out, err := exec.Command(node, "--version").Output()
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".")
	if n, _ := strconv.Atoi(major); err != nil || n < 18 {
		testkit.SkipOrFail(t, fmt.Sprintf("Node.js %s is too old for Node-RED 4.1 (18.5 or later)", strings.TrimSpace(string(out))))
	}
	dir, err := filepath.Abs(nodeREDDir)
	if err != nil {
		t.Fatal(err)
	}
	redJS = filepath.Join(dir, "node_modules", "node-red", "red.js")
	if _, err := os.Stat(redJS); err == nil {
		return node, redJS
	}
	t.Logf("%s is missing: npm ci in %s", redJS, dir)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		testkit.SkipOrFail(t, fmt.Sprintf("npm ci in %s: %v\n%s", dir, err, out))
	}
	if _, err := os.Stat(redJS); err != nil {
		testkit.SkipOrFail(t, fmt.Sprintf("npm ci did not install Node-RED: %v", err))
	}
	return node, redJS
}

// nodeRED is a headless Node-RED process running a copy of the example flow.
type nodeRED struct {
	t     *testing.T
	admin string            // admin HTTP API root
	ids   map[string]string // node name → node id, from flows.json
	cmd   *exec.Cmd
	out   *testkit.Buffer
	done  chan struct{}
}

// startNodeRED runs Node-RED (red.js, from installedNodeRED) with the
// example flow, its broker config node pointed at the daemon's port, and
// waits until its admin API reports that flow running.
func startNodeRED(t *testing.T, node, redJS string, brokerPort int) *nodeRED {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(nodeREDDir, "flows.json"))
	if err != nil {
		t.Fatal(err)
	}
	var flow []map[string]any
	if err := json.Unmarshal(data, &flow); err != nil {
		t.Fatalf("flows.json: %v", err)
	}
	ids := make(map[string]string)
	for _, n := range flow {
		switch n["type"] {
		case "mqtt-broker":
			n["port"] = strconv.Itoa(brokerPort)
		case "mqtt out":
			// "false", not "": an empty setting passes on a msg.retain.
			if n["retain"] != "false" {
				t.Errorf("flows.json: mqtt out %q has retain %q, want \"false\": commands are never retained", n["name"], n["retain"])
			}
		}
		name, _ := n["name"].(string)
		if name == "" {
			continue
		}
		if _, dup := ids[name]; dup {
			t.Fatalf("flows.json: two nodes are named %q", name)
		}
		ids[name] = n["id"].(string)
	}
	dir := t.TempDir()
	flowFile := filepath.Join(dir, "flows.json")
	data, err = json.MarshalIndent(flow, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(flowFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	uiPort := freePort(t)
	// JSON is a JavaScript expression, so the settings module is one.
	settings, err := json.MarshalIndent(map[string]any{
		"uiHost":            "127.0.0.1",
		"uiPort":            uiPort,
		"userDir":           filepath.Join(dir, "user"),
		"flowFile":          flowFile,
		"credentialSecret":  false,
		"disableEditor":     true, // the admin API stays, without auth
		"debugUseColors":    false,
		"mqttReconnectTime": 500,
		"telemetry":         map[string]any{"enabled": false, "updateNotification": false},
		"diagnostics":       map[string]any{"enabled": false, "ui": false},
		"logging":           map[string]any{"console": map[string]any{"level": "info", "metrics": false, "audit": false}},
	}, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	settingsFile := filepath.Join(dir, "settings.js")
	if err := os.WriteFile(settingsFile, []byte("module.exports = "+string(settings)+";\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	n := &nodeRED{
		t:     t,
		admin: fmt.Sprintf("http://127.0.0.1:%d", uiPort),
		ids:   ids,
		out:   new(testkit.Buffer),
		done:  make(chan struct{}),
	}
	n.cmd = exec.Command(node, redJS, "--settings", settingsFile, "--userDir", filepath.Join(dir, "user"))
	n.cmd.Dir = dir
	n.cmd.Env = append(cleanEnv(), "FORCE_COLOR=0")
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.done
		if t.Failed() {
			t.Logf("Node-RED output:\n%s", n.out.String())
		}
	})

	// GET /flows fails (and logs an error) until the flows are loaded;
	// /flows/state answers from the start.
	mqtttest.WaitUntil(t, 30*time.Second, "Node-RED's admin API reports the flows started", func() bool {
		n.checkRunning()
		var st struct{ State string }
		return n.get("/flows/state", &st) == nil && st.State == "start"
	})
	var deployed []map[string]any
	if err := n.get("/flows", &deployed); err != nil {
		t.Fatal(err)
	}
	running := make(map[any]bool)
	for _, d := range deployed {
		running[d["id"]] = true
	}
	for name, id := range ids {
		if !running[id] {
			t.Fatalf("Node-RED runs no node %q (%s)", name, id)
		}
	}
	return n
}

// get decodes the JSON answer of the admin API at path into v.
func (n *nodeRED) get(path string, v any) error {
	resp, err := http.Get(n.admin + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// checkRunning fails the test if Node-RED has exited.
func (n *nodeRED) checkRunning() {
	n.t.Helper()
	select {
	case <-n.done:
		n.t.Fatalf("Node-RED exited: %v", n.cmd.ProcessState)
	default:
	}
}

// inject clicks the button of the inject node called name, through the
// admin API (POST /inject/<id>, served by the inject node).
func (n *nodeRED) inject(name string) {
	n.t.Helper()
	id, ok := n.ids[name]
	if !ok {
		n.t.Fatalf("flows.json has no node named %q", name)
	}
	resp, err := http.Post(n.admin+"/inject/"+id, "application/json", nil)
	if err != nil {
		n.t.Fatalf("inject %q: %v", name, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		n.t.Fatalf("inject %q: %s", name, resp.Status)
	}
}

var (
	// logEntry starts each entry of Node-RED's console log ("27 Nov 01:00:00 - ").
	logEntry = regexp.MustCompile(`(?m)^\d{1,2} [A-Z][a-z]{2} \d{2}:\d{2}:\d{2} - `)
	// inspectField is one "key: value" of an object as Node.js's
	// util.inspect prints it (the debug node's console output); nested
	// objects are flattened.
	inspectField = regexp.MustCompile(`(\w+): ('(?:[^'\\]|\\.)*'|[^\s,{}\[\]]+)`)
)

// debugged returns, in order, the messages the debug node called name has
// logged to the console, each as its fields (strings unquoted). A last
// entry still being written is left out.
func (n *nodeRED) debugged(name string) []map[string]string {
	header := "[debug:" + name + "]"
	var msgs []map[string]string
	out := n.out.String()
	starts := logEntry.FindAllStringIndex(out, -1)
	for i, s := range starts {
		end := len(out)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		_, body, ok := strings.Cut(out[s[1]:end], header)
		if !ok || i+1 == len(starts) && !strings.HasSuffix(body, "}\n") {
			continue
		}
		fields := make(map[string]string)
		for _, m := range inspectField.FindAllStringSubmatch(body, -1) {
			fields[m[1]] = strings.Trim(m[2], "'")
		}
		msgs = append(msgs, fields)
	}
	return msgs
}

// waitDebugged waits until the debug node called name has logged a
// message that matches.
func (n *nodeRED) waitDebugged(name, what string, match func(map[string]string) bool) map[string]string {
	n.t.Helper()
	var got map[string]string
	mqtttest.WaitUntil(n.t, 10*time.Second, "Node-RED's debug node shows "+what, func() bool {
		n.checkRunning()
		for _, m := range n.debugged(name) {
			if match(m) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// shown is what the test compares of a device state: the fields a user
// sees, without the timestamp.
func shown(s state.State) string {
	return fmt.Sprintf("activeScene=%s playState=%s brightness=%d displayOn=%t",
		s.ActiveScene, s.PlayState, s.Brightness, s.DisplayOn)
}

// shownDebugged is shown for a state message the debug node logged.
func shownDebugged(m map[string]string) string {
	return fmt.Sprintf("activeScene=%s playState=%s brightness=%s displayOn=%s",
		m["activeScene"], m["playState"], m["brightness"], m["displayOn"])
}

// TestNodeRED_Flow runs the example Node-RED flow (examples/node-red) in a
// real headless Node-RED against the daemon: clicking its inject nodes
// through the admin API changes the device, and its mqtt in node receives
// the retained state at once and every change after. Node-RED's side is
// observed through its debug nodes, which also log to the console.
func TestNodeRED_Flow(t *testing.T) {
	node, redJS := installedNodeRED(t)
	port := freePort(t)
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	config := writeConfig(t, t.TempDir(), fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
state: {persist: false}
devices: [{id: demo, name: Demo, type: sim}]
`, port))
	startProc(t, config)
	mqtttest.WaitAccepting(t, 10*time.Second, fmt.Sprintf("127.0.0.1:%d", port))
	c := mqtttest.Connect(t, url)
	c.Subscribe("pidicon/demo/state", "pidicon/bridge/event", "pidicon/demo/notification", "pidicon/bridge/info")
	var current state.State
	waitState(t, c, "demo", func(s state.State) bool { current = s; return true })

	red := startNodeRED(t, node, redJS, port)
	const stateDebug = "Device state"
	first := red.waitDebugged(stateDebug, "the retained state", func(m map[string]string) bool {
		return m["topic"] == "pidicon/demo/state"
	})
	if first["retain"] != "true" || shownDebugged(first) != shown(current) {
		t.Fatalf("Node-RED's first state message is %v, want the retained %s", first, shown(current))
	}

	for _, step := range []struct {
		button string
		change func(*state.State)
	}{
		{"scene: fill", func(s *state.State) { s.ActiveScene, s.PlayState = "fill", state.Playing }},
		{"brightness 10", func(s *state.State) { s.Brightness = 10 }},
		{"pause", func(s *state.State) { s.PlayState = state.Paused }},
		{"display off", func(s *state.State) { s.DisplayOn = false }},
		{"JSON set: clock, paused, 30", func(s *state.State) {
			s.ActiveScene, s.PlayState, s.Brightness = "clock", state.Paused, 30
		}},
	} {
		step.change(&current)
		want := shown(current)
		red.inject(step.button)
		waitState(t, c, "demo", func(s state.State) bool { return shown(s) == want })
		red.waitDebugged(stateDebug, want, func(m map[string]string) bool {
			return m["topic"] == "pidicon/demo/state" && shownDebugged(m) == want
		})
	}

	// get republishes an unchanged state: one more message on both sides.
	demoStates := func() (n int) {
		for _, m := range red.debugged(stateDebug) {
			if m["topic"] == "pidicon/demo/state" {
				n++
			}
		}
		return n
	}
	mark, before := c.Mark(), demoStates()
	red.inject("get (republish demo)")
	if _, ok := c.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool { return m.Topic == "pidicon/demo/state" }); !ok {
		t.Fatal("no state after the get button")
	}
	mqtttest.WaitUntil(t, 10*time.Second, "Node-RED receives the republished state", func() bool {
		return demoStates() > before
	})

	// What the display shows: a notification (the display on first: one
	// that is off takes none), an image uploaded as bytes, then shown.
	red.inject("display on")
	waitState(t, c, "demo", func(s state.State) bool { return s.DisplayOn })
	red.inject("notify: hello")
	c.WaitFor(10*time.Second, "the notification on screen", func(m mqtttest.Msg) bool {
		return m.Topic == "pidicon/demo/notification" && strings.Contains(m.Text(), `"text":"Hello from Node-RED"`)
	})
	red.waitDebugged("Notifications", "the notification", func(m map[string]string) bool {
		return m["text"] == "Hello from Node-RED"
	})
	red.inject("image: upload a picture")
	c.WaitFor(10*time.Second, "the uploaded image in bridge/info", func(m mqtttest.Msg) bool {
		return m.Topic == "pidicon/bridge/info" && strings.Contains(m.Text(), `"name":"nodered","width":8,"height":8`)
	})
	red.inject("scene: the picture")
	waitState(t, c, "demo", func(s state.State) bool {
		return s.ActiveScene == "image" && s.SceneParams == `{"fit":"contain","image":"nodered"}`
	})

	for _, m := range c.Since(0) {
		if m.Topic == "pidicon/bridge/event" {
			t.Errorf("the daemon refused a command of the flow: %s", m.Payload)
		}
	}
	if strings.Contains(red.out.String(), " - [error] ") {
		t.Error("Node-RED logged an error")
	}
}
