package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
)

// Report is everything one invocation measured; --json prints it.
type Report struct {
	Machine   Machine    `json:"machine"`
	Setup     Setup      `json:"setup"`
	Baseline  Baseline   `json:"baseline"`
	SetState  SetState   `json:"set_state"`
	Sustained []Step     `json:"sustained"`
	Main      MainRun    `json:"main_run_memory"`
	Startup   []Startup  `json:"startup"`
	PerDevice PerDevice  `json:"per_device"`
	Default   DefaultRun `json:"default_config"`
	Persist   []Persist  `json:"persistence"`
	Targets   []Target   `json:"targets"`
}

// Setup is how the tool was run.
type Setup struct {
	Devices  int    `json:"devices"`
	Samples  int    `json:"samples"`
	Window   int    `json:"window"`
	Duration string `json:"duration"`
	Broker   string `json:"broker"`
	HA       bool   `json:"homeassistant"`
	Daemon   string `json:"daemon"`
}

// PerDevice is the memory each extra device costs: the difference between
// the two largest start-up runs, divided by their difference in devices.
type PerDevice struct {
	From  int     `json:"from_devices"`
	To    int     `json:"to_devices"`
	RSSKB float64 `json:"rss_kb"`
	// HeapKB is -1 when the heap was not known in both runs.
	HeapKB float64 `json:"heap_kb"`
	// HeapBeyondFramesKB is HeapKB less the controller's two frame buffers.
	HeapBeyondFramesKB float64 `json:"heap_beyond_frames_kb"`
}

// perDevice derives the memory per device from the start-up runs.
func perDevice(runs []Startup) PerDevice {
	p := PerDevice{HeapKB: -1, HeapBeyondFramesKB: -1}
	rs := slices.SortedFunc(slices.Values(runs), func(a, b Startup) int { return cmp.Compare(a.Devices, b.Devices) })
	if len(rs) < 2 {
		return p
	}
	a, b := rs[len(rs)-2], rs[len(rs)-1]
	dn := float64(b.Devices - a.Devices)
	if dn <= 0 {
		return p
	}
	p.From, p.To = a.Devices, b.Devices
	p.RSSKB = float64(b.Memory.RSSKB-a.Memory.RSSKB) / dn
	if a.Memory.HeapMB >= 0 && b.Memory.HeapMB >= 0 {
		p.HeapKB = float64(b.Memory.HeapMB-a.Memory.HeapMB) * 1024 / dn
		p.HeapBeyondFramesKB = p.HeapKB - frameBytesPerDevice/1024
	}
	return p
}

// Target is one goal of issue 8 and whether this run reached it.
type Target struct {
	Name   string `json:"name"`
	Want   string `json:"want"`
	Got    string `json:"got"`
	Status string `json:"status"` // PASS, MISS or N/A
}

func status(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// evaluate compares the report with issue 8's targets.
func evaluate(r *Report) []Target {
	var ts []Target
	rtt := r.Baseline.RoundTrip
	set := r.SetState.Latency
	ts = append(ts, Target{
		Name:   "set → state p99",
		Want:   "≤ 2 × broker round trip p99 (mock devices: no device HTTP round trip)",
		Got:    fmt.Sprintf("%.2f ms; limit 2 × %.2f = %.2f ms", set.P99ms, rtt.P99ms, 2*rtt.P99ms),
		Status: status(set.N > 0 && r.SetState.Lost == 0 && set.P99ms <= 2*rtt.P99ms),
	})

	t := Target{Name: "sustained sets", Want: fmt.Sprintf("≥ 50%% of the broker's relay rate (window %d)", r.Setup.Window), Status: "N/A"}
	for _, s := range r.Sustained {
		if s.Window == min(r.Setup.Window, r.Setup.Devices) {
			t.Got = fmt.Sprintf("%.0f sets/s = %.0f%% of %.0f msg/s", s.SetRate, 100*s.Ratio, s.BrokerRate)
			t.Status = status(s.Ratio >= 0.5)
		}
	}
	ts = append(ts, t)

	d := r.Default
	rss := max(d.AfterStart.RSSKB, d.AfterSettle.RSSKB)
	ts = append(ts, Target{
		Name: "RSS, default config",
		Want: "≤ 12 MB",
		Got: fmt.Sprintf("%.1f MB VmRSS (peak VmHWM %.1f MB; anonymous %.1f MB, mapped files %.1f MB)",
			mb(rss), mb(max(d.AfterStart.HWMKB, d.AfterSettle.HWMKB)), mb(d.AfterSettle.AnonKB), mb(d.AfterSettle.FileKB)),
		Status: status(rss > 0 && rss <= 12*1024),
	})

	p := r.PerDevice
	t = Target{Name: "heap per device", Want: "≤ 1 KB beyond frame buffers", Status: "N/A", Got: "no heap figures"}
	if p.HeapKB >= 0 {
		t.Got = fmt.Sprintf("%.1f KB − %d KB of frames = %.1f KB (%d → %d devices)", p.HeapKB, frameBytesPerDevice/1024, p.HeapBeyondFramesKB, p.From, p.To)
		t.Status = status(p.HeapBeyondFramesKB <= 1)
	}
	ts = append(ts, t)

	t = Target{Name: "start-up, 1,000 devices", Want: "restored and republished ≤ 1 s", Status: "N/A", Got: "not run"}
	for _, s := range r.Startup {
		if s.Devices == 1000 {
			t.Got = fmt.Sprintf("%.2f s, %d of %d states, %d restored", s.Seconds, s.States, s.Devices, s.Restored)
			t.Status = status(s.Complete() && s.Restored == s.Devices && s.Seconds <= 1)
		}
	}
	ts = append(ts, t)

	t = Target{Name: "state file, 10,000 devices", Want: "≤ 50 ms per write (p99)", Status: "N/A", Got: "not run"}
	for _, s := range r.Persist {
		if s.Devices == 10000 {
			t.Got = fmt.Sprintf("p50 %.1f ms, p99 %.1f ms (%d writes)", s.Write.P50ms, s.Write.P99ms, s.Write.N)
			t.Status = status(s.Write.N > 0 && s.Write.P99ms <= 50)
		}
	}
	return append(ts, t)
}

func mb(kb int) float64 { return float64(kb) / 1024 }

// printTable writes the report for people.
func printTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	m, s := r.Machine, r.Setup
	p("pidicon-bench: %d mock devices, broker %s, Home Assistant %s, %d samples, window %d, %s per load step",
		s.Devices, s.Broker, onOff(s.HA), s.Samples, s.Window, s.Duration)
	p("machine: %d CPUs, %s, %s %s, kernel %s, state files on %s", m.CPUs, m.CPU, m.Go, m.OS, m.Kernel, m.StateFS)
	p("")
	p("1. Broker baseline (QoS 1 publish → echo client → back)")
	p("\tround trip\tp50 %.3f ms\tp99 %.3f ms\tmax %.3f ms\t(%d samples, %d lost)",
		r.Baseline.RoundTrip.P50ms, r.Baseline.RoundTrip.P99ms, r.Baseline.RoundTrip.Maxms, r.Baseline.RoundTrip.N, r.Baseline.Lost)
	for _, st := range r.Sustained {
		p("\trelay rate, window %d\t%.0f msg/s\tp50 %.3f ms\tp99 %.3f ms\t(%d lost)", st.Window, st.BrokerRate, st.BrokerLat.P50ms, st.BrokerLat.P99ms, st.BrokerLost)
	}
	p("")
	p("2. set → retained state seen by a subscriber (one at a time, across devices)")
	ss := r.SetState
	p("\tlatency\tp50 %.3f ms\tp99 %.3f ms\tmax %.3f ms\t(%d samples, %d lost)", ss.Latency.P50ms, ss.Latency.P99ms, ss.Latency.Maxms, ss.Latency.N, ss.Lost)
	p("\tratio to round trip\tp50 %.2f×\tp99 %.2f×", ss.RatioP50, ss.RatioP99)
	p("")
	p("3. Sustained sets (W outstanding, each done when its state arrives)")
	p("\twindow\tsets/s\tp50\tp99\tlost\tbroker msg/s\tratio")
	for _, st := range r.Sustained {
		p("\t%d\t%.0f\t%.3f ms\t%.3f ms\t%d\t%.0f\t%.0f%%", st.Window, st.SetRate, st.SetLat.P50ms, st.SetLat.P99ms, st.SetLost, st.BrokerRate, 100*st.Ratio)
	}
	p("")
	p("4. Start-up with a state file (process start → every device's state seen)")
	p("\tdevices\tseconds\tstates\trestored\t'#' from the start (of N×%d)\t'#' late, retained\tRSS\theap", len(deviceLeaves()))
	for _, st := range r.Startup {
		p("\t%d\t%.3f\t%d\t%d\t%d of %d\t%d of %d\t%.1f MB\t%s", st.Devices, st.Seconds, st.States, st.Restored,
			st.Topics, st.TopicsExpected, st.Late, st.TopicsExpected, mb(st.Memory.RSSKB), heap(st.Memory.HeapMB))
	}
	p("")
	p("5. Memory (VmRSS, peak VmHWM; heap: live after a GC, gctrace, whole MB)")
	mr := r.Main
	n := float64(max(s.Devices, 1))
	p("\tmain run, after start\t%.1f MB\tpeak %.1f MB\theap %s\t%.1f KB RSS per device", mb(mr.AfterStart.RSSKB), mb(mr.AfterStart.HWMKB), heap(mr.AfterStart.HeapMB), float64(mr.AfterStart.RSSKB)/n)
	p("\tmain run, after load\t%.1f MB\tpeak %.1f MB\theap %s\t%.1f KB RSS per device", mb(mr.AfterLoad.RSSKB), mb(mr.AfterLoad.HWMKB), heap(mr.AfterLoad.HeapMB), float64(mr.AfterLoad.RSSKB)/n)
	for _, d := range []struct {
		when string
		m    Memory
	}{{"after start", r.Default.AfterStart}, {"after " + s.Duration, r.Default.AfterSettle}} {
		p("\tdefault config, %s\t%.1f MB\tpeak %.1f MB\theap %s\tanon %.1f MB + file %.1f MB",
			d.when, mb(d.m.RSSKB), mb(d.m.HWMKB), heap(d.m.HeapMB), mb(d.m.AnonKB), mb(d.m.FileKB))
	}
	if pd := r.PerDevice; pd.To > 0 {
		h := "heap unknown"
		if pd.HeapKB >= 0 {
			h = fmt.Sprintf("heap %.1f KB", pd.HeapKB)
		}
		p("\tper extra device (%d → %d)\tRSS %.1f KB\t%s", pd.From, pd.To, pd.RSSKB, h)
	}
	p("\tdaemon log lines (warning+) in the main run\t%d", mr.LogLines)
	p("")
	p("6. Persistence (atomic state-file write vs plain write+fsync of the same bytes)")
	p("\tdevices\tbytes\tB/device\twrite p50\twrite p99\tfsync p50\tratio")
	for _, ps := range r.Persist {
		p("\t%d\t%d\t%.0f\t%.2f ms\t%.2f ms\t%.2f ms\t%.2f×", ps.Devices, ps.Bytes, ps.BytesPerDevice, ps.Write.P50ms, ps.Write.P99ms, ps.Fsync.P50ms, ps.Ratio)
	}
	p("")
	p("Targets (issue 8)")
	for _, t := range r.Targets {
		p("\t%s\t%s\t%s: %s", t.Status, t.Name, t.Want, t.Got)
	}
	return tw.Flush()
}

func heap(mb int) string {
	if mb < 0 {
		return "?"
	}
	return fmt.Sprintf("%d MB", mb)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
