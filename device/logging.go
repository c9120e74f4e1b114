package device

import (
	"context"
	"log/slog"

	"github.com/pidicon/pidicon-mqtt/state"
)

// LevelSilent is above every level anything logs at: nothing passes.
const LevelSilent = slog.Level(100)

// SlogLevel maps a device's loggingLevel onto slog's levels.
func SlogLevel(l state.LogLevel) slog.Level {
	switch l {
	case state.LevelDebug:
		return slog.LevelDebug
	case state.LevelInfo:
		return slog.LevelInfo
	case state.LevelWarning:
		return slog.LevelWarn
	case state.LevelError:
		return slog.LevelError
	}
	return LevelSilent
}

// NewLevelHandler returns a handler that passes on to h only the records at
// or above level. It lets one device log at debug while another is silent
// and the daemon itself stays at its own level, all through one output
// handler (which must itself let debug records through).
func NewLevelHandler(h slog.Handler, level slog.Leveler) slog.Handler {
	return levelHandler{next: h, level: level}
}

type levelHandler struct {
	next  slog.Handler
	level slog.Leveler
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() && h.next.Enabled(ctx, l)
}

func (h levelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.next.Handle(ctx, r)
}

func (h levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelHandler{next: h.next.WithAttrs(attrs), level: h.level}
}

func (h levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{next: h.next.WithGroup(name), level: h.level}
}
