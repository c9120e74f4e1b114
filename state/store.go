package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// ErrUnknownDevice is returned for a device id the store does not hold.
var ErrUnknownDevice = errors.New("unknown device")

// Store holds the state of every configured device in memory and announces
// each change. It is safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	devices map[string]State
	kept    map[string]json.RawMessage // file entries no configured device claims
	rev     uint64                     // bumped on every change
	changed chan struct{}              // closed and replaced on every change
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		devices: make(map[string]State),
		kept:    make(map[string]json.RawMessage),
		changed: make(chan struct{}),
	}
}

// Changed returns a channel that is closed at the next change.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// notifyLocked records a change and wakes whoever waits on Changed.
func (s *Store) notifyLocked() {
	s.rev++
	close(s.changed)
	s.changed = make(chan struct{})
}

// Put sets the whole state of device id, adding the device if needed.
func (s *Store) Put(id string, st State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devices[id] = st
	s.notifyLocked()
}

// Keep holds entries for ids that no configured device claims, so the file
// keeps them (nothing is silently deleted).
func (s *Store) Keep(entries map[string]json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	maps.Copy(s.kept, entries)
	s.notifyLocked()
}

// Get returns the state of device id.
func (s *Store) Get(id string) (State, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.devices[id]
	return st, ok
}

// IDs lists the devices in the store, sorted.
func (s *Store) IDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.devices))
}

// Apply applies a command to device id at time now and returns the new
// state and whether any field changed. Setting activeScene starts that
// scene, so playState becomes playing unless the patch sets it too, and
// its parameters start from the scene's defaults unless the patch sets
// them. The timestamp moves to now only when something changed, and never
// backwards.
func (s *Store) Apply(id string, p Patch, now time.Time) (State, bool, error) {
	if p.ActiveScene != nil && p.PlayState == nil {
		playing := Playing
		p.PlayState = &playing
	}
	if p.ActiveScene != nil && p.SceneParams == nil {
		none := NoParams
		p.SceneParams = &none
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.devices[id]
	if !ok {
		return State{}, false, fmt.Errorf("%w %q", ErrUnknownDevice, id)
	}
	st := p.Apply(old)
	if st == old {
		return old, false, nil
	}
	st.Timestamp = now.UTC()
	if st.Timestamp.Before(old.Timestamp) {
		st.Timestamp = old.Timestamp
	}
	s.devices[id] = st
	s.notifyLocked()
	return st, true, nil
}

// snapshot is what the file writer saves: every device, the kept entries,
// and the revision it reflects.
type snapshot struct {
	rev     uint64
	devices map[string]State
	kept    map[string]json.RawMessage
}

func (s *Store) snapshot() snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return snapshot{rev: s.rev, devices: maps.Clone(s.devices), kept: maps.Clone(s.kept)}
}
