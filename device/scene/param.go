package scene

import (
	"encoding/json"
	"fmt"
	"image/color"
	"maps"
)

// ParamType is the type of a scene parameter's value.
type ParamType string

// The parameter types (CONTRACT §7).
const (
	TypeString ParamType = "string"
	TypeColor  ParamType = "color"
	TypeInt    ParamType = "int"
	TypeNumber ParamType = "number"
	TypeBool   ParamType = "bool"
	TypeEnum   ParamType = "enum"
	TypeImage  ParamType = "image"
)

// Param declares one parameter of a scene: what users may set in
// sceneParams, published in bridge/info's sceneDetails.
type Param struct {
	Name        string    `json:"name"`
	Type        ParamType `json:"type"`
	Description string    `json:"description,omitempty"`
	// Default is the value when none is set, in its Go form (string,
	// color.RGBA, int, float64, bool); nil for none (a required
	// parameter, or an image).
	Default any `json:"-"`
	// Required parameters have no default: a scene set without them is
	// refused.
	Required bool `json:"required,omitempty"`
	// Min and Max bound int and number values.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Options are the values of an enum.
	Options []string `json:"options,omitempty"`
	// MaxLength bounds a string, in characters.
	MaxLength int `json:"maxLength,omitempty"`
}

// Values are a scene's parameter values by name, each in its Go form:
// string (string, enum, image), color.RGBA, int, float64 or bool. A scene
// gets them at render time with every declared parameter present (its
// default where none was set).
type Values map[string]any

// String returns the string, enum or image parameter name ("" if absent).
func (v Values) String(name string) string {
	s, _ := v[name].(string)
	return s
}

// Color returns the colour parameter name (transparent black if absent).
func (v Values) Color(name string) color.RGBA {
	c, _ := v[name].(color.RGBA)
	return c
}

// Int returns the int parameter name (0 if absent).
func (v Values) Int(name string) int {
	n, _ := v[name].(int)
	return n
}

// Number returns the number parameter name (0 if absent).
func (v Values) Number(name string) float64 {
	f, _ := v[name].(float64)
	return f
}

// Bool returns the bool parameter name (false if absent).
func (v Values) Bool(name string) bool {
	b, _ := v[name].(bool)
	return b
}

// Defaults returns the values of the scene's parameters that have a
// default.
func (s Scene) Defaults() Values {
	out := make(Values, len(s.Params))
	for _, p := range s.Params {
		if p.Default != nil {
			out[p.Name] = p.Default
		}
	}
	return out
}

// WithDefaults returns v over the scene's defaults: a parameter v does not
// set takes its default. v itself is not changed.
func (s Scene) WithDefaults(v Values) Values {
	out := s.Defaults()
	maps.Copy(out, v)
	return out
}

// FormatValue is a parameter value in its published form: colours as
// #rrggbb, the rest as they are.
func FormatValue(v any) any {
	if c, ok := v.(color.RGBA); ok {
		return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B)
	}
	return v
}

// MarshalJSON writes the parameter with its default in published form.
func (p Param) MarshalJSON() ([]byte, error) {
	type plain Param
	return json.Marshal(struct {
		plain
		Default any `json:"default,omitempty"`
	}{plain(p), FormatValue(p.Default)})
}
