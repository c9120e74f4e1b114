package state

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// Field describes one persisted field: its name and everything the
// parsers, the file, the topics and Home Assistant discovery need to know
// of it. Schema lists them; code that handles "every field" walks Schema
// rather than naming the fields, so a field is added here, to State and
// to Patch.
type Field struct {
	// Name is the field's name in topics and JSON.
	Name string
	// Options lists the values of an enumerated field, in their order
	// (playState, loggingLevel); nil for the others.
	Options []string
	// Optional fields may be missing from a state topic's payload (one
	// published before the field existed).
	Optional bool

	// fromText reads a set payload of the field's own topic into dst.
	fromText func(s string, dst *State) error
	// fromJSON reads the field's value in a JSON object (set, state topic,
	// file) into dst; its null has been handled by the caller.
	fromJSON func(raw json.RawMessage, dst *State) error
	// in reports whether a patch sets the field.
	in func(p Patch) bool
	// put makes p set the field to src's value: p points into *src.
	put func(p *Patch, src *State)
	// copy sets the field of dst from p, which sets it.
	copy func(dst *State, p Patch)
	// text is the field's payload on its own topic.
	text func(s State) string
	// appendJSON appends the field's value as JSON; a value that is an
	// object is indented with indent (a line break and spaces) unless it
	// is empty.
	appendJSON func(b []byte, s State, indent string) []byte
}

// fields lists the persisted fields in publishing order. It is built once
// and never changed: Schema hands out copies.
var fields = schema()

// schema builds the persisted fields' descriptions, in publishing order.
func schema() []Field {
	return []Field{
		{
			Name: FieldActiveScene,
			fromText: func(s string, dst *State) (err error) {
				dst.ActiveScene, err = ParseSceneName(s)
				return err
			},
			fromJSON:   jsonString(FieldActiveScene, func(s string, dst *State) (err error) { dst.ActiveScene, err = ParseSceneName(s); return err }),
			in:         func(p Patch) bool { return p.ActiveScene != nil },
			put:        func(p *Patch, src *State) { p.ActiveScene = &src.ActiveScene },
			copy:       func(dst *State, p Patch) { dst.ActiveScene = *p.ActiveScene },
			text:       func(s State) string { return s.ActiveScene },
			appendJSON: func(b []byte, s State, _ string) []byte { return appendString(b, s.ActiveScene) },
		},
		{
			Name:    FieldPlayState,
			Options: names(PlayStates()),
			fromText: func(s string, dst *State) (err error) {
				dst.PlayState, err = ParsePlayState(s)
				return err
			},
			fromJSON:   jsonString(FieldPlayState, func(s string, dst *State) (err error) { dst.PlayState, err = ParsePlayState(s); return err }),
			in:         func(p Patch) bool { return p.PlayState != nil },
			put:        func(p *Patch, src *State) { p.PlayState = &src.PlayState },
			copy:       func(dst *State, p Patch) { dst.PlayState = *p.PlayState },
			text:       func(s State) string { return string(s.PlayState) },
			appendJSON: func(b []byte, s State, _ string) []byte { return appendString(b, string(s.PlayState)) },
		},
		{
			Name: FieldBrightness,
			fromText: func(s string, dst *State) (err error) {
				dst.Brightness, err = ParseBrightness(s)
				return err
			},
			fromJSON: func(raw json.RawMessage, dst *State) (err error) {
				n := string(raw)
				if !isJSONNumber(n) {
					return invalid(FieldBrightness, "brightness must be a JSON number, an integer from 0 to 100")
				}
				dst.Brightness, err = brightnessFromNumber(n)
				return err
			},
			in:         func(p Patch) bool { return p.Brightness != nil },
			put:        func(p *Patch, src *State) { p.Brightness = &src.Brightness },
			copy:       func(dst *State, p Patch) { dst.Brightness = *p.Brightness },
			text:       func(s State) string { return strconv.Itoa(s.Brightness) },
			appendJSON: func(b []byte, s State, _ string) []byte { return strconv.AppendInt(b, int64(s.Brightness), 10) },
		},
		{
			Name: FieldDisplayOn,
			fromText: func(s string, dst *State) (err error) {
				dst.DisplayOn, err = ParseDisplayOn(s)
				return err
			},
			fromJSON: func(raw json.RawMessage, dst *State) (err error) {
				// A JSON boolean, or one of the words as a JSON string;
				// null would unmarshal into false and turn the display off.
				if string(raw) != "null" && json.Unmarshal(raw, &dst.DisplayOn) == nil {
					return nil
				}
				var s string
				if json.Unmarshal(raw, &s) != nil {
					return invalid(FieldDisplayOn, "displayOn must be a JSON boolean or one of true, false, on, off, 1, 0")
				}
				dst.DisplayOn, err = ParseDisplayOn(s)
				return err
			},
			in:         func(p Patch) bool { return p.DisplayOn != nil },
			put:        func(p *Patch, src *State) { p.DisplayOn = &src.DisplayOn },
			copy:       func(dst *State, p Patch) { dst.DisplayOn = *p.DisplayOn },
			text:       func(s State) string { return strconv.FormatBool(s.DisplayOn) },
			appendJSON: func(b []byte, s State, _ string) []byte { return strconv.AppendBool(b, s.DisplayOn) },
		},
		{
			Name:    FieldLoggingLevel,
			Options: names(LogLevels()),
			fromText: func(s string, dst *State) (err error) {
				dst.LoggingLevel, err = ParseLogLevel(s)
				return err
			},
			fromJSON:   jsonString(FieldLoggingLevel, func(s string, dst *State) (err error) { dst.LoggingLevel, err = ParseLogLevel(s); return err }),
			in:         func(p Patch) bool { return p.LoggingLevel != nil },
			put:        func(p *Patch, src *State) { p.LoggingLevel = &src.LoggingLevel },
			copy:       func(dst *State, p Patch) { dst.LoggingLevel = *p.LoggingLevel },
			text:       func(s State) string { return string(s.LoggingLevel) },
			appendJSON: func(b []byte, s State, _ string) []byte { return appendString(b, string(s.LoggingLevel)) },
		},
		{
			Name:     FieldSceneParams,
			Optional: true,
			fromText: func(s string, dst *State) (err error) {
				dst.SceneParams, err = ParseSceneParams(s)
				return err
			},
			fromJSON: func(raw json.RawMessage, dst *State) (err error) {
				dst.SceneParams, err = ParseSceneParams(string(raw))
				return err
			},
			in:   func(p Patch) bool { return p.SceneParams != nil },
			put:  func(p *Patch, src *State) { p.SceneParams = &src.SceneParams },
			copy: func(dst *State, p Patch) { dst.SceneParams = *p.SceneParams },
			text: func(s State) string { return s.SceneParams.String() },
			appendJSON: func(b []byte, s State, indent string) []byte {
				v := s.SceneParams.String()
				if indent == "" || s.SceneParams == NoParams {
					return append(b, v...)
				}
				var out bytes.Buffer
				if json.Indent(&out, []byte(v), strings.TrimPrefix(indent, "\n"), "  ") != nil {
					return append(b, v...)
				}
				return append(b, out.Bytes()...)
			},
		},
	}
}

// Schema describes the persisted fields, in publishing order.
func Schema() []Field { return slices.Clone(fields) }

// Fields lists the persisted fields' names, in publishing order.
func Fields() []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Name
	}
	return out
}

// lookup returns the field called name.
func lookup(name string) (Field, bool) {
	for _, f := range fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// jsonString reads a field whose JSON value is a string with the field's
// text parser.
func jsonString(field string, parse func(string, *State) error) func(json.RawMessage, *State) error {
	return func(raw json.RawMessage, dst *State) error {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return invalid(field, "%s must be a JSON string", field)
		}
		return parse(s, dst)
	}
}

func names[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// appendString appends s as a JSON string, escaped as encoding/json does.
func appendString(b []byte, s string) []byte {
	if isPlainASCII(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	js, _ := json.Marshal(s) // a string always encodes
	return append(b, js...)
}

// isPlainASCII reports whether s needs no escaping in JSON: printable
// ASCII without quotes, backslashes or the HTML characters encoding/json
// escapes.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
