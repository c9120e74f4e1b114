package bridge

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestPrinter_RoutineErrorsAtDebug: the library's error lines that come
// with every normal start and stop (seen in the daemon's log) go to debug;
// its other errors stay errors.
func TestPrinter_RoutineErrorsAtDebug(t *testing.T) {
	cases := []struct {
		name  string
		log   func(p printer)
		level string
	}{
		{"EOF when the broker closes after DISCONNECT", func(p printer) {
			p.Println("[client]  ", "Connect comms goroutine - error triggered", io.EOF)
		}, "DEBUG"},
		{"connection lost during Disconnect", func(p printer) {
			p.Println("[client]  ", "internalConnLost unexpected status: disconnection already in progress")
		}, "DEBUG"},
		{"acknowledgement of a resumed session", func(p printer) {
			p.Printf("A lookup for token %d returned nil\n", 1)
		}, "DEBUG"},
		{"first connection failed (the bridge says why)", func(p printer) {
			p.Println("[client]  ", "Failed to connect to a broker")
		}, "DEBUG"},
		{"stop while connecting", func(p printer) {
			p.Println("[client]  ", "disconnect called whist connection attempt in progress")
		}, "DEBUG"},
		{"a reconnection refused", func(p printer) {
			p.Println("[client]  ", errors.New("not Authorized"))
		}, "ERROR"},
		{"a write deadline failing", func(p printer) {
			p.Println("[net]     ", "SetWriteDeadline ", errors.New("use of closed network connection"))
		}, "ERROR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			tc.log(printer{l: l, level: slog.LevelError, routineToDebug: true})
			out := buf.String()
			if !strings.Contains(out, "level="+tc.level) {
				t.Errorf("logged %q, want level %s", out, tc.level)
			}
			if strings.Count(out, "\n") != 1 || strings.Contains(out, `\n`) {
				t.Errorf("logged %q, want one line without a trailing newline in the message", out)
			}
		})
	}
}
