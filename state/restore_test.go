package state_test

import (
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/state"
)

func TestRestore(t *testing.T) {
	defaults := state.State{ActiveScene: "startup", PlayState: state.Playing, Brightness: 75, DisplayOn: true, LoggingLevel: state.LevelWarning}
	older, newer := t0, t0.Add(time.Minute)
	fileAt := func(ts time.Time) *state.Entry {
		return &state.Entry{Patch: state.Patch{ActiveScene: ptr("clock"), PlayState: ptr(state.Paused), Brightness: ptr(10),
			DisplayOn: ptr(false), LoggingLevel: ptr(state.LevelDebug)}, Timestamp: ts}
	}
	fromFile := func(ts time.Time) state.State {
		return state.State{ActiveScene: "clock", PlayState: state.Paused, Brightness: 10, DisplayOn: false, LoggingLevel: state.LevelDebug, Timestamp: ts}
	}
	brokerAt := func(ts time.Time) *state.State {
		return &state.State{ActiveScene: "fill", PlayState: state.Stopped, Brightness: 90, DisplayOn: true, LoggingLevel: state.LevelError, Timestamp: ts}
	}
	tests := []struct {
		name   string
		file   *state.Entry
		broker *state.State
		want   state.State
		source state.Source
	}{
		{"file newer", fileAt(newer), brokerAt(older), fromFile(newer), state.FromFile},
		{"broker newer", fileAt(older), brokerAt(newer), *brokerAt(newer), state.FromBroker},
		{"only file", fileAt(older), nil, fromFile(older), state.FromFile},
		{"only broker", nil, brokerAt(older), *brokerAt(older), state.FromBroker},
		{"neither", nil, nil, defaults, state.FromDefaults},
		{"equal timestamps: file wins", fileAt(older), brokerAt(older), fromFile(older), state.FromFile},
		{"file without any timestamp loses to broker", fileAt(time.Time{}), brokerAt(older), *brokerAt(older), state.FromBroker},
		{
			name:   "null fields take the defaults",
			file:   &state.Entry{Patch: state.Patch{Brightness: ptr(20)}, Timestamp: newer},
			broker: brokerAt(older),
			want:   state.State{ActiveScene: "startup", PlayState: state.Playing, Brightness: 20, DisplayOn: true, LoggingLevel: state.LevelWarning, Timestamp: newer},
			source: state.FromFile,
		},
		{
			name:   "all fields null",
			file:   &state.Entry{Timestamp: newer},
			want:   func() state.State { d := defaults; d.Timestamp = newer; return d }(),
			source: state.FromFile,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, src := state.Restore(defaults, tt.file, tt.broker)
			if got != tt.want || src != tt.source {
				t.Errorf("Restore = %+v from %s\nwant      %+v from %s", got, src, tt.want, tt.source)
			}
		})
	}
}

// TestRestore_FromSeedFile restores from the original daemon's file: its
// null loggingLevel and activeScene take the defaults.
func TestRestore_FromSeedFile(t *testing.T) {
	doc, err := state.ReadFile("testdata/seed-pidicon.json")
	if err != nil {
		t.Fatal(err)
	}
	defaults := state.State{ActiveScene: "startup", PlayState: state.Playing, Brightness: 75, DisplayOn: true, LoggingLevel: state.LevelWarning}
	e, ok := doc.Entry("192.168.1.189")
	if !ok {
		t.Fatal("no entry for 192.168.1.189")
	}
	got, src := state.Restore(defaults, &e, nil)
	want := state.State{ActiveScene: "startup", PlayState: state.Stopped, Brightness: 100, DisplayOn: false, LoggingLevel: state.LevelWarning,
		Timestamp: time.Date(2025, 10, 14, 12, 0, 0, 0, time.UTC)}
	if got != want || src != state.FromFile {
		t.Errorf("Restore = %+v from %s\nwant      %+v", got, src, want)
	}
}

func TestDocument_Entry(t *testing.T) {
	top := t0
	own := t0.Add(-time.Hour)
	doc := &state.Document{
		Timestamp: top,
		Devices: map[string]state.Entry{
			"own":  {Patch: state.Patch{Brightness: ptr(1)}, Timestamp: own},
			"none": {Patch: state.Patch{Brightness: ptr(2)}},
		},
	}
	tests := []struct {
		name   string
		doc    *state.Document
		key    string
		ok     bool
		wantTS time.Time
	}{
		{"own timestamp kept", doc, "own", true, own},
		{"falls back to the file's timestamp", doc, "none", true, top},
		{"missing key", doc, "other", false, time.Time{}},
		{"nil document", nil, "own", false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := tt.doc.Entry(tt.key)
			if ok != tt.ok || !e.Timestamp.Equal(tt.wantTS) {
				t.Errorf("Entry(%q) = ts %v, ok %v; want %v, %v", tt.key, e.Timestamp, ok, tt.wantTS, tt.ok)
			}
		})
	}
	if !doc.Devices["none"].Timestamp.IsZero() {
		t.Error("Entry changed the document")
	}
}
