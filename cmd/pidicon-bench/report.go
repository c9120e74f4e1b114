package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
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
	Frames    *Frames    `json:"frames,omitempty"`
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
	// Build says how the daemon was built (plain, release, or given).
	Build       string `json:"build"`
	DaemonBytes int64  `json:"daemon_bytes"`
	// Main reports whether the main run (sections 1-3) ran.
	Main bool `json:"main_run"`
}

// PerDevice is the memory each extra device costs: the difference between
// the two largest start-up runs, divided by their difference in devices.
type PerDevice struct {
	From  int     `json:"from_devices"`
	To    int     `json:"to_devices"`
	RSSKB float64 `json:"rss_kb"`
	// HeapKB is -1 when the heap was not known in both runs.
	HeapKB float64 `json:"heap_kb"`
	// HeapBeyondFramesKB is HeapKB less what a controller holds in frame
	// buffers (frameBytesPerDevice).
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

// Target is one goal of issue 8 or 16 and whether this run reached it.
type Target struct {
	Issue  int    `json:"issue"`
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

// evaluate compares the report with the targets of issues 8 and 16.
func evaluate(r *Report) []Target {
	ts := evaluate8(r)
	for i := range ts {
		ts[i].Issue = 8
	}
	for _, t := range evaluate16(r) {
		t.Issue = 16
		ts = append(ts, t)
	}
	return ts
}

// evaluate8 compares the report with issue 8's targets.
func evaluate8(r *Report) []Target {
	var ts []Target
	rtt := r.Baseline.RoundTrip
	set := r.SetState.Latency
	t := Target{Name: "set → state p99", Want: "≤ 2 × broker round trip p99 (mock devices: no device HTTP round trip)", Status: "N/A", Got: "not run"}
	if r.Setup.Main {
		t.Got = fmt.Sprintf("%.2f ms; limit 2 × %.2f = %.2f ms", set.P99ms, rtt.P99ms, 2*rtt.P99ms)
		t.Status = status(set.N > 0 && r.SetState.Lost == 0 && set.P99ms <= 2*rtt.P99ms)
	}
	ts = append(ts, t)

	t = Target{Name: "sustained sets", Want: fmt.Sprintf("≥ 50%% of the broker's relay rate (window %d)", r.Setup.Window), Status: "N/A", Got: "not run"}
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
		Got: fmt.Sprintf("%.1f MB VmRSS (peak VmHWM %.1f MB; anonymous %.1f MB, mapped files %.1f MB; %s build)",
			mb(rss), mb(max(d.AfterStart.HWMKB, d.AfterSettle.HWMKB)), mb(d.AfterSettle.AnonKB), mb(d.AfterSettle.FileKB), buildKind(r.Setup.Build)),
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

// evaluate16 compares the report with issue 16's targets.
func evaluate16(r *Report) []Target {
	var ts []Target
	late := func(name, filter, what string, of func(Startup) *Late) {
		t := Target{Name: name, Want: "every " + what + " to a QoS 1 subscriber on " + filter + " after the start, at every start-up size", Status: "N/A", Got: "not run"}
		var got []string
		ok := true
		for _, s := range r.Startup {
			l := of(s)
			if l == nil {
				continue
			}
			got = append(got, fmt.Sprintf("%d devices: %d of %d", s.Devices, l.Received, l.Expected))
			ok = ok && l.Complete()
		}
		if len(got) > 0 {
			t.Got, t.Status = strings.Join(got, "; "), status(ok)
		}
		ts = append(ts, t)
	}
	late("late subscriber, state", baseTopic+"/#", "retained topic under the base topic", func(s Startup) *Late { return &s.LateBase })
	late("late subscriber, discovery", discoveryPrefix+"/#", "discovery config (--ha)", func(s Startup) *Late { return s.LateHA })

	p := r.PerDevice
	limit := 30.0
	if r.Setup.Broker != embeddedBroker {
		limit = 20
	}
	t := Target{Name: "RSS per extra display", Want: "≤ 30 KB with the embedded broker, ≤ 20 KB with an external one (1,000 → 10,000 mock displays)", Status: "N/A", Got: "needs start-up runs of 1,000 and 10,000"}
	if p.From == 1000 && p.To == 10000 {
		t.Got = fmt.Sprintf("%.1f KB (limit %.0f KB)", p.RSSKB, limit)
		t.Status = status(p.RSSKB <= limit)
	}
	ts = append(ts, t)

	d := r.Default
	rss := max(d.AfterStart.RSSKB, d.AfterSettle.RSSKB)
	t = Target{Name: "RSS, default config, release build", Want: "≤ 12 MB", Status: "N/A", Got: fmt.Sprintf("%s build: run with --release", buildKind(r.Setup.Build))}
	if buildKind(r.Setup.Build) == "release" {
		t.Got = fmt.Sprintf("%.1f MB VmRSS (binary %.1f MB)", mb(rss), float64(r.Setup.DaemonBytes)/(1<<20))
		t.Status = status(rss > 0 && rss <= 12*1024)
	}
	ts = append(ts, t)

	frames := func(name, want string, got func(Frames) float64, limit float64) {
		t := Target{Name: name, Want: want + " (1,000 Pixoo 64 displays on loopback, wave at 5 fps)", Status: "N/A", Got: "not run (--frames 1000)"}
		if f := r.Frames; f != nil {
			t.Got = fmt.Sprintf("%.2f fps (%d displays, %.0f s; daemon CPU %.0f %% of one CPU)", got(*f), f.Displays, f.Seconds, f.DaemonCPU.PercentCore)
			if f.Displays >= 1000 {
				t.Status = status(got(*f) >= limit)
			}
		}
		ts = append(ts, t)
	}
	frames("frames per display, p50", "≥ 4.9 fps", func(f Frames) float64 { return f.FPS.P50 }, 4.9)
	frames("frames per display, p1", "≥ 4.5 fps", func(f Frames) float64 { return f.FPS.P1 }, 4.5)
	return ts
}

// buildKind is the first word of Setup.Build: plain, release or given.
func buildKind(build string) string {
	k, _, _ := strings.Cut(build, ":")
	k, _, _ = strings.Cut(k, " ")
	return k
}

func mb(kb int) float64 { return float64(kb) / 1024 }

// printTable writes the report for people.
func printTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	m, s := r.Machine, r.Setup
	p("pidicon-bench: %d mock devices, broker %s, Home Assistant %s, %d samples, window %d, %s per load step",
		s.Devices, s.Broker, onOff(s.HA), s.Samples, s.Window, s.Duration)
	p("machine: %d CPUs, %s, %s %s, kernel %s, state files on %s; load average (1 min) %.2f at the start, %.2f at the end",
		m.CPUs, m.CPU, m.Go, m.OS, m.Kernel, m.StateFS, m.Load1Start, m.Load1End)
	p("daemon: %s; build %s; binary %.1f MB", s.Daemon, s.Build, float64(s.DaemonBytes)/(1<<20))
	p("")
	if s.Main {
		printMain(p, r)
	} else {
		p("1.-3. Main run skipped (--main=false)")
		p("")
	}
	p("4. Start-up with a state file (process start → every device's state seen)")
	p("\tdevices\tseconds\tstates\trestored\t'#' from the start (of N×%d)\tlate on %s/# (of N×%d)\tRSS\theap", len(deviceLeaves()), baseTopic, len(deviceLeaves()))
	for _, st := range r.Startup {
		p("\t%d\t%.3f\t%d\t%d\t%d of %d\t%d of %d\t%.1f MB\t%s", st.Devices, st.Seconds, st.States, st.Restored,
			st.Topics, st.TopicsExpected, st.Late, st.TopicsExpected, mb(st.Memory.RSSKB), heap(st.Memory.HeapMB))
	}
	if len(r.Startup) > 0 {
		p("   Late subscribers (QoS 1, one after the other, once the daemon is up): retained topics received of those the daemon keeps")
		p("\tdevices\tfilter\treceived\tduplicates\textra\tdelivery\tdaemon RSS before → peak\tmissing (sample confirmed retained)")
		for _, st := range r.Startup {
			for _, l := range []*Late{&st.LateBase, st.LateHA} {
				if l == nil {
					continue
				}
				peak := "peak"
				if !l.PeakExact {
					peak = "peak of 10 ms polls"
				}
				p("\t%d\t%s\t%d of %d\t%d\t%d\t%.3f s\t%.1f → %.1f MB (+%.1f MB, %s)\t%d (%d of %d)", st.Devices, l.Filter, l.Received, l.Expected,
					l.Duplicates, l.Extra, l.Seconds, mb(l.RSSBeforeKB), mb(l.RSSPeakKB), mb(l.RSSPeakKB-l.RSSBeforeKB), peak,
					l.Expected-l.Received, l.Confirmed, len(l.Missing))
			}
		}
	}
	p("")
	p("5. Memory (VmRSS, peak VmHWM; heap: live after a GC, gctrace, whole MB)")
	mr := r.Main
	if s.Main {
		n := float64(max(s.Devices, 1))
		p("\tmain run, after start\t%.1f MB\tpeak %.1f MB\theap %s\t%.1f KB RSS per device", mb(mr.AfterStart.RSSKB), mb(mr.AfterStart.HWMKB), heap(mr.AfterStart.HeapMB), float64(mr.AfterStart.RSSKB)/n)
		p("\tmain run, after load\t%.1f MB\tpeak %.1f MB\theap %s\t%.1f KB RSS per device", mb(mr.AfterLoad.RSSKB), mb(mr.AfterLoad.HWMKB), heap(mr.AfterLoad.HeapMB), float64(mr.AfterLoad.RSSKB)/n)
	}
	for _, d := range []struct {
		when string
		m    Memory
	}{{"after start", r.Default.AfterStart}, {"after " + s.Duration, r.Default.AfterSettle}} {
		p("\tdefault config (%s build), %s\t%.1f MB\tpeak %.1f MB\theap %s\tanon %.1f MB + file %.1f MB",
			buildKind(s.Build), d.when, mb(d.m.RSSKB), mb(d.m.HWMKB), heap(d.m.HeapMB), mb(d.m.AnonKB), mb(d.m.FileKB))
	}
	if pd := r.PerDevice; pd.To > 0 {
		h := "heap unknown"
		if pd.HeapKB >= 0 {
			h = fmt.Sprintf("heap %.1f KB", pd.HeapKB)
		}
		p("\tper extra device (%d → %d)\tRSS %.1f KB\t%s", pd.From, pd.To, pd.RSSKB, h)
	}
	if s.Main {
		p("\tdaemon log lines (warning+) in the main run\t%d", mr.LogLines)
	}
	p("")
	p("6. Persistence (atomic state-file write vs plain write+fsync of the same bytes)")
	p("\tdevices\tbytes\tB/device\twrite p50\twrite p99\tfsync p50\tratio")
	for _, ps := range r.Persist {
		p("\t%d\t%d\t%.0f\t%.2f ms\t%.2f ms\t%.2f ms\t%.2f×", ps.Devices, ps.Bytes, ps.BytesPerDevice, ps.Write.P50ms, ps.Write.P99ms, ps.Fsync.P50ms, ps.Ratio)
	}
	p("")
	if f := r.Frames; f != nil {
		printFrames(p, f)
		p("")
	}
	p("Targets (issues 8 and 16)")
	for _, t := range r.Targets {
		p("\t%s\t%s\t#%d\t%s: %s", t.Status, t.Name, t.Issue, t.Want, t.Got)
	}
	return tw.Flush()
}

// printMain prints sections 1 to 3, the main run.
func printMain(p func(string, ...any), r *Report) {
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
}

// printFrames prints section 7, the frames run.
func printFrames(p func(string, ...any), f *Frames) {
	p("7. Frames: %d simulated Pixoo 64 displays on loopback HTTP (%s handler), all on the %s scene (%g fps)", f.Displays, f.Handler, framesScene, framesFPS)
	p("\twarm-up\t%.1f s until %d of %d displays had %d frames", f.WarmupSeconds, f.Warm, f.Displays, warmupFrames)
	p("\twindow\t%.1f s\tload average (1 min) %.2f at its start", f.Seconds, f.Load1)
	p("\tframes per display per second\tp50 %.2f\tp1 %.2f\tmin %.2f\tmean %.2f", f.FPS.P50, f.FPS.P1, f.FPS.Min, f.FPS.Mean)
	p("\tjitter |interval − %s|\tp50 %.1f ms\tp99 %.1f ms\tmax %.1f ms\t(%d intervals)", frameInterval, f.Jitter.P50ms, f.Jitter.P99ms, f.Jitter.Maxms, f.Jitter.N)
	p("\trequests\t%d\tframes %d\trefused %d\tfailed %d", f.Requests, f.Frames, f.Refused, f.Failed)
	p("\tdaemon's counters\tskipped %d\terrors %d\t(metrics of %d displays)\tlog lines %d", f.Skipped, f.Errors, f.MetricsDisplays, f.LogLines)
	p("\tdaemon CPU\t%.1f s\t%.0f %% of one CPU\t%.0f %% of the machine", f.DaemonCPU.Seconds, f.DaemonCPU.PercentCore, f.DaemonCPU.PercentMachine)
	p("\ttool CPU (the displays)\t%.1f s\t%.0f %% of one CPU\t%.0f %% of the machine", f.ToolCPU.Seconds, f.ToolCPU.PercentCore, f.ToolCPU.PercentMachine)
	p("\tdaemon memory, end of window\t%.1f MB\tpeak %.1f MB\t%.1f KB per display", mb(f.Memory.RSSKB), mb(f.Memory.HWMKB), float64(f.Memory.RSSKB)/float64(max(f.Displays, 1)))
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
