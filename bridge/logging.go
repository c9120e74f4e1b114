package bridge

import (
	"context"
	"fmt"
	"log/slog"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// SetLibraryLogger sends the MQTT client library's warnings and errors to
// l. The library keeps its loggers in package variables, so the command
// calls this once, at start-up.
func SetLibraryLogger(l *slog.Logger) {
	mqtt.ERROR = printer{l, slog.LevelError}
	mqtt.CRITICAL = printer{l, slog.LevelError}
	mqtt.WARN = printer{l, slog.LevelDebug} // its warnings are routine (e.g. store bookkeeping)
}

// printer adapts slog to the library's Println/Printf logger interface.
type printer struct {
	l     *slog.Logger
	level slog.Level
}

func (p printer) Println(v ...any) {
	p.l.Log(context.Background(), p.level, fmt.Sprint(v...))
}

func (p printer) Printf(format string, v ...any) {
	p.l.Log(context.Background(), p.level, fmt.Sprintf(format, v...))
}
