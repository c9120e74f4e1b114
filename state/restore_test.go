package state_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/state"
)

// restoreOne restores a single device "demo" (host 192.168.1.9) from a
// file entry and a broker state, either of which may be nil.
func restoreOne(t *testing.T, defaults state.State, file *state.Entry, broker *state.State) state.Restored {
	t.Helper()
	in := state.RestoreInput{
		Devices: []state.RestoreDevice{{ID: "demo", Host: "192.168.1.9", Defaults: defaults}},
		Broker:  map[string][]byte{},
		Now:     t0.Add(time.Hour),
	}
	if file != nil {
		in.File = &state.Document{Devices: map[string]state.Entry{"demo": *file}, Raw: map[string]json.RawMessage{"demo": []byte("{}")}}
	}
	if broker != nil {
		js, err := json.Marshal(*broker)
		if err != nil {
			t.Fatal(err)
		}
		in.Broker["demo"] = js
	}
	res := state.Restore(in)
	if len(res.Devices) != 1 || res.Devices[0].ID != "demo" {
		t.Fatalf("Restore gave %+v", res.Devices)
	}
	return res.Devices[0]
}

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
	now := t0.Add(time.Hour)
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
		{"neither: defaults dated now", nil, nil, func() state.State { d := defaults; d.Timestamp = now; return d }(), state.FromDefaults},
		{"equal timestamps: file wins", fileAt(older), brokerAt(older), fromFile(older), state.FromFile},
		{"file without any timestamp loses to broker", fileAt(time.Time{}), brokerAt(older), *brokerAt(older), state.FromBroker},
		{"file without any timestamp is dated 1970", fileAt(time.Time{}), nil, fromFile(time.Unix(0, 0).UTC()), state.FromFile},
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
			got := restoreOne(t, defaults, tt.file, tt.broker)
			if got.State != tt.want || got.Source != tt.source {
				t.Errorf("Restore = %+v from %s\nwant      %+v from %s", got.State, got.Source, tt.want, tt.source)
			}
		})
	}
}

// TestRestore_Reasons checks what the restore says of a device beyond its
// source: clock skew, a refused broker state, a scene that cannot run, an
// unusable file.
func TestRestore_Reasons(t *testing.T) {
	defaults := state.State{ActiveScene: "startup", PlayState: state.Playing, Brightness: 75, DisplayOn: true, LoggingLevel: state.LevelWarning}
	now := t0.Add(time.Hour)
	future := now.Add(state.MaxClockSkew + time.Second)
	entry := state.Entry{Patch: state.Patch{ActiveScene: ptr("clock"), Brightness: ptr(10)}, Timestamp: future}
	broker := state.State{ActiveScene: "fill", PlayState: state.Playing, Brightness: 90, DisplayOn: true, LoggingLevel: state.LevelError, Timestamp: future}
	js, _ := json.Marshal(broker)
	res := state.Restore(state.RestoreInput{
		File:        &state.Document{Devices: map[string]state.Entry{"demo": entry}, Raw: map[string]json.RawMessage{"demo": []byte("{}")}},
		Broker:      map[string][]byte{"demo": js, "bad": []byte(`{"brightness":500}`)},
		Quarantined: true,
		Devices: []state.RestoreDevice{
			{ID: "demo", Defaults: defaults, Check: func(st state.State) error {
				if st.ActiveScene == "clock" {
					return errors.New("no clock here")
				}
				return nil
			}},
			{ID: "bad", Defaults: defaults},
		},
		Now: now,
	})
	demo, bad := res.Devices[0], res.Devices[1]
	if !demo.FileClamped || demo.Source != state.FromFile || !demo.State.Timestamp.Equal(time.Unix(0, 0)) {
		t.Errorf("a file entry from the future: %+v; want clamped to 1970, from the file", demo)
	}
	if demo.BrokerRefused == nil || !strings.Contains(demo.BrokerRefused.Error(), "future") {
		t.Errorf("a broker state from the future: refused %v", demo.BrokerRefused)
	}
	if demo.SceneRefused == nil || demo.State.ActiveScene != "startup" || demo.State.Brightness != 10 {
		t.Errorf("a scene that cannot run: %+v; want the startup scene and the rest restored", demo)
	}
	if !demo.Quarantined || !bad.Quarantined {
		t.Error("an unusable file is not reported")
	}
	if bad.BrokerRefused == nil || bad.Source != state.FromDefaults {
		t.Errorf("an invalid broker state: %+v; want refused and defaults", bad)
	}
}

// TestRestore_ClaimByHost restores from the original daemon's file, keyed
// by IP address: each entry goes to one device, the first in config
// order; an entry with the device's id wins over one with its address.
func TestRestore_ClaimByHost(t *testing.T) {
	doc, err := state.ReadFile("testdata/seed-pidicon.json")
	if err != nil {
		t.Fatal(err)
	}
	defaults := state.State{ActiveScene: "startup", PlayState: state.Playing, Brightness: 75, DisplayOn: true, LoggingLevel: state.LevelWarning}
	res := state.Restore(state.RestoreInput{
		File: doc,
		Devices: []state.RestoreDevice{
			{ID: "first", Host: "192.168.1.189:80", Defaults: defaults},
			{ID: "second", Host: "192.168.1.189:81", Defaults: defaults},
			{ID: "other", Host: "10.0.0.1", Defaults: defaults},
		},
		Now: t0,
	})
	first, second, other := res.Devices[0], res.Devices[1], res.Devices[2]
	want := state.State{ActiveScene: "startup", PlayState: state.Stopped, Brightness: 100, DisplayOn: false, LoggingLevel: state.LevelWarning,
		Timestamp: time.Date(2025, 10, 14, 12, 0, 0, 0, time.UTC)}
	if first.State != want || first.Source != state.FromFile || first.FileKey != "192.168.1.189" {
		t.Errorf("first = %+v\nwant %+v from the file", first, want)
	}
	if second.Source != state.FromDefaults || second.HostTakenBy != "first" {
		t.Errorf("second = %+v; want defaults, entry taken by first", second)
	}
	if other.Source != state.FromDefaults || other.HostTakenBy != "" || !other.State.Timestamp.IsZero() {
		t.Errorf("other = %+v; want undated defaults (the broker was not read)", other)
	}
	if _, ok := res.Kept["192.168.1.159"]; !ok || len(res.Kept) != 1 {
		t.Errorf("kept %v; want the unclaimed 192.168.1.159", res.Kept)
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
