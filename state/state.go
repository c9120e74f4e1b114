// Package state owns a display's persistent state: the five fields every
// device publishes (activeScene, playState, brightness, displayOn,
// loggingLevel), the one place that parses and checks them, the in-memory
// Store that announces changes, and the JSON file that survives restarts.
//
// It is a leaf package: standard library only.
package state

import (
	"encoding/json"
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
)

// Fields lists the five persisted fields in the order they are published.
func Fields() []string {
	return []string{FieldActiveScene, FieldPlayState, FieldBrightness, FieldDisplayOn, FieldLoggingLevel}
}

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
// scenes exist is the device's business).
func (s State) Validate() error {
	var errs []error
	if _, err := ParseSceneName(s.ActiveScene); err != nil {
		errs = append(errs, err)
	}
	if _, err := ParsePlayState(string(s.PlayState)); err != nil {
		errs = append(errs, err)
	}
	if s.Brightness < 0 || s.Brightness > 100 {
		errs = append(errs, invalid(FieldBrightness, "brightness must be an integer from 0 to 100"))
	}
	if _, err := ParseLogLevel(string(s.LoggingLevel)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Value is the payload of the field's own topic, e.g. "75" or "true".
func (s State) Value(field string) string {
	switch field {
	case FieldActiveScene:
		return s.ActiveScene
	case FieldPlayState:
		return string(s.PlayState)
	case FieldBrightness:
		return fmt.Sprint(s.Brightness)
	case FieldDisplayOn:
		return fmt.Sprint(s.DisplayOn)
	case FieldLoggingLevel:
		return string(s.LoggingLevel)
	}
	return ""
}

// stateJSON is the wire form of State on the state topic and in the file.
type stateJSON struct {
	ActiveScene  string    `json:"activeScene"`
	PlayState    PlayState `json:"playState"`
	Brightness   int       `json:"brightness"`
	DisplayOn    bool      `json:"displayOn"`
	LoggingLevel LogLevel  `json:"loggingLevel"`
	Timestamp    string    `json:"timestamp,omitempty"`
}

func (s State) wire(withTime bool) stateJSON {
	w := stateJSON{
		ActiveScene:  s.ActiveScene,
		PlayState:    s.PlayState,
		Brightness:   s.Brightness,
		DisplayOn:    s.DisplayOn,
		LoggingLevel: s.LoggingLevel,
	}
	if withTime && !s.Timestamp.IsZero() {
		w.Timestamp = FormatTime(s.Timestamp)
	}
	return w
}

// MarshalJSON writes the payload of the state topic: the five fields and
// the timestamp.
func (s State) MarshalJSON() ([]byte, error) { return json.Marshal(s.wire(true)) }

// ParseStateJSON reads a state topic payload. All five fields and the
// timestamp must be there and valid.
func ParseStateJSON(b []byte) (State, error) {
	e, err := parseEntry(b)
	if err != nil {
		return State{}, err
	}
	if e.Timestamp.IsZero() {
		return State{}, invalid("timestamp", "state has no timestamp")
	}
	st, missing := e.Patch.Apply(State{}), e.Patch.Missing()
	if len(missing) > 0 {
		return State{}, invalid(missing[0], "state has no %s", missing[0])
	}
	st.Timestamp = e.Timestamp
	return st, nil
}
