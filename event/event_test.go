package event_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pidicon/pidicon-mqtt/event"
)

func TestClip(t *testing.T) {
	cases := []struct {
		name, in string
		max      int
		want     string
	}{
		{"short", "pidicon/demo/set", 256, "pidicon/demo/set"},
		{"exactly max", strings.Repeat("a", 8), 8, strings.Repeat("a", 8)},
		{"one over", strings.Repeat("a", 9), 8, "aaaaaaaa…[+1 of 9 bytes]"},
		{"on a character boundary", "aaaaaaaé", 8, "aaaaaaa…[+2 of 9 bytes]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := event.Clip(tc.in, tc.max)
			if got != tc.want {
				t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Clip(%q, %d) = %q: not valid UTF-8", tc.in, tc.max, got)
			}
		})
	}
}

// TestNew_LongTopic: an unknown device named by a 60 KB topic is repeated
// in the topic, the device and the error; each is cut, so the event stays
// small whatever the topic.
func TestNew_LongTopic(t *testing.T) {
	for _, id := range []string{strings.Repeat("a", 60000), strings.Repeat(`"x`, 30000)} {
		topic := "pidicon/" + id + "/brightness/set"
		err := fmt.Errorf("unknown device %q (devices: demo)", id)
		e := event.New(time.Now(), event.LevelError, id, topic, []byte("50"), err)
		b := e.JSON()
		if len(b) > 2048 {
			t.Errorf("event of %d bytes for a %d-byte topic: %.300s…", len(b), len(topic), b)
		}
		if !strings.HasPrefix(e.Topic, "pidicon/"+id[:100]) || !strings.Contains(e.Topic, fmt.Sprintf("of %d bytes]", len(topic))) {
			t.Errorf("topic %.300q: want its start and a marker with its length", e.Topic)
		}
		if !strings.Contains(e.Device, fmt.Sprintf("of %d bytes]", len(id))) {
			t.Errorf("device %.300q: want a marker with its length", e.Device)
		}
		if !strings.HasPrefix(e.Error, "unknown device ") || !strings.HasSuffix(e.Error, "(devices: demo)") {
			t.Errorf("error %.300q: want the start and end of the message", e.Error)
		}
	}
	short := event.New(time.Now(), event.LevelError, "nosuch", "pidicon/nosuch/brightness/set", nil, errors.New(`unknown device "nosuch"`))
	if short.Topic != "pidicon/nosuch/brightness/set" || short.Device != "nosuch" || short.Error != `unknown device "nosuch"` {
		t.Errorf("a short topic was changed: %+v", short)
	}
}

// TestNew_LongError: an error longer than MaxError is cut.
func TestNew_LongError(t *testing.T) {
	e := event.New(time.Now(), event.LevelError, "", "t", nil, errors.New(strings.Repeat("x", 100000)))
	if len(e.Error) > event.MaxError+64 {
		t.Errorf("error of %d bytes, want at most about %d", len(e.Error), event.MaxError)
	}
}
