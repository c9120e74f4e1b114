package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/internal/lograte"
)

// maxLogValue is the longest attribute value of mochi's log lines; longer
// ones are cut.
const maxLogValue = 256

// maxLogMessages is how many different messages mochiHandler rate-limits
// each on its own; the rest share one limit.
const maxLogMessages = 64

// mochiHandler is the slog handler mochi logs through: at most one line a
// second for each message (with the count of those left out), packets
// summed up (kind, topic, sizes) instead of dumped byte by byte, and
// every other value cut to maxLogValue bytes. A client can thus not
// flood the log: mochi logs a whole packet for each publish a hook
// refuses.
type mochiHandler struct {
	next   slog.Handler
	limits *messageLimits
}

func newMochiHandler(next slog.Handler) *mochiHandler {
	return &mochiHandler{next: next, limits: &messageLimits{byMessage: make(map[string]*lograte.Limiter)}}
}

func (h *mochiHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *mochiHandler) Handle(ctx context.Context, r slog.Record) error {
	now := r.Time
	if now.IsZero() {
		now = time.Now()
	}
	ok, suppressed := h.limits.allow(r.Message, now)
	if !ok {
		return nil
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(shorten(a))
		return true
	})
	if suppressed > 0 {
		out.AddAttrs(slog.Int(logkey.NotLoggedSince, suppressed))
	}
	return h.next.Handle(ctx, out)
}

func (h *mochiHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	short := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		short[i] = shorten(a)
	}
	return &mochiHandler{next: h.next.WithAttrs(short), limits: h.limits}
}

func (h *mochiHandler) WithGroup(name string) slog.Handler {
	return &mochiHandler{next: h.next.WithGroup(name), limits: h.limits}
}

// messageLimits rate-limits log lines by message.
type messageLimits struct {
	mu        sync.Mutex
	byMessage map[string]*lograte.Limiter
}

func (m *messageLimits) allow(msg string, now time.Time) (bool, int) {
	m.mu.Lock()
	l, ok := m.byMessage[msg]
	if !ok {
		if len(m.byMessage) >= maxLogMessages {
			msg = "" // one limit for every further message
			l = m.byMessage[msg]
		}
		if l == nil {
			l = &lograte.Limiter{Every: time.Second}
			m.byMessage[msg] = l
		}
	}
	m.mu.Unlock()
	return l.Allow(now)
}

// shorten sums up a packet and cuts a long value.
func shorten(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, cut(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		short := make([]any, len(attrs))
		for i, g := range attrs {
			short[i] = shorten(g)
		}
		return slog.Group(a.Key, short...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case packets.Packet:
			return slog.String(a.Key, summary(&x))
		case *packets.Packet:
			return slog.String(a.Key, summary(x))
		case error:
			return slog.String(a.Key, cut(x.Error()))
		default:
			return slog.String(a.Key, cut(fmt.Sprint(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// summary describes a packet in a few words, e.g. "Publish topic=a/b
// qos=1 retain=false payload=204800 bytes".
func summary(pk *packets.Packet) string {
	if pk == nil {
		return "<nil>"
	}
	name := packets.PacketNames[pk.FixedHeader.Type]
	if pk.FixedHeader.Type != packets.Publish {
		return fmt.Sprintf("%s id=%d", name, pk.PacketID)
	}
	return cut(fmt.Sprintf("%s topic=%q qos=%d retain=%t id=%d payload=%d bytes", name,
		pk.TopicName, pk.FixedHeader.Qos, pk.FixedHeader.Retain, pk.PacketID, len(pk.Payload)))
}

func cut(s string) string {
	if len(s) <= maxLogValue {
		return s
	}
	n := maxLogValue
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:n], len(s))
}
