package main

import (
	"slices"
	"time"
)

// Latency summarises a set of durations, in milliseconds for the report.
type Latency struct {
	N     int     `json:"n"`
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
	Maxms float64 `json:"max_ms"`
}

// summarize computes the percentiles of ds (nearest rank). It sorts ds.
func summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	return Latency{
		N:     len(ds),
		P50ms: ms(percentile(ds, 50)),
		P99ms: ms(percentile(ds, 99)),
		Maxms: ms(ds[len(ds)-1]),
	}
}

// percentile is the nearest-rank percentile p of sorted ds.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 × n)
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratio is a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
