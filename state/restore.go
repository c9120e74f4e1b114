package state

import (
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// Source says where a device's state came from at start-up.
type Source string

// The sources of restored state.
const (
	FromFile     Source = "file"
	FromBroker   Source = "broker"
	FromDefaults Source = "defaults"
)

// MaxClockSkew is how far in the future a restored timestamp may be. A
// later one (a host with a wrong clock, or a hand-made retained message)
// would win every restore and freeze every later timestamp, since they
// never go backwards.
const MaxClockSkew = time.Minute

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

// RestoreDevice is a configured device as the restore sees it.
type RestoreDevice struct {
	ID string
	// Host is the device's host setting; its address claims the entry of a
	// file of the original pidicon daemon, which is keyed by IP address.
	Host string
	// Defaults is the state used when nothing is restored, and for the
	// fields a file entry leaves null.
	Defaults State
	// Check, if set, returns an error when the device cannot run st (an
	// unknown scene, one not for its size, parameters the scene does not
	// take); the restored state then takes the defaults' scene and its
	// parameters.
	Check func(st State) error
}

// RestoreInput is everything the restore decides from.
type RestoreInput struct {
	// File is the state file as read, nil if there is none.
	File *Document
	// Quarantined reports that the state file could not be used and was
	// moved aside (File is nil then).
	Quarantined bool
	// Broker holds the broker's retained <base>/<id>/state payloads by
	// device id; nil means the broker was not read (it did not answer).
	Broker map[string][]byte
	// Devices are the configured devices, in config order.
	Devices []RestoreDevice
	// Now is the time of the restore.
	Now time.Time
}

// Restored is one device's restored state and how it was chosen.
type Restored struct {
	ID     string
	State  State
	Source Source
	// FileKey is the file entry the device claimed ("" if none): its id,
	// or its host address in a file of the original daemon.
	FileKey string
	// FileClamped reports that the file entry was dated more than
	// MaxClockSkew in the future and was taken as undated (older than
	// anything on the broker).
	FileClamped bool
	// HostTakenBy names the device that claimed the entry keyed by this
	// device's host address first: one entry goes to one device.
	HostTakenBy string
	// BrokerRefused says why the broker's retained state was not used
	// (invalid, or dated in the future); nil if it was usable or absent.
	BrokerRefused error
	// SceneRefused says why the restored scene, or its parameters, cannot
	// run on the device; the defaults' scene took its place.
	SceneRefused error
	// Quarantined repeats RestoreInput.Quarantined: the file was unusable.
	Quarantined bool
}

// RestoreResult is the outcome of a restore.
type RestoreResult struct {
	// Devices are the configured devices' states, in config order.
	Devices []Restored
	// Kept holds the file entries no configured device claims, as they
	// were written, so the file keeps them.
	Kept map[string]json.RawMessage
}

// Restore picks each configured device's state at start-up (CONTRACT §4):
// whichever of its file entry and the broker's retained state is newer,
// the file on a tie; a device missing from one comes from the other, and
// missing from both from its defaults. Fields the file left null take the
// defaults. A file entry is the device's by id, or else by its host's
// address (a file of the original daemon), one entry to one device. It is
// a pure function: it reads no file and no broker.
func Restore(in RestoreInput) RestoreResult {
	out := RestoreResult{Kept: make(map[string]json.RawMessage)}
	claimed := make(map[string]string) // file key -> device id
	for _, d := range in.Devices {
		if _, ok := in.File.Entry(d.ID); ok {
			claimed[d.ID] = d.ID
		}
	}
	for _, d := range in.Devices {
		r := Restored{ID: d.ID, Quarantined: in.Quarantined}
		var file *Entry
		key := d.ID
		e, ok := in.File.Entry(key)
		if !ok {
			if key = HostAddress(d.Host); key != "" {
				if by, taken := claimed[key]; taken {
					if _, exists := in.File.Entry(key); exists {
						r.HostTakenBy = by
					}
				} else if e, ok = in.File.Entry(key); ok {
					claimed[key] = d.ID
				}
			}
		}
		if ok {
			r.FileKey = key
			switch {
			case e.Timestamp.IsZero():
				// Undated (a file of the original daemon without any
				// timestamp): older than anything the broker holds.
				e.Timestamp = time.Unix(0, 0).UTC()
			case e.Timestamp.After(in.Now.Add(MaxClockSkew)):
				e.Timestamp = time.Unix(0, 0).UTC()
				r.FileClamped = true
			}
			file = &e
		}
		var broker *State
		if payload, ok := in.Broker[d.ID]; ok {
			st, err := ParseStateJSON(payload)
			if err == nil {
				err = st.Validate()
			}
			if err == nil && st.Timestamp.After(in.Now.Add(MaxClockSkew)) {
				err = fmt.Errorf("its timestamp %s is in the future", FormatTime(st.Timestamp))
			}
			if err != nil {
				r.BrokerRefused = err
			} else {
				broker = &st
			}
		}
		switch {
		case file == nil && broker == nil:
			r.State, r.Source = d.Defaults, FromDefaults
			if in.Broker != nil {
				// Read the broker and found nothing: the defaults are the
				// state from now on. Without a broker they stay undated, so
				// the file does not get an entry that would beat a real
				// state the broker may still bring.
				r.State.Timestamp = in.Now.UTC()
			}
		case file == nil || (broker != nil && broker.Timestamp.After(file.Timestamp)):
			r.State, r.Source = *broker, FromBroker
		default:
			r.State = file.Apply(d.Defaults)
			r.State.Timestamp = file.Timestamp
			r.Source = FromFile
		}
		if d.Check != nil {
			if err := d.Check(r.State); err != nil {
				r.SceneRefused = err
				r.State.ActiveScene = d.Defaults.ActiveScene
				r.State.SceneParams = d.Defaults.SceneParams
			}
		}
		out.Devices = append(out.Devices, r)
	}
	if in.File != nil {
		for key, raw := range in.File.Raw {
			if _, ok := claimed[key]; !ok {
				out.Kept[key] = raw
			}
		}
	}
	return out
}

// HostAddress is the address part of a device's host setting ("" for
// none): "192.168.1.9:80" and "192.168.1.9" both give "192.168.1.9".
func HostAddress(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}
