package state

// Source says where a device's state came from at start-up.
type Source string

// The sources of restored state.
const (
	FromFile     Source = "file"
	FromBroker   Source = "broker"
	FromDefaults Source = "defaults"
)

// Entry returns the file's entry for key, with the file's top-level
// timestamp standing in for a missing per-device one.
func (d *Document) Entry(key string) (Entry, bool) {
	if d == nil {
		return Entry{}, false
	}
	e, ok := d.Devices[key]
	if ok && e.Timestamp.IsZero() {
		e.Timestamp = d.Timestamp
	}
	return e, ok
}

// Restore picks a device's state at start-up: whichever of the file entry
// and the broker's retained state is newer (the file on a tie); a device
// missing from one comes from the other, and missing from both from
// defaults. Fields the file left null or out take the defaults.
func Restore(defaults State, file *Entry, broker *State) (State, Source) {
	switch {
	case file == nil && broker == nil:
		return defaults, FromDefaults
	case file == nil || (broker != nil && broker.Timestamp.After(file.Timestamp)):
		return *broker, FromBroker
	}
	st := file.Patch.Apply(defaults)
	st.Timestamp = file.Timestamp
	return st, FromFile
}
