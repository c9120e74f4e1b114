package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pidicon/pidicon-mqtt/topic"
)

// discoveryPrefix is Home Assistant's discovery prefix in every run (the
// daemon's default).
const discoveryPrefix = "homeassistant"

// Late is what one QoS 1 subscriber that subscribes once the daemon is up
// received as retained messages, against what the daemon keeps retained
// under the filter: "full state on reconnect" for that subscriber.
type Late struct {
	Filter string `json:"filter"`
	// Expected is the distinct topics under the filter that the daemon
	// published retained with a payload (and did not delete since), as a
	// subscriber present from the daemon's start saw them.
	Expected int `json:"expected"`
	// Received is how many of those came as retained messages.
	Received int `json:"received"`
	// Duplicates is the retained messages beyond the first per topic.
	Duplicates int `json:"duplicates"`
	// Extra is the retained topics received that were not expected: left
	// over on an external broker, or missed by the subscriber from the start.
	Extra int `json:"extra"`
	// Seconds is subscribe → the last new topic.
	Seconds float64 `json:"seconds"`
	// RSSBeforeKB is the daemon's VmRSS just before the subscription,
	// RSSPeakKB its peak during the delivery: VmHWM after resetting it
	// (PeakExact), else the largest of VmRSS read every 10 ms.
	RSSBeforeKB int  `json:"rss_before_kb"`
	RSSPeakKB   int  `json:"rss_peak_kb"`
	PeakExact   bool `json:"rss_peak_exact"`
	// Missing are some of the expected topics that did not come, and
	// Confirmed how many of them a subscriber to just those topics got
	// retained: the broker holds them, the late subscriber missed them.
	Missing   []string `json:"missing_sample,omitempty"`
	Confirmed int      `json:"missing_confirmed"`
}

// Complete reports whether every expected topic came.
func (l Late) Complete() bool { return l.Expected > 0 && l.Received == l.Expected }

// missingSample is how many missing topics Late lists and confirms.
const missingSample = 10

// retainedByDaemon reports whether t is one of the topics the daemon
// publishes retained under base or the discovery prefix: everything there
// but the bridge's events and its start-up sync message, which are not.
func retainedByDaemon(base, t string) bool {
	if strings.HasPrefix(t, discoveryPrefix+"/") {
		return true
	}
	return strings.HasPrefix(t, base+"/") && t != base+"/"+topic.BridgeEvent && t != base+"/"+topic.BridgeSync
}

// underFilter returns the topics of set that a filter "<prefix>/#" matches.
func underFilter(set map[string]bool, prefix string) map[string]bool {
	out := make(map[string]bool)
	for t := range set {
		if strings.HasPrefix(t, prefix+"/") {
			out[t] = true
		}
	}
	return out
}

// lateSub records the retained messages a late subscriber receives.
type lateSub struct {
	expected map[string]bool

	mu   sync.Mutex
	got  map[string]bool // retained topics with a payload
	hits int             // of them expected
	dups int
	last time.Time // when the last new topic came
}

func (l *lateSub) on(m mqtt.Message) {
	if !m.Retained() || len(m.Payload()) == 0 {
		return
	}
	at := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.got[m.Topic()] {
		l.dups++
		return
	}
	l.got[m.Topic()] = true
	l.last = at
	if l.expected[m.Topic()] {
		l.hits++
	}
}

func (l *lateSub) progress() (hits int, last time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hits, l.last
}

// measureLate subscribes a new QoS 1 client to filter on the daemon's
// broker and measures what it receives as retained messages against
// expected, and the daemon's memory meanwhile. It also returns the
// topics received.
func (b *bench) measureLate(ctx context.Context, d *daemon, url, filter string, expected map[string]bool) (Late, map[string]bool, error) {
	res := Late{Filter: filter, Expected: len(expected)}
	res.PeakExact = resetPeak(d.pid()) == nil
	m, err := readStatus(d.pid())
	if err != nil {
		return res, nil, err
	}
	res.RSSBeforeKB = m.RSSKB
	l := &lateSub{expected: expected, got: make(map[string]bool, len(expected))}
	c, err := dial(ctx, url, "late", b.opts.timeout, l.on)
	if err != nil {
		return res, nil, fmt.Errorf("late subscriber: %w", err)
	}
	watch := watchRSS(d.pid())
	start := time.Now()
	err = c.subscribe(ctx, map[string]byte{filter: 1})
	if err == nil {
		// Until all came, or none came for a while: for the first, the
		// broker may need to gather many retained messages.
		quiet := min(b.opts.timeout, 2*time.Second)
		waitFor(ctx, b.opts.startupTimeout, func() bool {
			hits, last := l.progress()
			if last.IsZero() {
				return time.Since(start) > b.opts.timeout
			}
			return hits == len(expected) || time.Since(last) > quiet
		})
		err = ctx.Err()
	}
	// The peak is at least the RSS before: the kernel's RSS counters are
	// approximate (per-CPU batches), so a VmHWM read later can come out a
	// little below a VmRSS read earlier.
	res.RSSPeakKB = max(watch.stop(), res.RSSBeforeKB)
	if res.PeakExact {
		if m, err := readStatus(d.pid()); err == nil {
			res.RSSPeakKB = max(res.RSSPeakKB, m.HWMKB)
		}
	}
	c.close()
	if err != nil {
		return res, nil, fmt.Errorf("late subscriber on %s: %w", filter, err)
	}

	l.mu.Lock()
	got := maps.Clone(l.got)
	res.Received, res.Duplicates = l.hits, l.dups
	if !l.last.IsZero() {
		res.Seconds = l.last.Sub(start).Seconds()
	}
	l.mu.Unlock()
	res.Extra = len(got) - res.Received
	for _, t := range slices.Sorted(maps.Keys(expected)) {
		if !got[t] {
			res.Missing = append(res.Missing, t)
			if len(res.Missing) == missingSample {
				break
			}
		}
	}
	if len(res.Missing) > 0 {
		if res.Confirmed, err = confirmRetained(ctx, url, res.Missing, b.opts.timeout); err != nil {
			return res, got, err
		}
	}
	return res, got, nil
}

// confirmRetained subscribes to each of topics alone and returns how many
// of them the broker sends as retained messages with a payload.
func confirmRetained(ctx context.Context, url string, topics []string, timeout time.Duration) (int, error) {
	l := &lateSub{expected: make(map[string]bool), got: make(map[string]bool)}
	filters := make(map[string]byte, len(topics))
	for _, t := range topics {
		l.expected[t] = true
		filters[t] = 0
	}
	c, err := dial(ctx, url, "confirm", timeout, l.on)
	if err != nil {
		return 0, fmt.Errorf("confirm missing topics: %w", err)
	}
	defer c.close()
	if err := c.subscribe(ctx, filters); err != nil {
		return 0, fmt.Errorf("confirm missing topics: %w", err)
	}
	waitFor(ctx, timeout, func() bool {
		hits, last := l.progress()
		return hits == len(topics) || (!last.IsZero() && time.Since(last) > time.Second)
	})
	hits, _ := l.progress()
	return hits, ctx.Err()
}

// resetPeak resets the peak RSS (VmHWM) of process pid to its RSS now.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// rssWatch reads a process's VmRSS every 10 ms and keeps the largest.
type rssWatch struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak int
}

// watchRSS starts watching process pid's VmRSS.
func watchRSS(pid int) *rssWatch {
	w := &rssWatch{done: make(chan struct{})}
	w.wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if m, err := readStatus(pid); err == nil {
				w.peak = max(w.peak, m.RSSKB)
			}
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
		}
	})
	return w
}

// stop ends the watch and returns the largest VmRSS seen, in KB.
func (w *rssWatch) stop() int {
	close(w.done)
	w.wg.Wait()
	return w.peak
}
