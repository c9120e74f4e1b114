// Package state owns a display's persistent state: the six fields every
// device publishes (activeScene, playState, brightness, displayOn,
// loggingLevel, sceneParams), the one place that parses and checks them,
// the in-memory Store that announces changes, and the JSON file that
// survives restarts.
//
// It imports no other package of the daemon but two small internal ones
// (internal/atomicfile for the file's writes, internal/logkey).
package state

import (
	"errors"
	"fmt"
	"time"
)

// Field names, as used in topics and JSON.
const (
	FieldActiveScene  = "activeScene"
	FieldPlayState    = "playState"
	FieldBrightness   = "brightness"
	FieldDisplayOn    = "displayOn"
	FieldLoggingLevel = "loggingLevel"
	FieldSceneParams  = "sceneParams"
)

// PlayState says whether the active scene's render loop runs.
type PlayState string

// The play states.
const (
	Playing PlayState = "playing"
	Paused  PlayState = "paused"
	Stopped PlayState = "stopped"
)

// LogLevel is a device's log verbosity.
type LogLevel string

// The logging levels, from most to least verbose.
const (
	LevelDebug   LogLevel = "debug"
	LevelInfo    LogLevel = "info"
	LevelWarning LogLevel = "warning"
	LevelError   LogLevel = "error"
	LevelSilent  LogLevel = "silent"
)

// PlayStates lists the valid play states.
func PlayStates() []PlayState { return []PlayState{Playing, Paused, Stopped} }

// LogLevels lists the valid logging levels, most verbose first.
func LogLevels() []LogLevel {
	return []LogLevel{LevelDebug, LevelInfo, LevelWarning, LevelError, LevelSilent}
}

// TimeFormat is how timestamps are written: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// FormatTime formats t as TimeFormat in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// ParseTime parses an RFC 3339 timestamp (with or without fractions).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339", s)
	}
	return t.UTC(), nil
}

// State is one device's persistent state and the time of its last change.
type State struct {
	ActiveScene  string
	PlayState    PlayState
	Brightness   int
	DisplayOn    bool
	LoggingLevel LogLevel
	// SceneParams are the parameters of the active scene that were set
	// (the scene's defaults stand in for the others).
	SceneParams SceneParams
	// Timestamp is when a field last changed; a set that changes nothing
	// leaves it alone.
	Timestamp time.Time
}

// ErrInvalid is wrapped by every error about a value that is not valid.
var ErrInvalid = errors.New("invalid value")

// FieldError says which field a value was meant for and why it was refused.
// It wraps ErrInvalid.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Reason }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks every field of s (the scene name only for its syntax: which
// scenes exist is the device's business): each must read back from its
// own topic's payload.
func (s State) Validate() error {
	var errs []error
	for _, f := range fields {
		var v State
		if err := f.fromText(f.text(s), &v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Value is the payload of the field's own topic, e.g. "75" or "true"; ""
// for a name that is not a field.
func (s State) Value(field string) string {
	f, ok := lookup(field)
	if !ok {
		return ""
	}
	return f.text(s)
}

// MarshalJSON writes the payload of the state topic: the fields and the
// timestamp.
func (s State) MarshalJSON() ([]byte, error) { return s.appendJSON(nil, "", ""), nil }

// appendJSON appends s as a JSON object: every field, then the timestamp if
// there is one. With sep (a line break and indent) it writes one key a
// line, each line starting with sep, and the closing brace on a line
// starting with end, as json.MarshalIndent would.
func (s State) appendJSON(b []byte, sep, end string) []byte {
	colon := ":"
	if sep != "" {
		colon = ": "
	}
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, sep...)
		b = appendString(b, f.Name)
		b = append(b, colon...)
		b = f.appendJSON(b, s, sep)
	}
	if !s.Timestamp.IsZero() {
		b = append(b, ',')
		b = append(b, sep...)
		b = append(b, `"timestamp"`...)
		b = append(b, colon...)
		b = appendString(b, FormatTime(s.Timestamp))
	}
	b = append(b, end...)
	return append(b, '}')
}

// ParseStateJSON reads a state topic payload. Every field that is not
// optional, and the timestamp, must be there and valid; an optional one
// that is missing (a state published before the field existed) takes its
// zero value.
func ParseStateJSON(b []byte) (State, error) {
	e, err := parseEntry(b)
	if err != nil {
		return State{}, err
	}
	if e.Timestamp.IsZero() {
		return State{}, invalid("timestamp", "state has no timestamp")
	}
	for _, f := range fields {
		if !f.in(e.Patch) && !f.Optional {
			return State{}, invalid(f.Name, "state has no %s", f.Name)
		}
	}
	st := e.Apply(State{})
	st.Timestamp = e.Timestamp
	return st, nil
}
