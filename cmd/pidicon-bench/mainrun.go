package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Baseline is the broker's own performance, measured in the same run.
type Baseline struct {
	// RoundTrip is publish → echo → back, one message at a time.
	RoundTrip Latency `json:"round_trip"`
	Lost      int     `json:"lost"`
}

// SetState is set command → retained state seen, one at a time.
type SetState struct {
	Latency Latency `json:"latency"`
	Lost    int     `json:"lost"`
	// RatioP50 and RatioP99 compare with the broker's round trip.
	RatioP50 float64 `json:"ratio_p50"`
	RatioP99 float64 `json:"ratio_p99"`
}

// Step is one window of the sustained load: the broker's relay and the
// daemon's sets, each for the load duration.
type Step struct {
	Window     int     `json:"window"`
	BrokerRate float64 `json:"broker_msgs_per_s"`
	BrokerLat  Latency `json:"broker_latency"`
	BrokerLost int     `json:"broker_lost"`
	SetRate    float64 `json:"sets_per_s"`
	SetLat     Latency `json:"set_latency"`
	SetLost    int     `json:"sets_lost"`
	// Ratio is SetRate / BrokerRate.
	Ratio float64 `json:"ratio"`
}

// MainRun is the memory of the daemon that served the load.
type MainRun struct {
	AfterStart Memory `json:"after_start"`
	AfterLoad  Memory `json:"after_load"`
	// LogLines is what the daemon logged (warnings and errors).
	LogLines int `json:"log_lines"`
}

// warmup is how many operations run before each latency series.
const warmup = 10

// runMain starts the daemon with the configured devices and measures the
// broker baseline, set → state latency and the sustained load.
func (b *bench) runMain(ctx context.Context, rep *Report) error {
	n := b.opts.devices
	dir := filepath.Join(b.tmp, "main")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := b.clearRetained(ctx); err != nil {
		return err
	}
	b.logf("main run: daemon with %d mock devices", n)
	d, url, err := b.startBench(ctx, dir, n, filepath.Join(dir, "runtime-state.json"))
	if err != nil {
		return err
	}
	defer d.stop()
	b.dirty = n
	s, err := newSetter(ctx, url, baseTopic, ids(n), b.opts.startupTimeout)
	if err != nil {
		return err
	}
	defer s.close()
	if rep.Main.AfterStart, err = sampleMemory(ctx, d, b.gcWait()); err != nil {
		return err
	}
	e, err := newEcho(ctx, url, b.opts.timeout)
	if err != nil {
		return err
	}
	defer e.close()

	seq := loadSpec{window: 1, count: b.opts.samples, timeout: b.opts.timeout}
	warm := loadSpec{window: 1, count: min(warmup, b.opts.samples), timeout: b.opts.timeout}
	b.logf("broker round trip: %d samples", b.opts.samples)
	if _, err := e.run(ctx, warm); err != nil {
		return err
	}
	rtt, err := e.run(ctx, seq)
	if err != nil {
		return err
	}
	rep.Baseline = Baseline{RoundTrip: summarize(rtt.Lat), Lost: rtt.Lost}

	b.logf("set → state: %d samples", b.opts.samples)
	if _, err := s.run(ctx, warm); err != nil {
		return err
	}
	st, err := s.run(ctx, seq)
	if err != nil {
		return err
	}
	rep.SetState = SetState{Latency: summarize(st.Lat), Lost: st.Lost}
	rep.SetState.RatioP50 = ratio(rep.SetState.Latency.P50ms, rep.Baseline.RoundTrip.P50ms)
	rep.SetState.RatioP99 = ratio(rep.SetState.Latency.P99ms, rep.Baseline.RoundTrip.P99ms)

	for _, w := range b.windows() {
		b.logf("sustained load: window %d, %s each", w, b.opts.duration)
		spec := loadSpec{window: w, dur: b.opts.duration, timeout: b.opts.timeout}
		relay, err := e.run(ctx, spec)
		if err != nil {
			return err
		}
		sets, err := s.run(ctx, spec)
		if err != nil {
			return err
		}
		rep.Sustained = append(rep.Sustained, Step{
			Window:     w,
			BrokerRate: relay.rate(),
			BrokerLat:  summarize(relay.Lat),
			BrokerLost: relay.Lost,
			SetRate:    sets.rate(),
			SetLat:     summarize(sets.Lat),
			SetLost:    sets.Lost,
			Ratio:      ratio(sets.rate(), relay.rate()),
		})
	}
	if rep.Main.AfterLoad, err = sampleMemory(ctx, d, b.gcWait()); err != nil {
		return err
	}
	rep.Main.LogLines = d.log.logLines()
	if err := d.stop(); err != nil {
		return fmt.Errorf("main run: %w", err)
	}
	return nil
}

// windows is the ramp of windows, each at most one set per device.
func (b *bench) windows() []int {
	var out []int
	for _, w := range append(slices.Clone(b.opts.windows), b.opts.window) {
		out = append(out, min(w, b.opts.devices))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
