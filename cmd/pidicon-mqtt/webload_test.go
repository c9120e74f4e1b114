package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// TestWeb_Load: 50 open pages and 100 displays with one set a second each.
// Every page gets every change within a second, the daemon's CPU and
// memory stay bounded, and no page falls behind.
//
// By default it runs a few seconds on the race-detector build of the other
// tests; PIDICON_WEB_LOAD_DURATION=60s runs it longer on a plain build, for
// figures:
//
//	PIDICON_WEB_LOAD_DURATION=60s go test -run TestWeb_Load -v ./cmd/pidicon-mqtt
func TestWeb_Load(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the daemon's CPU time and memory from /proc")
	}
	const displays = 100
	pages := 50
	if v := os.Getenv("PIDICON_WEB_LOAD_PAGES"); v != "" { // 0: the cost of the same load without pages
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("PIDICON_WEB_LOAD_PAGES %q: want a number of pages", v)
		}
		pages = n
	}
	duration := 4 * time.Second
	bin := binary
	if v := os.Getenv("PIDICON_WEB_LOAD_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("PIDICON_WEB_LOAD_DURATION: %v", err)
		}
		duration = d
		bin = filepath.Join(t.TempDir(), "pidicon-mqtt")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
	}
	// startProc runs the package's binary; the tests of this package run
	// one at a time.
	saved := binary
	binary = bin
	defer func() { binary = saved }()

	dir := t.TempDir()
	port, httpPort := freePort(t), freePort(t)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "broker: {listen: \"127.0.0.1:%d\"}\nhttp: {listen: \"127.0.0.1:%d\"}\nstate: {persist: false}\nlog: {level: warning}\ndevices:\n", port, httpPort)
	for i := range displays {
		fmt.Fprintf(&cfg, "  - {id: m%03d, type: mock, startup_scene: clock}\n", i) // a new frame every second
	}
	d := startProc(t, writeConfig(t, dir, cfg.String()))
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	mqtttest.WaitAccepting(t, 10*time.Second, url)
	c := mqtttest.Connect(t, url)
	c.Subscribe("pidicon/m000/state")
	c.WaitState(10*time.Second, "pidicon", "m000", func(state.State) bool { return true })

	// The probe: display m000's brightness, set once a second; each page
	// notes when it sees each value.
	var (
		mu     sync.Mutex
		sentAt = make(map[int]time.Time)
		worst  time.Duration
		late   []string
	)
	type page struct {
		messages, snapshots atomic.Int64
		seen                sync.Map // probe value -> struct{}
	}
	probeTopic := []byte(`"topic":"pidicon/m000/state"`)
	all := make([]*page, pages)
	stream := fmt.Sprintf("http://127.0.0.1:%d/api/stream", httpPort)
	for i := range all {
		p := &page{}
		all[i] = p
		testkit.FollowStream(t, stream, nil, func(data []byte) {
			p.messages.Add(1)
			if bytes.Contains(data, []byte(`"type":"snapshot"`)) {
				p.snapshots.Add(1)
				return
			}
			if !bytes.Contains(data, probeTopic) {
				return
			}
			var m struct{ Payload json.RawMessage }
			if json.Unmarshal(data, &m) != nil {
				return
			}
			st, err := state.ParseStateJSON(m.Payload)
			if err != nil {
				return
			}
			now := time.Now()
			mu.Lock()
			if at, ok := sentAt[st.Brightness]; ok {
				lag := now.Sub(at)
				worst = max(worst, lag)
				if lag > time.Second {
					late = append(late, fmt.Sprintf("page %d: %d after %v", i, st.Brightness, lag))
				}
			}
			mu.Unlock()
			p.seen.Store(st.Brightness, struct{}{})
		})
	}
	mqtttest.WaitUntil(t, 10*time.Second, "every page has its snapshot", func() bool {
		for _, p := range all {
			if p.snapshots.Load() == 0 {
				return false
			}
		}
		return true
	})

	// One set a second per display, spread evenly.
	pub := mqtttest.Connect(t, url)
	tick := time.NewTicker(time.Second / displays)
	defer tick.Stop()
	var cpuStart, cpuEnd procTimes
	start := time.Now()
	warm := start.Add(time.Second)
	end := warm.Add(duration)
	var probes []int
	for n := 0; ; n++ {
		now := <-tick.C
		if cpuStart.at.IsZero() && now.After(warm) {
			cpuStart = readProcTimes(t, d.cmd.Process.Pid)
		}
		if now.After(end) {
			break
		}
		id, v := n%displays, (n/displays)%101
		if id == 0 {
			v = len(probes) % 101
			mu.Lock()
			sentAt[v] = time.Now()
			mu.Unlock()
			probes = append(probes, v)
		}
		pub.Publish(fmt.Sprintf("pidicon/m%03d/brightness/set", id), strconv.Itoa(v), false)
	}
	cpuEnd = readProcTimes(t, d.cmd.Process.Pid)
	last := probes[len(probes)-1]
	c.WaitState(5*time.Second, "pidicon", "m000", func(s state.State) bool { return s.Brightness == last })
	mqtttest.WaitUntil(t, 5*time.Second, "every page shows the last probe", func() bool {
		for _, p := range all {
			if _, ok := p.seen.Load(last); !ok {
				return false
			}
		}
		return true
	})
	mem := readProcMemory(t, d.cmd.Process.Pid)
	_, metrics := get(fmt.Sprintf("http://127.0.0.1:%d/metrics", httpPort))

	cpu := cpuEnd.cpu.Seconds() - cpuStart.cpu.Seconds()
	wall := cpuEnd.at.Sub(cpuStart.at).Seconds()
	var total, resyncs int64
	for _, p := range all {
		total += p.messages.Load()
		resyncs += p.snapshots.Load() - 1
	}
	t.Logf("%d displays, %d pages, %d sets/s for %v (%s build): daemon CPU %.0f%% of one core, VmRSS %d MB (peak %d MB), "+
		"%d messages to the pages (%.0f/s per page), %d resyncs, slowest probe to a page %v",
		displays, pages, displays, duration, map[bool]string{true: "race", false: "plain"}[bin == saved],
		100*cpu/wall, mem.rss>>10, mem.peak>>10, total, float64(total)/wall/float64(max(pages, 1)), resyncs, worst.Round(time.Millisecond))
	for _, l := range metricsLines(metrics, "pidicon_web_", "go_goroutines", "go_memstats_heap_inuse_bytes") {
		t.Log(l)
	}

	if len(late) > 0 {
		t.Errorf("changes later than 1s on a page: %v", late[:min(len(late), 5)])
	}
	if resyncs > 0 {
		t.Errorf("%d resyncs: pages that read fell behind", resyncs)
	}
	// Bounds with room for the race detector (several times slower and
	// larger) on a shared two-core machine.
	if cores := cpu / wall; cores > 1.5 {
		t.Errorf("the daemon used %.2f cores", cores)
	}
	if mem.peak > 512<<10 {
		t.Errorf("the daemon's peak memory is %d MB", mem.peak>>10)
	}
	if code := d.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// procTimes is a process's CPU time (user and system) at a moment.
type procTimes struct {
	at  time.Time
	cpu time.Duration
}

// readProcTimes reads /proc/<pid>/stat: utime and stime, in clock ticks
// of 1/100 s (USER_HZ on Linux).
func readProcTimes(t *testing.T, pid int) procTimes {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, which is in parentheses.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return procTimes{at: time.Now(), cpu: time.Duration(utime+stime) * 10 * time.Millisecond}
}

// procMemory is a process's resident memory now and at its peak, in KiB.
type procMemory struct{ rss, peak int64 }

func readProcMemory(t *testing.T, pid int) procMemory {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m procMemory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.rss = n
		case "VmHWM":
			m.peak = n
		}
	}
	return m
}

// metricsLines are the samples of /metrics whose names start with one of
// the prefixes.
func metricsLines(text string, prefixes ...string) []string {
	var out []string
	for l := range strings.Lines(text) {
		if !strings.HasPrefix(l, "#") && slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(l, p) }) {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}
