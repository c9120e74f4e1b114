package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pidicon/pidicon-mqtt/state"
)

// The frames run's scene: the built-in wave, 5 frames a second, which is
// also a Pixoo 64's limit; so a frame is due every frameInterval.
const (
	framesScene   = "wave"
	framesFPS     = 5.0
	frameInterval = time.Second / 5
)

// warmupFrames is how many frames every display must have received before
// the window opens: past the daemon's start-up and the driver's first
// requests (channel, frame id reset).
const warmupFrames = 5

// Frames is the frames run: N simulated Pixoo 64 displays on loopback
// HTTP, every one on the wave scene, playing, for a window after all of
// them received their first frames.
type Frames struct {
	Displays int `json:"displays"`
	// Handler is what served the displays: "lean" (the tool's counter) or
	// "sim" (device/sim's Pixoo).
	Handler string `json:"handler"`
	// WarmupSeconds is process start → every display had warmupFrames
	// (or the start-up timeout); Warm is how many had.
	WarmupSeconds float64 `json:"warmup_seconds"`
	Warm          int     `json:"warm_displays"`
	// Seconds is the measuring window.
	Seconds float64 `json:"seconds"`
	// FPS is the frames each display received in the window, per second.
	FPS FPS `json:"fps"`
	// Jitter is |interval − 200 ms| between consecutive frames of a
	// display, over all displays.
	Jitter Latency `json:"jitter"`
	// Frames, Requests, Refused and Failed count the window's frames
	// taken, API requests, requests answered with an error, and requests
	// whose body could not be read (a broken connection).
	Frames   int64 `json:"frames"`
	Requests int64 `json:"requests"`
	Refused  int64 `json:"refused"`
	Failed   int64 `json:"failed"`
	// Skipped and Errors are the daemon's own counters (its metrics
	// topics), summed over the displays, read just before and just after
	// the window (each up to a second old); MetricsDisplays is how many
	// displays' metrics were read both times.
	Skipped         int64 `json:"daemon_skipped"`
	Errors          int64 `json:"daemon_errors"`
	MetricsDisplays int   `json:"metrics_displays"`
	DaemonCPU       CPU   `json:"daemon_cpu"`
	ToolCPU         CPU   `json:"tool_cpu"`
	// Memory is the daemon's at the end of the window (heap not read).
	Memory Memory `json:"memory"`
	// LogLines is what the daemon logged (warning+) in the window.
	LogLines int `json:"log_lines"`
	// Load1 is the 1-minute load average when the window opened.
	Load1 float64 `json:"load1"`
}

// FPS summarises the frame rate of many displays.
type FPS struct {
	P50  float64 `json:"p50"`
	P1   float64 `json:"p1"` // nearest rank: the 10th lowest of 1,000
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
}

// waveState is device i's state in the frames run's state file.
func waveState(i int, at time.Time) state.State {
	st := benchState(i, at)
	st.ActiveScene = framesScene
	return st
}

// pixooDevices are the config entries of the bench devices 0..len(addrs)-1
// as Pixoo 64 displays at addrs.
func pixooDevices(addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = fmt.Sprintf("{id: %s, type: pixoo64, host: %q, api: post, max_fps: %g, probe_interval: 5s}", benchID(i), a, framesFPS)
	}
	return out
}

// runFrames serves n simulated Pixoo 64 displays, starts a daemon that
// drives them, and measures the frames they receive.
func (b *bench) runFrames(ctx context.Context, n int) (Frames, error) {
	res := Frames{Displays: n, Handler: "lean", Load1: -1}
	if b.opts.framesSim {
		res.Handler = "sim"
	}
	dir := filepath.Join(b.tmp, "frames")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("frames: %w", err)
	}
	defer os.RemoveAll(dir)
	f, err := startFarm(n, b.opts.framesSim)
	if err != nil {
		return res, fmt.Errorf("frames: %w", err)
	}
	defer f.close()
	statePath := filepath.Join(dir, "runtime-state.json")
	if err := writeStateFileOf(ctx, statePath, n, waveState); err != nil {
		return res, fmt.Errorf("frames: %w", err)
	}
	if err := b.clearRetained(ctx); err != nil {
		return res, err
	}
	d, url, err := b.startWith(ctx, dir, pixooDevices(f.addrs), statePath)
	if err != nil {
		return res, fmt.Errorf("frames: %w", err)
	}
	defer d.stop()
	b.dirty = n

	waitFor(ctx, b.opts.startupTimeout, func() bool { return f.warm(warmupFrames) == n })
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if err := d.checkAlive(); err != nil {
		return res, fmt.Errorf("frames: %w", err)
	}
	res.WarmupSeconds = time.Since(d.start).Seconds()
	res.Warm = f.warm(warmupFrames)
	if res.Warm < n {
		b.logf("frames: only %d of %d displays had %d frames within %s; measuring anyway", res.Warm, n, warmupFrames, b.opts.startupTimeout)
	}
	before, err := readMetrics(ctx, url, n, b.opts.timeout)
	if err != nil {
		return res, fmt.Errorf("frames: %w", err)
	}

	res.Load1 = loadAverage()
	logs0 := d.log.logLines()
	c0 := f.counters()
	d0, err := cpuTime(d.pid())
	if err != nil {
		return res, fmt.Errorf("frames: %w", err)
	}
	self0, err := cpuTime(os.Getpid())
	if err != nil {
		return res, fmt.Errorf("frames: %w", err)
	}
	t0 := time.Now()
	window := time.NewTimer(b.opts.framesDuration)
	defer window.Stop()
	select {
	case <-window.C:
	case <-ctx.Done():
		return res, ctx.Err()
	case <-d.exited:
		return res, fmt.Errorf("frames: %w", d.checkAlive())
	}
	t1 := time.Now()
	d1, err := cpuTime(d.pid())
	if err != nil {
		return res, fmt.Errorf("frames: %w", err)
	}
	self1, err := cpuTime(os.Getpid())
	if err != nil {
		return res, fmt.Errorf("frames: %w", err)
	}
	c1 := f.counters()
	res.LogLines = d.log.logLines() - logs0
	if res.Memory, err = readStatus(d.pid()); err != nil {
		return res, fmt.Errorf("frames: %w", err)
	}
	after, err := readMetrics(ctx, url, n, b.opts.timeout)
	if err != nil {
		return res, fmt.Errorf("frames: %w", err)
	}

	wall := t1.Sub(t0)
	res.Seconds = wall.Seconds()
	res.DaemonCPU = cpuOver(d0, d1, wall)
	res.ToolCPU = cpuOver(self0, self1, wall)
	res.Frames, res.Requests = c1.frames-c0.frames, c1.requests-c0.requests
	res.Refused, res.Failed = c1.refused-c0.refused, c1.failed-c0.failed
	for id, m := range after {
		if m0, ok := before[id]; ok {
			res.MetricsDisplays++
			res.Skipped += int64(m.Skipped) - int64(m0.Skipped)
			res.Errors += int64(m.Errors) - int64(m0.Errors)
		}
	}
	res.FPS, res.Jitter = frameRates(f.displays, t0, t1)
	if err := d.stop(); err != nil {
		return res, fmt.Errorf("frames: %w", err)
	}
	return res, nil
}

// frameRates computes each display's frame rate in [t0, t1) and the jitter
// of the intervals between its frames in that window.
func frameRates(ds []*display, t0, t1 time.Time) (FPS, Latency) {
	secs := t1.Sub(t0).Seconds()
	rates := make([]float64, 0, len(ds))
	var jitter []time.Duration
	for _, d := range ds {
		at := d.between(t0, t1)
		rates = append(rates, float64(len(at))/secs)
		for i := 1; i < len(at); i++ {
			j := at[i].Sub(at[i-1]) - frameInterval
			jitter = append(jitter, max(j, -j))
		}
	}
	var r FPS
	if len(rates) == 0 || secs <= 0 {
		return r, summarize(jitter)
	}
	slices.Sort(rates)
	r.P50 = percentileOf(rates, 50)
	r.P1 = percentileOf(rates, 1)
	r.Min = rates[0]
	var sum float64
	for _, v := range rates {
		sum += v
	}
	r.Mean = sum / float64(len(rates))
	return r, summarize(jitter)
}

// percentileOf is the nearest-rank percentile p of sorted vs.
func percentileOf(sorted []float64, p int) float64 {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 × n)
	return sorted[max(rank, 1)-1]
}

// deviceMetrics are the counters of <base>/<id>/metrics the frames run
// reads.
type deviceMetrics struct {
	Pushes  uint64 `json:"pushes"`
	Skipped uint64 `json:"skipped"`
	Errors  uint64 `json:"errors"`
}

// readMetrics reads the metrics of the bench devices 0..n-1 from a new
// subscription (QoS 0: no per-client limit on deliveries in flight): the
// retained ones, and those published meanwhile (at most a second apart
// while frames are pushed), until all came, or some came and then none
// for a second, or timeout.
func readMetrics(ctx context.Context, url string, n int, timeout time.Duration) (map[string]deviceMetrics, error) {
	var mu sync.Mutex
	got := make(map[string]deviceMetrics, n)
	var last time.Time
	c, err := dial(ctx, url, "metrics", timeout, func(m mqtt.Message) {
		id, ok := deviceOf(m.Topic(), baseTopic, "metrics")
		var dm deviceMetrics
		if !ok || json.Unmarshal(m.Payload(), &dm) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		got[id] = dm
		last = time.Now()
	})
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer c.close()
	if err := c.subscribe(ctx, map[string]byte{baseTopic + "/+/metrics": 0}); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	waitFor(ctx, timeout, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= n || (!last.IsZero() && time.Since(last) > time.Second)
	})
	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(got), ctx.Err()
}
