package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// SetLibraryLogger sends the MQTT client library's warnings and errors to
// l. The library keeps its loggers in package variables, so the command
// calls this once, at start-up.
//
// The library logs as errors some things that happen in a normal start or
// stop, or that the bridge reports itself with more context (routine):
// those go to l at debug, so that a clean start and stop print no error
// line; its other errors stay errors.
func SetLibraryLogger(l *slog.Logger) {
	mqtt.ERROR = printer{l: l, level: slog.LevelError, routineToDebug: true}
	mqtt.CRITICAL = printer{l: l, level: slog.LevelError, routineToDebug: true}
	mqtt.WARN = printer{l: l, level: slog.LevelDebug} // its warnings are routine (e.g. store bookkeeping)
}

// routine reports whether a library error message is one of the routine
// ones:
//
//   - "Connect comms goroutine - error triggered": the connection ended;
//     on a stop, the broker closes it after our DISCONNECT (EOF), else
//     the bridge logs the loss itself ("lost the MQTT broker").
//   - "internalConnLost unexpected status": the end of the connection
//     noticed while our own Disconnect is under way.
//   - "A lookup for token": an acknowledgement whose packet the library
//     no longer tracks, seen at start-up when the broker resumes the
//     daemon's session.
//   - "Failed to connect to a broker": the first connection failed; the
//     bridge logs why, with a hint and rate-limited.
//   - "disconnect called whist connection attempt in progress" (sic): a
//     stop while connecting.
func routine(msg string) bool {
	for _, s := range []string{
		"Connect comms goroutine - error triggered",
		"internalConnLost unexpected status",
		"A lookup for token",
		"Failed to connect to a broker",
		"disconnect called whist connection attempt in progress",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// printer adapts slog to the library's Println/Printf logger interface.
type printer struct {
	l     *slog.Logger
	level slog.Level
	// routineToDebug logs routine messages at debug.
	routineToDebug bool
}

func (p printer) Println(v ...any) { p.log(fmt.Sprint(v...)) }

func (p printer) Printf(format string, v ...any) { p.log(fmt.Sprintf(format, v...)) }

func (p printer) log(msg string) {
	msg = strings.TrimSpace(msg)
	level := p.level
	if p.routineToDebug && routine(msg) {
		level = slog.LevelDebug
	}
	p.l.Log(context.Background(), level, msg)
}
