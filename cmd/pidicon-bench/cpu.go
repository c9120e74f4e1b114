package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go runs on.
const clockTicks = 100

// cpuTime is the CPU time process pid has used so far, user and system,
// all its threads: utime + stime of /proc/<pid>/stat (fields 14 and 15).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("read cpu time: no command name in /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("read cpu time: /proc/%d/stat has %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read cpu time: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// CPU is the CPU time a process used over a window.
type CPU struct {
	Seconds float64 `json:"seconds"`
	// PercentCore is Seconds over the window's length, in % of one CPU;
	// PercentMachine divides that by the number of CPUs.
	PercentCore    float64 `json:"percent_of_one_cpu"`
	PercentMachine float64 `json:"percent_of_machine"`
}

// cpuOver is the CPU time between two readings over a window of wall.
func cpuOver(from, to, wall time.Duration) CPU {
	c := CPU{Seconds: (to - from).Seconds()}
	if wall > 0 {
		c.PercentCore = 100 * c.Seconds / wall.Seconds()
		c.PercentMachine = c.PercentCore / float64(runtime.NumCPU())
	}
	return c
}
