package state

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// SceneParams are the parameters of the active scene as a JSON object in
// canonical form: keys sorted, no white space; the empty string for none
// (written "{}").
// Which names and values a scene takes is the scene's business
// (device/scene checks them and writes colours as #rrggbb); state checks
// that it is an object.
type SceneParams string

// NoParams is the value with no parameter set.
const NoParams SceneParams = ""

// String is the JSON object, "{}" for none.
func (p SceneParams) String() string {
	if p == NoParams {
		return "{}"
	}
	return string(p)
}

// Map returns the parameters by name, each as its JSON value.
func (p SceneParams) Map() map[string]json.RawMessage {
	m := make(map[string]json.RawMessage)
	_ = json.Unmarshal([]byte(p.String()), &m) // canonical: always an object
	return m
}

// ParamsOf returns m (names to JSON values) as canonical SceneParams:
// every value decoded and written again, so that two spellings of one
// value ("\u00e9" and "é", 1.0 and 1.0) are one.
func ParamsOf(m map[string]json.RawMessage) SceneParams {
	if len(m) == 0 {
		return NoParams
	}
	values := make(map[string]any, len(m))
	for k, raw := range m {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber() // numbers as written: no float rounding
		var v any
		if dec.Decode(&v) != nil {
			v = nil // cannot happen: the values come from a JSON parser
		}
		values[k] = v
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(values) != nil {
		return NoParams // cannot happen: strings, numbers, bools, lists, maps
	}
	return SceneParams(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// ParseSceneParams reads a sceneParams payload: a JSON object (of any
// values; the scene checks them). Surrounding white space is ignored.
func ParseSceneParams(s string) (SceneParams, error) {
	s = strings.TrimSpace(s)
	if s == "{}" {
		return NoParams, nil // what every entry without parameters holds
	}
	b := []byte(s)
	if !utf8.Valid(b) {
		return "", invalid(FieldSceneParams, "sceneParams must be valid UTF-8")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return "", invalid(FieldSceneParams, "sceneParams must be a JSON object: %s", jsonReason(err))
	}
	return ParamsOf(m), nil
}

// parseSceneWithParams reads the original pidicon daemon's way of setting
// a scene: {"scene":"<name>", <parameters>...}.
func parseSceneWithParams(payload string) (Patch, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(strings.TrimSpace(payload)), &m); err != nil || m == nil {
		return Patch{}, invalid(FieldActiveScene, "activeScene must be a scene name or a JSON object with \"scene\" and its parameters: %s", jsonReason(err))
	}
	var name string
	if json.Unmarshal(m["scene"], &name) != nil {
		return Patch{}, invalid(FieldActiveScene, `activeScene as a JSON object needs "scene", a string`)
	}
	name, err := ParseSceneName(name)
	if err != nil {
		return Patch{}, err
	}
	delete(m, "scene")
	params := ParamsOf(m)
	return Patch{ActiveScene: &name, SceneParams: &params}, nil
}
