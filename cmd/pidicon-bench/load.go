package main

import (
	"context"
	"fmt"
	"time"
)

// done is the completion of one operation: the answer for slot's
// operation number seq arrived at at.
type done struct {
	slot int
	seq  uint64
	at   time.Time
}

// loadSpec says how drive runs: window operations outstanding, until count
// operations were answered or lost (0: no limit) or for dur (0: no limit).
type loadSpec struct {
	window  int
	count   int
	dur     time.Duration
	timeout time.Duration // an operation not answered by then is lost
}

// loadResult is what drive measured.
type loadResult struct {
	Done    int             // operations answered while measuring
	Lost    int             // operations not answered within the timeout
	Elapsed time.Duration   // measuring time
	Lat     []time.Duration // latency of each answered operation
}

// rate is the answered operations per second.
func (r loadResult) rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Done) / r.Elapsed.Seconds()
}

// starter begins operation on slot and returns its number, which the
// answer carries in done.seq. A slot has one operation at a time.
type starter func(slot int) (uint64, error)

// drive keeps spec.window operations outstanding and collects the answers
// from dones until the count or duration is reached, then waits (at most
// spec.timeout) for the operations still outstanding, without counting them.
func drive(ctx context.Context, spec loadSpec, start starter, dones <-chan done) (loadResult, error) {
	var res loadResult
	sentAt := make([]time.Time, spec.window)
	seqs := make([]uint64, spec.window)
	busy := make([]bool, spec.window)
	outstanding := 0
	begin := func(slot int) error {
		sentAt[slot] = time.Now()
		seq, err := start(slot)
		if err != nil {
			return err
		}
		seqs[slot], busy[slot] = seq, true
		outstanding++
		return nil
	}

	t0 := time.Now()
	var end <-chan time.Time
	if spec.dur > 0 {
		timer := time.NewTimer(spec.dur)
		defer timer.Stop()
		end = timer.C
	}
	check := time.NewTicker(min(spec.timeout/4, 100*time.Millisecond))
	defer check.Stop()
	for slot := range spec.window {
		if err := begin(slot); err != nil {
			return res, err
		}
	}
	measuring := true
	stop := func() {
		if measuring {
			measuring = false
			res.Elapsed = time.Since(t0)
		}
	}
	var drainUntil time.Time
	for outstanding > 0 {
		if !measuring && time.Now().After(drainUntil) {
			res.Lost += outstanding
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-end:
			stop()
			drainUntil = time.Now().Add(spec.timeout)
		case d := <-dones:
			if d.slot < 0 || d.slot >= spec.window || !busy[d.slot] || d.seq != seqs[d.slot] {
				continue // the late answer of a lost operation
			}
			busy[d.slot] = false
			outstanding--
			if !measuring {
				continue
			}
			res.Done++
			res.Lat = append(res.Lat, d.at.Sub(sentAt[d.slot]))
			if spec.count > 0 && res.Done+res.Lost >= spec.count {
				stop()
				drainUntil = time.Now().Add(spec.timeout)
				continue
			}
			if err := begin(d.slot); err != nil {
				return res, err
			}
		case now := <-check.C:
			for slot := range spec.window {
				if busy[slot] && now.Sub(sentAt[slot]) > spec.timeout {
					busy[slot] = false
					outstanding--
					res.Lost++
					if measuring && spec.count > 0 && res.Done+res.Lost >= spec.count {
						stop()
						drainUntil = now.Add(spec.timeout)
					}
					if measuring {
						if err := begin(slot); err != nil {
							return res, err
						}
					}
				}
			}
		}
	}
	stop()
	if res.Done == 0 {
		return res, fmt.Errorf("no operation was answered within %s (%d lost)", spec.timeout, res.Lost)
	}
	return res, nil
}
