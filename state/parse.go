package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxSceneName is the longest scene name accepted, in bytes.
const MaxSceneName = 64

// ParseSceneName checks the syntax of a scene name: surrounding white space
// is dropped; the rest must be non-empty printable UTF-8 of at most
// MaxSceneName bytes. Names are case-sensitive.
func ParseSceneName(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", invalid(FieldActiveScene, "activeScene must be a scene name")
	case !utf8.ValidString(s):
		return "", invalid(FieldActiveScene, "activeScene must be valid UTF-8")
	case len(s) > MaxSceneName:
		return "", invalid(FieldActiveScene, "activeScene must be at most %d bytes", MaxSceneName)
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return "", invalid(FieldActiveScene, "activeScene must not hold control characters")
	}
	return s, nil
}

// ParsePlayState reads a play state, ignoring case and surrounding white space.
func ParsePlayState(s string) (PlayState, error) {
	p := PlayState(strings.ToLower(strings.TrimSpace(s)))
	switch p {
	case Playing, Paused, Stopped:
		return p, nil
	}
	return "", invalid(FieldPlayState, "playState must be one of playing, paused, stopped")
}

// ParseLogLevel reads a logging level, ignoring case and surrounding white space.
func ParseLogLevel(s string) (LogLevel, error) {
	l := LogLevel(strings.ToLower(strings.TrimSpace(s)))
	switch l {
	case LevelDebug, LevelInfo, LevelWarning, LevelError, LevelSilent:
		return l, nil
	}
	return "", invalid(FieldLoggingLevel, "loggingLevel must be one of debug, info, warning, error, silent")
}

// ParseDisplayOn reads true/false, on/off or 1/0, ignoring case and
// surrounding white space.
func ParseDisplayOn(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "on", "1":
		return true, nil
	case "false", "off", "0":
		return false, nil
	}
	return false, invalid(FieldDisplayOn, "displayOn must be true, false, on, off, 1 or 0")
}

// ParseBrightness reads an integer from 0 to 100 written as a number
// ("40", "40.0"); surrounding white space is ignored.
func ParseBrightness(s string) (int, error) {
	s = strings.TrimSpace(s)
	if !isJSONNumber(s) {
		return 0, errBrightness()
	}
	return brightnessFromNumber(s)
}

func errBrightness() error {
	return invalid(FieldBrightness, "brightness must be an integer from 0 to 100")
}

// brightnessFromNumber reads s, a number in JSON's grammar (see
// isJSONNumber), whose value must be exactly an integer from 0 to 100. It
// works on the decimal digits rather than a float64, which would round
// "50.00000000000000001" to 50 and "1e-400" to 0 and so let a value that is
// not an integer through.
func brightnessFromNumber(s string) (int, error) {
	neg := strings.HasPrefix(s, "-")
	mant, exp, hasExp := strings.Cut(strings.TrimPrefix(s, "-"), "e")
	if !hasExp {
		mant, exp, hasExp = strings.Cut(mant, "E")
	}
	whole, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	if digits == "" {
		return 0, nil // zero, whatever its sign and exponent
	}
	// The value is digits × 10^shift.
	shift := -len(frac)
	if hasExp {
		e, err := strconv.Atoi(exp)
		if err != nil || e < -1000 || e > 1000 {
			// Refused even where trailing zeros would cancel it out
			// ("1" and 2000 zeros "e-2000"): nobody writes that.
			return 0, errBrightness()
		}
		shift += e
	}
	trimmed := strings.TrimRight(digits, "0")
	shift += len(digits) - len(trimmed)
	if neg || shift < 0 || len(trimmed)+shift > 3 {
		return 0, errBrightness() // negative, not an integer, or over 999
	}
	n, err := strconv.Atoi(trimmed + strings.Repeat("0", shift))
	if err != nil || n > 100 {
		return 0, errBrightness()
	}
	return n, nil
}

// isJSONNumber reports whether s is a number in JSON's grammar, which
// leaves out the hex, NaN, Inf and underscore forms strconv would take.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// Patch is a change to some of the fields; nil means "leave alone".
type Patch struct {
	ActiveScene  *string
	PlayState    *PlayState
	Brightness   *int
	DisplayOn    *bool
	LoggingLevel *LogLevel
	SceneParams  *SceneParams
}

// IsEmpty reports whether the patch changes nothing.
func (p Patch) IsEmpty() bool { return len(p.Present()) == 0 }

// Present lists the fields the patch sets, in publishing order.
func (p Patch) Present() []string {
	var out []string
	for _, f := range fields {
		if f.in(p) {
			out = append(out, f.Name)
		}
	}
	return out
}

// Missing lists the fields the patch leaves alone, in publishing order.
func (p Patch) Missing() []string {
	var out []string
	for _, f := range fields {
		if !f.in(p) {
			out = append(out, f.Name)
		}
	}
	return out
}

// Apply returns s with the patch's fields set; the timestamp is left alone.
func (p Patch) Apply(s State) State {
	for _, f := range fields {
		if f.in(p) {
			f.copy(&s, p)
		}
	}
	return s
}

// ParseField reads the payload of a single-field set topic
// (<base>/<id>/<field>/set). activeScene also takes the original pidicon
// daemon's shape, a JSON object with the scene and its parameters:
// {"scene":"fill","color":"#ff0000"}.
func ParseField(field, payload string) (Patch, error) {
	if field == FieldActiveScene && strings.HasPrefix(strings.TrimSpace(payload), "{") {
		return parseSceneWithParams(payload)
	}
	f, ok := lookup(field)
	if !ok {
		return Patch{}, invalid(field, "unknown field %q (fields: %s)", field, strings.Join(Fields(), ", "))
	}
	v := new(State)
	if err := f.fromText(payload, v); err != nil {
		return Patch{}, err
	}
	var p Patch
	f.put(&p, v)
	return p, nil
}

// ParsePatch reads the JSON object of <base>/<id>/set: any subset of the
// six fields, nothing else. brightness must be a JSON number with an
// integral value, displayOn a JSON boolean or one of the displayOn words,
// sceneParams a JSON object, the others JSON strings. The whole object is refused if any part is wrong.
func ParsePatch(payload []byte) (Patch, error) {
	e, err := parseObject(payload, false)
	if err != nil {
		return Patch{}, err
	}
	if e.Patch.IsEmpty() {
		return Patch{}, invalid("", "set must name at least one of %s", strings.Join(Fields(), ", "))
	}
	return e.Patch, nil
}

// Entry is one device's state as stored: a patch (fields that were null or
// missing are nil) and the time of the last change (zero if absent).
type Entry struct {
	Patch
	Timestamp time.Time
}

// parseEntry reads a stored device state (file entry or state topic):
// the six fields, null allowed, plus an optional timestamp; other keys are
// ignored.
func parseEntry(b []byte) (Entry, error) { return parseObject(b, true) }

func parseObject(b []byte, stored bool) (Entry, error) {
	var e Entry
	b = bytes.TrimSpace(b)
	if !utf8.Valid(b) {
		return e, invalid("", "payload must be valid UTF-8")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return e, invalid("", "payload must be a JSON object: %s", jsonReason(err))
	}
	// The values the patch points to: one allocation for all fields.
	vals := new(State)
	// Sorted, so that of several bad keys the same one is always reported.
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		v := raw[key]
		if stored && string(v) == "null" {
			continue
		}
		if key == "timestamp" && stored {
			var s string
			if json.Unmarshal(v, &s) != nil {
				return e, invalid(key, "timestamp must be a string")
			}
			t, err := ParseTime(s)
			if err != nil {
				return e, invalid(key, "%v", err)
			}
			e.Timestamp = t
			continue
		}
		f, ok := lookup(key)
		if !ok {
			if !stored {
				return e, invalid(key, "unknown field %q (fields: %s)", key, strings.Join(Fields(), ", "))
			}
			continue
		}
		if err := f.fromJSON(v, vals); err != nil {
			return e, err
		}
		f.put(&e.Patch, vals)
	}
	return e, nil
}

func jsonReason(err error) string {
	if err == nil {
		return "null"
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return "got " + te.Value
	}
	return err.Error()
}
