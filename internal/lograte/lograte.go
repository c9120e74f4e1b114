// Package lograte limits how often a log line is written, so that a
// client hammering the daemon, or a device that keeps failing, cannot
// flood the log: one line per period, and a count of those left out.
package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/logkey"
)

// Limiter lets one line through per Every and counts the rest. The zero
// value lets every line through. It is safe for concurrent use.
type Limiter struct {
	Every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Allow reports whether to log now, and how many lines were left out since
// the last one that was let through.
func (l *Limiter) Allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.Every {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}

// Log writes msg at level through log if Allow lets it, adding how many
// lines were left out since the last one (logkey.NotLoggedSince) when any
// were, and reports whether it wrote.
func (l *Limiter) Log(log *slog.Logger, level slog.Level, msg string, args ...any) bool {
	ok, suppressed := l.Allow(time.Now())
	if !ok {
		return false
	}
	if suppressed > 0 {
		args = append(args, logkey.NotLoggedSince, suppressed)
	}
	log.Log(context.Background(), level, msg, args...)
	return true
}
