package main_test

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/sim"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// TestSoak runs the daemon for PIDICON_SOAK_DURATION (default 10s) under a
// random mix of faults, one at a time: bursts of set commands on many
// devices, broker restarts that lose every retained message, displays
// unplugged and plugged in again, SIGKILL and restart of the daemon, and
// Home Assistant birth messages. After each step:
//
//   - the retained state of every device equals the last command the daemon
//     accepted (nothing lost, not even across a SIGKILL: the broker or the
//     file still holds it),
//   - the state file is a complete valid file,
//   - the displays show the desired brightness,
//   - the events are few (one per refused command or fault transition, no
//     storm),
//
// and over the run the daemon's memory does not keep growing.
//
//	PIDICON_SOAK_DURATION=30m PIDICON_SOAK_SEED=7 go test -run Soak -v ./cmd/pidicon-mqtt
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test")
	}
	duration := 10 * time.Second
	if v := os.Getenv("PIDICON_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("PIDICON_SOAK_DURATION=%q: %v", v, err)
		}
		duration = d
	}
	seed := uint64(envInt(t, "PIDICON_SOAK_SEED", 1))
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("soak for %s, seed %d (PIDICON_SOAK_DURATION, PIDICON_SOAK_SEED)", duration, seed)

	mosq := mqtttest.StartMosquitto(t, mqtttest.Options{Extra: []string{"set_tcp_nodelay true"}})
	url := mosq.URL()
	dir := t.TempDir()
	statePath := filepath.Join(dir, "runtime-state.json")

	// Displays on the network (simulated in this process, so they can be
	// unplugged), and many in-memory ones.
	type display struct {
		id  string
		dev *sim.Pixoo
		srv *sim.Server
	}
	var displays []display
	var lines []string
	for i := range 4 {
		p, srv := testkit.StartPixoo(t)
		id := fmt.Sprintf("px%d", i)
		displays = append(displays, display{id, p, srv})
		lines = append(lines, fmt.Sprintf("  - {id: %s, type: pixoo64, host: %q, probe_interval: 200ms}", id, srv.Addr()))
	}
	ids := []string{}
	for _, d := range displays {
		ids = append(ids, d.id)
	}
	for i := range 40 {
		id := fmt.Sprintf("mk%02d", i)
		ids = append(ids, id)
		lines = append(lines, fmt.Sprintf("  - {id: %s, type: mock}", id))
	}
	httpPort := freePort(t)
	config := writeConfig(t, dir, fmt.Sprintf(`
mqtt: {url: %q, client_id: soak}
state: {path: %q, debounce: 100ms, max_delay: 500ms}
http: {listen: "127.0.0.1:%d"}
log: {level: warning}
devices:
%s
`, url, statePath, httpPort, strings.Join(lines, "\n")))

	watch := mqtttest.Connect(t, url)
	watch.Subscribe("pidicon/+/state", "pidicon/bridge/event")
	cmd := mqtttest.Connect(t, url)

	want := map[string]int{} // id -> brightness of the last accepted command
	for _, id := range ids {
		want[id] = 75
	}
	d := startProc(t, config)
	// Samples after each step of the current process, and of the longest
	// lived one so far.
	var rss, longestRSS []int                   // kB
	var goroutines, longestGoroutines []float64 // from /metrics

	// checkAll waits until every device's retained state equals want.
	checkAll := func(step string) {
		t.Helper()
		var bad string
		// paho's reconnect backoff grows when connections keep dropping
		// (broker restarts in a row), up to its 30 s maximum.
		deadline := time.Now().Add(45 * time.Second)
		for {
			got := mqtttest.Retained(t, url, "pidicon/+/state")
			bad = ""
			for _, id := range ids {
				st, err := state.ParseStateJSON(got["pidicon/"+id+"/state"].Payload)
				if err != nil || st.Brightness != want[id] {
					bad = fmt.Sprintf("%s: retained %q, want brightness %d", id, got["pidicon/"+id+"/state"].Payload, want[id])
					break
				}
			}
			if bad == "" || time.Now().After(deadline) {
				break
			}
			// Wait for the next state message (or a moment) and look again.
			watch.WaitSince(watch.Mark(), 200*time.Millisecond, func(m mqtttest.Msg) bool { return true })
		}
		if bad != "" {
			t.Fatalf("seed %d, after %s: %s\n%s", seed, step, bad, d.out.String())
		}
		// Each step starts from a durable point: the file holds every
		// accepted command too (within max_delay), so that the next fault
		// is a single failure (a crash and a broker restart before the
		// daemon restored would be two).
		mqtttest.WaitUntil(t, 10*time.Second, "the state file holds every accepted command", func() bool {
			doc, err := state.ReadFile(statePath)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("seed %d, after %s: state file: %v", seed, step, err)
				}
				return false
			}
			for _, id := range ids {
				if e, ok := doc.Devices[id]; !ok || e.Brightness == nil || *e.Brightness != want[id] {
					return false
				}
			}
			return true
		})
		for _, dp := range displays {
			mqtttest.WaitUntil(t, 10*time.Second, dp.id+" shows the desired brightness", func() bool {
				return dp.dev.Brightness() == want[dp.id]
			})
		}
		if kb := rssKB(d.cmd.Process.Pid); kb > 0 {
			rss = append(rss, kb)
		}
		if m := scrape(httpPort); m != nil {
			goroutines = append(goroutines, m["go_goroutines"])
		}
	}

	// sets sends a burst of commands and waits until each is accepted.
	sets := func(n int) {
		t.Helper()
		for range n {
			id := ids[rng.IntN(len(ids))]
			v := rng.IntN(101)
			if v == want[id] {
				v = (v + 1) % 101
			}
			mark := watch.Mark()
			cmd.Publish("pidicon/"+id+"/brightness/set", strconv.Itoa(v), false)
			if _, ok := watch.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool {
				st, err := state.ParseStateJSON(m.Payload)
				return m.Topic == "pidicon/"+id+"/state" && err == nil && st.Brightness == v
			}); !ok {
				t.Fatalf("seed %d: set %s=%d not accepted:\n%s", seed, id, v, d.out.String())
			}
			want[id] = v
		}
	}

	checkAll("start")
	steps := map[string]int{}
	events, mark := 0, watch.Mark()
	countEvents := func() {
		for _, m := range watch.Since(mark) {
			if m.Topic == "pidicon/bridge/event" {
				events++
			}
		}
		mark = watch.Mark()
	}
	for start := time.Now(); time.Since(start) < duration; {
		step := []string{"sets", "sets", "broker-restart", "outage", "kill", "birth"}[rng.IntN(6)]
		steps[step]++
		switch step {
		case "sets":
			sets(1 + rng.IntN(30))
		case "broker-restart":
			countEvents()
			mosq.Stop()
			mosq.StartAgain()
			watch = mqtttest.Connect(t, url)
			watch.Subscribe("pidicon/+/state", "pidicon/bridge/event")
			cmd = mqtttest.Connect(t, url)
			mark = 0
		case "outage":
			dp := displays[rng.IntN(len(displays))]
			if err := dp.srv.Down(); err != nil {
				t.Fatal(err)
			}
			watch.Subscribe("pidicon/" + dp.id + "/availability")
			watch.WaitFor(10*time.Second, dp.id+" offline", func(m mqtttest.Msg) bool {
				return m.Topic == "pidicon/"+dp.id+"/availability" && m.Text() == "offline"
			})
			v := (want[dp.id] + 1 + rng.IntN(99)) % 101
			mark := watch.Mark()
			cmd.Publish("pidicon/"+dp.id+"/brightness/set", strconv.Itoa(v), false)
			watch.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool { return m.Topic == "pidicon/"+dp.id+"/state" })
			want[dp.id] = v
			dp.dev.PowerCycle()
			if err := dp.srv.Up(); err != nil {
				t.Fatal(err)
			}
		case "kill":
			mark := watch.Mark()
			d.cmd.Process.Signal(syscall.SIGKILL)
			<-d.done
			// The broker sends our last will: offline.
			if _, ok := watch.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool {
				return m.Topic == "pidicon/bridge/state" && m.Text() == "offline"
			}); !ok {
				t.Fatalf("seed %d: no last will (offline) after SIGKILL", seed)
			}
			mark = watch.Mark()
			d = startProc(t, config)
			if _, ok := watch.WaitSince(mark, 15*time.Second, func(m mqtttest.Msg) bool {
				return m.Topic == "pidicon/bridge/state" && m.Text() == "online"
			}); !ok {
				t.Fatalf("seed %d: the restarted daemon never came online:\n%s", seed, d.out.String())
			}
			if len(rss) > len(longestRSS) {
				longestRSS, longestGoroutines = rss, goroutines
			}
			rss, goroutines = nil, nil // a new process
		case "birth":
			cmd.Publish("homeassistant/status", "online", false)
		}
		checkAll(step)
	}
	countEvents()
	t.Logf("steps: %v, events: %d", steps, events)

	// No event storm: no command is refused here, so events are the fault
	// transitions of the outages (and of displays during restarts).
	if limit := 4*steps["outage"] + 4*len(displays)*(steps["kill"]+steps["broker-restart"]) + 4; events > limit {
		t.Errorf("%d events for %v: more than %d", events, steps, limit)
	}
	if len(rss) > len(longestRSS) {
		longestRSS, longestGoroutines = rss, goroutines
	}
	rss, goroutines = longestRSS, longestGoroutines
	// No growth: the longest-lived process's resident memory at its end is
	// within 25% (and 4 MB) of what it was after its first third of steps.
	if n := len(rss); n >= 6 {
		early, last := rss[n/3], rss[n-1]
		if last > early+early/4 && last-early > 4096 {
			t.Errorf("RSS grew from %d kB to %d kB over %d steps", early, last, n-n/3)
		}
		t.Logf("RSS of the longest-lived process: %d kB -> %d kB over %d steps", early, last, n-n/3)
	}
	// No goroutine leak: the count at the end of that process is where it
	// was after the first third of its steps (give or take a few
	// connections in progress).
	if n := len(goroutines); n >= 6 {
		early, last := goroutines[n/3], goroutines[n-1]
		if last > early+10 {
			t.Errorf("goroutines grew from %v to %v over %d steps", early, last, n-n/3)
		}
		t.Logf("goroutines of the longest-lived process: %v -> %v over %d steps", early, last, n-n/3)
	}
	if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// scrape reads the daemon's /metrics (unlabelled samples only), or nil.
func scrape(port int) map[string]float64 {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// rssKB reads a process's resident set size, or 0.
func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
