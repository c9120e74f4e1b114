// Package event is what the daemon reports on <base>/bridge/event (CONTRACT
// §2 "Bad input"): one Event per refused message or device fault, and the
// Log that collects them from every part of the daemon (the bridge, the
// embedded broker, the state file writer, the devices), keeps the last ones
// and hands each to its subscribers (the MQTT publisher, the web page).
package event

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pidicon/pidicon-mqtt/state"
)

// MaxEcho is how many bytes of a refused payload an event repeats.
const MaxEcho = 256

// MaxTopic is how many bytes of a topic, or of a device id read from one,
// an event repeats: MQTT allows topics of 64 KiB, and an unknown device's
// would otherwise be repeated in full in the topic, the device and the
// error of its event, and in the log.
const MaxTopic = 256

// MaxError is how many bytes of an error an event repeats.
const MaxError = 4096

// Levels of events.
const (
	LevelError   = "error"
	LevelWarning = "warning"
	LevelInfo    = "info"
)

// Event is one message on <base>/bridge/event.
type Event struct {
	Time      string `json:"time"`
	Level     string `json:"level"`
	Device    string `json:"device,omitempty"`
	Topic     string `json:"topic"`
	Payload   string `json:"payload"`
	Truncated bool   `json:"truncated,omitempty"`
	Error     string `json:"error"`
	// File and Line name a file the event is about (a state or scene
	// file); Topic is then "file:" and the path.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// New describes a problem with a message: the payload is echoed, cut to
// its first MaxEcho bytes, with invalid UTF-8 replaced. A topic or device
// longer than MaxTopic is cut (Clip), also where the error repeats it, and
// the error to MaxError.
func New(now time.Time, level, device, topic string, payload []byte, err error) Event {
	msg := err.Error()
	for _, s := range []string{topic, device} {
		if len(s) > MaxTopic {
			msg = strings.ReplaceAll(msg, s, Clip(s, MaxTopic))
			if quoted := strconv.Quote(s); quoted[1:len(quoted)-1] != s { // as %q wrote it
				msg = strings.ReplaceAll(msg, quoted[1:len(quoted)-1], Clip(s, MaxTopic))
			}
		}
	}
	e := Event{
		Time:   state.FormatTime(now),
		Level:  level,
		Device: Clip(device, MaxTopic),
		Topic:  Clip(topic, MaxTopic),
		Error:  Clip(msg, MaxError),
	}
	if len(payload) > MaxEcho {
		payload, e.Truncated = payload[:MaxEcho], true
	}
	e.Payload = strings.ToValidUTF8(string(payload), "\uFFFD")
	return e
}

// Clip returns s when it has at most max bytes, else its first max bytes
// (cut on a character boundary) and a marker with its full length, e.g.
// "pidicon/aaaa…[+61184 of 61440 bytes]".
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…[+%d of %d bytes]", s[:cut], len(s)-cut, len(s))
}

// AboutFile describes a problem with a file (line 0: not known).
func AboutFile(now time.Time, level, path string, line int, err error) Event {
	e := New(now, level, "", "file:"+path, nil, err)
	e.File, e.Line = path, line
	return e
}

// JSON is the event's payload on <base>/bridge/event.
func (e Event) JSON() []byte {
	b, err := json.Marshal(e)
	if err != nil { // cannot happen: strings, a bool and an int
		panic(err)
	}
	return b
}

// Log collects events, keeps the last ones and hands each new one to its
// subscribers. It is safe for concurrent use; Report never blocks, so
// subscribers must not either (queue, or drop).
type Log struct {
	mu     sync.Mutex
	keep   int
	recent []Event // the last keep events, oldest first
	subs   map[int]func(Event)
	next   int
}

// NewLog returns a log that keeps the last keep events.
func NewLog(keep int) *Log {
	return &Log{keep: keep, subs: make(map[int]func(Event))}
}

// Report records e and hands it to every subscriber.
func (l *Log) Report(e Event) {
	l.mu.Lock()
	if l.keep > 0 {
		if len(l.recent) == l.keep {
			l.recent = append(l.recent[:0], l.recent[1:]...)
		}
		l.recent = append(l.recent, e)
	}
	subs := make([]func(Event), 0, len(l.subs))
	for _, f := range l.subs {
		subs = append(subs, f)
	}
	l.mu.Unlock()
	for _, f := range subs {
		f(e)
	}
}

// Recent returns the events kept, oldest first.
func (l *Log) Recent() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.recent...)
}

// Subscribe calls f with every event reported from now on, until the
// returned func is called. f must return quickly.
func (l *Log) Subscribe(f func(Event)) (cancel func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.next
	l.next++
	l.subs[id] = f
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.subs, id)
	}
}
