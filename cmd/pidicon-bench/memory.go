package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Memory is the daemon's memory at one moment.
type Memory struct {
	// RSSKB and HWMKB are VmRSS and VmHWM (peak RSS) of /proc/<pid>/status.
	RSSKB int `json:"rss_kb"`
	HWMKB int `json:"hwm_kb"`
	// AnonKB and FileKB split VmRSS: anonymous memory (heap, stacks, the
	// runtime's) and pages of mapped files (the binary's code and data,
	// shared and reclaimable).
	AnonKB int `json:"rss_anon_kb"`
	FileKB int `json:"rss_file_kb"`
	// HeapMB is the smallest live heap after the garbage collections in
	// the --heap-wait that followed the RSS reading (or after the last one
	// before it, if none came), from GODEBUG=gctrace=1, in whole MB
	// rounded down; -1: no collection at all.
	HeapMB int `json:"heap_mb"`
}

// readStatus reads the resident memory of process pid.
func readStatus(pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("read memory: %w", err)
	}
	defer f.Close()
	m := Memory{HeapMB: -1}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(val), " kB"))
		switch key {
		case "VmRSS":
			m.RSSKB = kb
		case "VmHWM":
			m.HWMKB = kb
		case "RssAnon":
			m.AnonKB = kb
		case "RssFile":
			m.FileKB = kb
		default:
			continue
		}
		if err != nil {
			return Memory{}, fmt.Errorf("read memory: %s %q: %w", key, val, err)
		}
	}
	if err := sc.Err(); err != nil {
		return Memory{}, fmt.Errorf("read memory: %w", err)
	}
	return m, nil
}

// sampleMemory reads the daemon's RSS now, then watches its garbage
// collections for wait and takes the smallest live heap after them: what
// stays allocated, without the transient queues of the moment.
func sampleMemory(ctx context.Context, d *daemon, wait time.Duration) (Memory, error) {
	m, err := readStatus(d.pid())
	if err != nil {
		return m, err
	}
	from := d.log.gcs()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		return m, ctx.Err()
	case <-d.exited:
		return m, d.checkAlive()
	}
	m.HeapMB = d.log.minHeap(from)
	return m, nil
}
