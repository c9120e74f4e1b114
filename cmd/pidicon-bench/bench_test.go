package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestRun runs the whole tool with tiny numbers against the embedded
// broker, so that it cannot rot: every section is measured and printed,
// and the figures are sane.
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
	}
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
	if len(rep.Targets) != 6 {
		t.Errorf("targets: want 6, got %+v", rep.Targets)
	}

	var table bytes.Buffer
	if err := printTable(&table, &rep); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"1. Broker baseline", "2. set → retained state", "3. Sustained sets",
		"4. Start-up", "5. Memory", "6. Persistence", "Targets"} {
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

// TestParseFlags_Rejects checks that bad flags are refused with a usage
// error before anything runs.
func TestParseFlags_Rejects(t *testing.T) {
	for _, args := range [][]string{
		{"--devices", "0"},
		{"--windows", "1,x"},
		{"--startup", "0"},
		{"--broker", "mqtt.example:1883"},
		{"--duration", "0s"},
		{"extra"},
	} {
		var out bytes.Buffer
		if _, err := parseFlags(args, &out); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}
