package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
)

// TestRun runs the whole tool with tiny numbers against the embedded
// broker, Home Assistant on, with the frames run and the release build, so
// that it cannot rot: every section is measured and printed, and the
// figures are sane. The late subscribers must get every retained topic
// (a broker started for the run holds nothing else), and the displays of
// the frames run every frame without a refusal.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon several times")
	}
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	args := []string{
		"--json", "--devices", "3", "--samples", "20", "--duration", "300ms",
		"--windows", "1,2", "--window", "2", "--startup", "1,10", "--persist", "10,100", "--writes", "3", "--heap-wait", "300ms",
		"--ha", "--frames", "3", "--frames-duration", "1s", "--release",
		"--dir", t.TempDir(),
	}
	if err := run(ctx, args, &stdout, t.Output()); err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout.Bytes())
	}

	sane := func(what string, l Latency, n int) {
		t.Helper()
		if l.N != n || l.P50ms <= 0 || l.P50ms > l.P99ms || l.P99ms > l.Maxms || l.Maxms > 10_000 {
			t.Errorf("%s: want %d samples with 0 < p50 ≤ p99 ≤ max < 10 s, got %+v", what, n, l)
		}
	}
	sane("round trip", rep.Baseline.RoundTrip, 20)
	sane("set → state", rep.SetState.Latency, 20)
	if rep.Baseline.Lost != 0 || rep.SetState.Lost != 0 {
		t.Errorf("lost: round trip %d, set → state %d", rep.Baseline.Lost, rep.SetState.Lost)
	}
	if len(rep.Sustained) != 2 {
		t.Fatalf("sustained: want windows 1 and 2, got %+v", rep.Sustained)
	}
	for _, s := range rep.Sustained {
		if s.BrokerRate <= 0 || s.SetRate <= 0 || s.Ratio <= 0 || s.SetLat.N == 0 {
			t.Errorf("sustained window %d: %+v", s.Window, s)
		}
	}
	if len(rep.Startup) != 2 {
		t.Fatalf("start-up: want 1 and 10 devices, got %+v", rep.Startup)
	}
	for _, s := range rep.Startup {
		if !s.Complete() || s.Restored != s.Devices || s.Seconds <= 0 || s.Memory.RSSKB <= 0 {
			t.Errorf("start-up of %d: %+v", s.Devices, s)
		}
		if s.Topics != s.TopicsExpected || s.Late != s.TopicsExpected {
			t.Errorf("start-up of %d: the '#' subscribers got %d and %d (late) of %d topics", s.Devices, s.Topics, s.Late, s.TopicsExpected)
		}
		// Per device at least the device topics, and a light, three
		// selects and sensors in Home Assistant.
		checkLate(t, s.Devices, "pidicon/#", &s.LateBase, s.TopicsExpected)
		checkLate(t, s.Devices, "homeassistant/#", s.LateHA, 5*s.Devices)
	}
	if rep.Setup.Build == "" || !strings.HasPrefix(rep.Setup.Build, "release") || rep.Setup.DaemonBytes < 1<<20 {
		t.Errorf("setup: build %q, %d bytes", rep.Setup.Build, rep.Setup.DaemonBytes)
	}
	checkFrames(t, rep.Frames, 3)
	for _, m := range []Memory{rep.Main.AfterStart, rep.Main.AfterLoad, rep.Default.AfterStart, rep.Default.AfterSettle} {
		if m.RSSKB <= 0 || m.HWMKB < m.RSSKB || m.AnonKB <= 0 {
			t.Errorf("memory: %+v", m)
		}
	}
	if len(rep.Persist) != 2 {
		t.Fatalf("persistence: want 10 and 100 devices, got %+v", rep.Persist)
	}
	for _, p := range rep.Persist {
		if p.BytesPerDevice < 50 || p.Write.N != 3 || p.Write.P50ms <= 0 || p.Fsync.P50ms <= 0 {
			t.Errorf("persistence of %d: %+v", p.Devices, p)
		}
	}
	if len(rep.Targets) != 12 {
		t.Errorf("targets: want 12, got %+v", rep.Targets)
	}
	for _, tg := range rep.Targets {
		if strings.HasPrefix(tg.Name, "late subscriber") && tg.Status != "PASS" {
			t.Errorf("target %q: %s, want PASS", tg.Name, tg.Status)
		}
	}

	var table bytes.Buffer
	if err := printTable(&table, &rep); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"1. Broker baseline", "2. set → retained state", "3. Sustained sets",
		"4. Start-up", "5. Memory", "6. Persistence", "7. Frames", "Targets"} {
		if !strings.Contains(table.String(), "\n"+s) {
			t.Errorf("the table has no section %q:\n%s", s, table.String())
		}
	}
	for _, tg := range rep.Targets {
		if !regexp.MustCompile(`\n +` + regexp.QuoteMeta(tg.Status) + ` +` + regexp.QuoteMeta(tg.Name)).MatchString(table.String()) {
			t.Errorf("the table does not show target %q as %s:\n%s", tg.Name, tg.Status, table.String())
		}
	}
	t.Log("\n" + table.String())
}

// TestRun_Mosquitto runs the start-up runs with Home Assistant and the
// frames run against mosquitto, whose retained topics outlive a run: a
// topic an earlier invocation left (one the daemon does not clear itself)
// must be deleted before the first run, and those of the first run before
// the second, so that the late subscribers get exactly the daemon's topics.
func TestRun_Mosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon several times")
	}
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after mosquitto's own clean-up
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Extra: []string{"set_tcp_nodelay true"}})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	old, err := dial(ctx, broker.URL(), "earlier", 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"pidicon/bench-99999/metrics", "homeassistant/sensor/pidicon/bench-99999_errors/config"} {
		if err := old.publish(ctx, topic, []byte(`{"left":"over"}`), true); err != nil {
			t.Fatal(err)
		}
	}
	old.close()

	var stdout bytes.Buffer
	args := []string{
		"--json", "--broker", broker.URL(), "--main=false", "--startup", "1,10", "--persist", "", "--ha",
		"--frames", "3", "--frames-duration", "1s", "--heap-wait", "300ms", "--duration", "300ms", "--dir", t.TempDir(),
	}
	if err := run(ctx, args, &stdout, t.Output()); err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout.Bytes())
	}
	if len(rep.Startup) != 2 {
		t.Fatalf("start-up: want 1 and 10 devices, got %+v", rep.Startup)
	}
	for _, s := range rep.Startup {
		if !s.Complete() || s.Restored != s.Devices || s.Topics != s.TopicsExpected || s.Late != s.TopicsExpected {
			t.Errorf("start-up of %d: %+v", s.Devices, s)
		}
		checkLate(t, s.Devices, "pidicon/#", &s.LateBase, s.TopicsExpected)
		checkLate(t, s.Devices, "homeassistant/#", s.LateHA, 5*s.Devices)
	}
	checkFrames(t, rep.Frames, 3)
}

// checkLate checks that a late subscriber got every one of at least
// atLeast retained topics, once each.
func checkLate(t *testing.T, devices int, filter string, l *Late, atLeast int) {
	t.Helper()
	if l == nil {
		t.Errorf("start-up of %d: no late subscriber on %s", devices, filter)
		return
	}
	if l.Filter != filter || l.Expected < atLeast || !l.Complete() || l.Duplicates != 0 || l.Extra != 0 || len(l.Missing) != 0 ||
		l.Seconds <= 0 || l.RSSBeforeKB <= 0 || l.RSSPeakKB < l.RSSBeforeKB {
		t.Errorf("start-up of %d: late subscriber on %s: %+v; want every one of at least %d topics, once", devices, filter, *l, atLeast)
	}
}

// checkFrames checks the frames run of n displays.
func checkFrames(t *testing.T, f *Frames, n int) {
	t.Helper()
	if f == nil {
		t.Fatal("no frames run")
	}
	if f.Displays != n || f.Warm != n || f.Handler != "lean" || f.Seconds <= 0 || f.Load1 < 0 {
		t.Errorf("frames run: %+v", *f)
	}
	if f.Frames <= 0 || f.Requests < f.Frames || f.Refused != 0 || f.Failed != 0 || f.Errors != 0 || f.MetricsDisplays != n {
		t.Errorf("frames run: %d requests, %d frames, %d refused, %d failed, daemon errors %d (metrics of %d displays)",
			f.Requests, f.Frames, f.Refused, f.Failed, f.Errors, f.MetricsDisplays)
	}
	if f.FPS.Min <= 0 || f.FPS.Min > f.FPS.P1 || f.FPS.P1 > f.FPS.P50 || f.Jitter.N == 0 {
		t.Errorf("frames run: rate %+v, jitter %+v", f.FPS, f.Jitter)
	}
	// A few displays for a second may cost the daemon less than the 10 ms
	// that /proc counts in; the tool itself has used more by now.
	if f.DaemonCPU.Seconds < 0 || f.DaemonCPU.PercentMachine > f.DaemonCPU.PercentCore || f.Memory.RSSKB <= 0 {
		t.Errorf("frames run: daemon CPU %+v, memory %+v", f.DaemonCPU, f.Memory)
	}
	if self, err := cpuTime(os.Getpid()); err != nil || self <= 0 {
		t.Errorf("the tool's own CPU time: %v, %v", self, err)
	}
}

// TestBuildDaemon_Release checks that --release builds as the Dockerfile
// does: a static binary without symbol table or debug information.
func TestBuildDaemon_Release(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon")
	}
	bin, err := buildDaemon(t.Context(), t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the release build is linked dynamically (it has an interpreter)")
		}
	}
	for _, name := range []string{".symtab", ".debug_info", ".zdebug_info"} {
		if f.Section(name) != nil {
			t.Errorf("the release build has a %s section", name)
		}
	}
}

// TestParseFlags_Rejects checks that bad flags are refused with a usage
// error before anything runs.
func TestParseFlags_Rejects(t *testing.T) {
	for _, args := range [][]string{
		{"--devices", "0"},
		{"--windows", "1,x"},
		{"--startup", "0"},
		{"--broker", "mqtt.example:1883"},
		{"--duration", "0s"},
		{"--frames", "-1"},
		{"--frames", "100000"},
		{"--frames-duration", "0s"},
		{"--release", "--daemon", "/bin/true"},
		{"extra"},
	} {
		var out bytes.Buffer
		if _, err := parseFlags(args, &out); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}
