package bridge

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/pidicon/pidicon-mqtt/state"
)

// maxEcho is how many bytes of a rejected payload an event repeats.
const maxEcho = 256

// Event is one message on <base>/bridge/event: a rejected command or a
// device fault.
type Event struct {
	Time      string `json:"time"`
	Level     string `json:"level"`
	Device    string `json:"device,omitempty"`
	Topic     string `json:"topic"`
	Payload   string `json:"payload"`
	Truncated bool   `json:"truncated,omitempty"`
	Error     string `json:"error"`
}

// Event levels.
const (
	levelError   = "error"
	levelWarning = "warning"
	levelInfo    = "info"
)

// newEvent describes a problem with a message: the payload is echoed, cut to
// its first maxEcho bytes, with invalid UTF-8 replaced.
func newEvent(now time.Time, level, device, topic string, payload []byte, err error) Event {
	e := Event{
		Time:   state.FormatTime(now),
		Level:  level,
		Device: device,
		Topic:  topic,
		Error:  err.Error(),
	}
	if len(payload) > maxEcho {
		payload, e.Truncated = payload[:maxEcho], true
	}
	e.Payload = strings.ToValidUTF8(string(payload), "\uFFFD")
	return e
}

func (e Event) json() []byte {
	b, err := json.Marshal(e)
	if err != nil { // cannot happen: strings and a bool
		panic(err)
	}
	return b
}
