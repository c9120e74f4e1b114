package main

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// logTail receives the daemon's output: it keeps the last lines for error
// messages, counts the log lines (the daemon logs at warning level, so
// each is a warning or an error) and reads the Go runtime's gctrace lines.
type logTail struct {
	mu      sync.Mutex
	partial []byte
	lines   []string // the last keepLines log lines
	count   int      // log lines seen
	heaps   []int    // live heap after each collection, MB
}

// keepLines is how many log lines an error message quotes.
const keepLines = 20

// gcLine matches gctrace's "4->5->2 MB": heap at start, at end, live.
var gcLine = regexp.MustCompile(`^gc \d+ @.* (\d+)->(\d+)->(\d+) MB`)

func newLogTail() *logTail { return &logTail{} }

// Write takes output of the daemon.
func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lineLocked(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

func (l *logTail) lineLocked(line string) {
	if m := gcLine.FindStringSubmatch(line); m != nil {
		live, _ := strconv.Atoi(m[3])
		l.heaps = append(l.heaps, live)
		return
	}
	if strings.TrimSpace(line) == "" {
		return
	}
	l.count++
	l.lines = append(l.lines, line)
	if len(l.lines) > keepLines {
		l.lines = l.lines[len(l.lines)-keepLines:]
	}
}

// gcs is the number of collections so far.
func (l *logTail) gcs() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.heaps)
}

// minHeap is the smallest live heap (MB) after the collections from
// number from on, else after the last one before; -1 if none happened.
func (l *logTail) minHeap(from int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.heaps) == 0 {
		return -1
	}
	if from >= len(l.heaps) {
		return l.heaps[len(l.heaps)-1]
	}
	return slices.Min(l.heaps[from:])
}

// logLines is the number of log lines so far.
func (l *logTail) logLines() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// excerpt is the last log lines, for an error message.
func (l *logTail) excerpt() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return ""
	}
	return "; its last log lines:\n" + strings.Join(l.lines, "\n")
}
