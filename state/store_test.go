package state_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/state"
)

var t0 = time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)

// demoState is the contract's example state.
func demoState() state.State {
	return state.State{ActiveScene: "clock", PlayState: state.Playing, Brightness: 75, DisplayOn: true, LoggingLevel: state.LevelWarning, Timestamp: t0}
}

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestStore_Apply(t *testing.T) {
	later := t0.Add(time.Minute)
	tests := []struct {
		name        string
		start       func(state.State) state.State // changes demoState before the patch
		patch       state.Patch
		now         time.Time
		want        func(state.State) state.State // expected, from the start state
		wantChanged bool
	}{
		{
			name:        "brightness change moves the timestamp",
			patch:       state.Patch{Brightness: ptr(40)},
			now:         later,
			want:        func(s state.State) state.State { s.Brightness = 40; s.Timestamp = later; return s },
			wantChanged: true,
		},
		{
			name:  "no-op set keeps the timestamp",
			patch: state.Patch{Brightness: ptr(75), DisplayOn: ptr(true), LoggingLevel: ptr(state.LevelWarning)},
			now:   later,
			want:  func(s state.State) state.State { return s },
		},
		{
			name:  "same scene while playing changes nothing",
			patch: state.Patch{ActiveScene: ptr("clock")},
			now:   later,
			want:  func(s state.State) state.State { return s },
		},
		{
			name:  "scene implies playing",
			start: func(s state.State) state.State { s.PlayState = state.Stopped; return s },
			patch: state.Patch{ActiveScene: ptr("fill")},
			now:   later,
			want: func(s state.State) state.State {
				s.ActiveScene, s.PlayState, s.Timestamp = "fill", state.Playing, later
				return s
			},
			wantChanged: true,
		},
		{
			name:        "same scene while paused restarts it playing",
			start:       func(s state.State) state.State { s.PlayState = state.Paused; return s },
			patch:       state.Patch{ActiveScene: ptr("clock")},
			now:         later,
			want:        func(s state.State) state.State { s.PlayState, s.Timestamp = state.Playing, later; return s },
			wantChanged: true,
		},
		{
			name:  "scene then paused stays paused",
			patch: state.Patch{ActiveScene: ptr("clock"), PlayState: ptr(state.Paused)},
			now:   later,
			want: func(s state.State) state.State {
				s.PlayState = state.Paused
				s.Timestamp = later
				return s
			},
			wantChanged: true,
		},
		{
			name:        "play state alone",
			patch:       state.Patch{PlayState: ptr(state.Stopped)},
			now:         later,
			want:        func(s state.State) state.State { s.PlayState = state.Stopped; s.Timestamp = later; return s },
			wantChanged: true,
		},
		{
			name:        "clock going backwards keeps the timestamp",
			patch:       state.Patch{DisplayOn: ptr(false)},
			now:         t0.Add(-time.Hour),
			want:        func(s state.State) state.State { s.DisplayOn = false; return s },
			wantChanged: true,
		},
		{
			name:        "timestamp is stored in UTC",
			patch:       state.Patch{LoggingLevel: ptr(state.LevelDebug)},
			now:         later.In(time.FixedZone("CET", 3600)),
			want:        func(s state.State) state.State { s.LoggingLevel = state.LevelDebug; s.Timestamp = later; return s },
			wantChanged: true,
		},
		{
			name:  "empty patch",
			patch: state.Patch{},
			now:   later,
			want:  func(s state.State) state.State { return s },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := state.NewStore()
			start := demoState()
			if tt.start != nil {
				start = tt.start(start)
			}
			s.Put("demo", start)
			ch := s.Changed()

			got, changed, err := s.Apply("demo", tt.patch, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want(start)
			if changed != tt.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tt.wantChanged)
			}
			if got != want {
				t.Errorf("Apply returned\n %+v\nwant\n %+v", got, want)
			}
			if got.Timestamp.Location() != time.UTC {
				t.Errorf("timestamp %v is not in UTC", got.Timestamp)
			}
			if stored, _ := s.Get("demo"); stored != got {
				t.Errorf("Get = %+v, want what Apply returned", stored)
			}
			if isClosed(ch) != tt.wantChanged {
				t.Errorf("Changed() closed = %v, want %v", isClosed(ch), tt.wantChanged)
			}
		})
	}
}

func TestStore_ApplyUnknownDevice(t *testing.T) {
	s := state.NewStore()
	s.Put("demo", demoState())
	ch := s.Changed()
	_, changed, err := s.Apply("nope", state.Patch{Brightness: ptr(1)}, t0)
	if !errors.Is(err, state.ErrUnknownDevice) || changed {
		t.Fatalf("Apply(unknown) = changed %v, %v; want ErrUnknownDevice", changed, err)
	}
	if isClosed(ch) {
		t.Error("a refused Apply announced a change")
	}
	if _, ok := s.Get("nope"); ok {
		t.Error("unknown device was added")
	}
}

func TestStore_TimestampNeverBackwards(t *testing.T) {
	s := state.NewStore()
	s.Put("demo", demoState())
	last := t0
	// Clock readings jump around; every change must keep or move the
	// timestamp forward.
	for i, off := range []time.Duration{time.Second, -time.Hour, 3 * time.Second, 2 * time.Second, -time.Millisecond, time.Hour} {
		st, changed, err := s.Apply("demo", state.Patch{Brightness: ptr(i)}, t0.Add(off))
		if err != nil || !changed {
			t.Fatalf("step %d: changed %v, %v", i, changed, err)
		}
		if st.Timestamp.Before(last) {
			t.Fatalf("step %d: timestamp went back from %v to %v", i, last, st.Timestamp)
		}
		last = st.Timestamp
	}
}

func TestStore_Changed(t *testing.T) {
	s := state.NewStore()
	ch := s.Changed()
	if isClosed(ch) {
		t.Fatal("Changed() closed before any change")
	}
	if s.Changed() != ch {
		t.Error("Changed() gave a new channel without a change")
	}
	steps := []struct {
		name   string
		do     func()
		closes bool
	}{
		{"put", func() { s.Put("demo", demoState()) }, true},
		{"apply change", func() { s.Apply("demo", state.Patch{Brightness: ptr(1)}, t0.Add(time.Second)) }, true},
		{"apply no-op", func() { s.Apply("demo", state.Patch{Brightness: ptr(1)}, t0.Add(2*time.Second)) }, false},
		{"apply unknown device", func() { s.Apply("x", state.Patch{Brightness: ptr(2)}, t0) }, false},
		{"apply another change", func() { s.Apply("demo", state.Patch{DisplayOn: ptr(false)}, t0.Add(3*time.Second)) }, true},
		{"keep", func() { s.Keep(map[string]json.RawMessage{"10.0.0.1": json.RawMessage(`{}`)}) }, true},
	}
	for _, st := range steps {
		ch := s.Changed()
		st.do()
		if isClosed(ch) != st.closes {
			t.Errorf("%s: channel closed = %v, want %v", st.name, isClosed(ch), st.closes)
		}
		if st.closes && isClosed(s.Changed()) {
			t.Errorf("%s: the next Changed() channel is already closed", st.name)
		}
	}
}

func TestStore_IDs(t *testing.T) {
	s := state.NewStore()
	for _, id := range []string{"kitchen", "demo", "attic"} {
		s.Put(id, demoState())
	}
	if got := s.IDs(); !slices.Equal(got, []string{"attic", "demo", "kitchen"}) {
		t.Errorf("IDs() = %v", got)
	}
	if _, ok := s.Get("nope"); ok {
		t.Error("Get of a missing device reported ok")
	}
}

// TestStore_Concurrent runs Apply, Get, Put and Changed from many
// goroutines; run it with -race.
func TestStore_Concurrent(t *testing.T) {
	s := state.NewStore()
	const devices = 4
	for i := range devices {
		s.Put(fmt.Sprint("d", i), demoState())
	}
	first := s.Changed() // before any worker runs, so the watcher sees their changes
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprint("d", (w+i)%devices)
				if _, _, err := s.Apply(id, state.Patch{Brightness: ptr(i % 101)}, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
					t.Error(err)
					return
				}
				st, ok := s.Get(id)
				if !ok || st.Validate() != nil {
					t.Errorf("Get(%s) = %+v, %v", id, st, ok)
					return
				}
				_ = s.Changed()
				_ = s.IDs()
			}
		})
	}
	// A watcher that follows the change channels as they are replaced.
	done := make(chan struct{})
	watcher := make(chan int)
	go func() {
		n := 0
		ch := first
		for {
			select {
			case <-ch:
				n++
				ch = s.Changed()
			case <-done:
				if isClosed(ch) { // select picks at random when both are ready
					n++
				}
				watcher <- n
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	if n := <-watcher; n == 0 {
		t.Error("watcher saw no change")
	}
	for i := range devices {
		st, _ := s.Get(fmt.Sprint("d", i))
		if st.Timestamp.Before(t0) {
			t.Errorf("d%d: timestamp %v went back", i, st.Timestamp)
		}
	}
}
