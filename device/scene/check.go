package scene

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"maps"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pidicon/pidicon-mqtt/device/picture"
)

// ErrParams is wrapped by every error about scene parameters.
var ErrParams = errors.New("invalid scene parameters")

// Images tells which image names exist, for parameters of type image.
type Images interface {
	Has(name string) bool
}

// paramError says which parameter was refused and why. It wraps ErrParams.
type paramError struct{ msg string }

func (e *paramError) Error() string { return e.msg }
func (e *paramError) Unwrap() error { return ErrParams }

func paramErr(format string, args ...any) error {
	return &paramError{msg: fmt.Sprintf(format, args...)}
}

// Check reads parameter values (names to their JSON values) against the
// scene's declared parameters and returns the values set, in their Go form
// (without the defaults). Unknown names, values of the wrong type or out of
// range, image names that do not exist (images may be nil: not checked)
// and a missing required parameter are refused with an error that names
// the parameter and what it takes.
func (s Scene) Check(raw map[string]json.RawMessage, images Images) (Values, error) {
	out := make(Values, len(raw))
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		i := slices.IndexFunc(s.Params, func(p Param) bool { return p.Name == name })
		if i < 0 {
			return nil, paramErr("scene %q has no parameter %q (parameters: %s)", s.Name, name, s.paramNames())
		}
		v, err := s.Params[i].Parse(raw[name], images)
		if err != nil {
			return nil, paramErr("scene %q, parameter %q: %v", s.Name, name, err)
		}
		out[name] = v
	}
	for _, p := range s.Params {
		if _, ok := out[p.Name]; p.Required && !ok {
			return nil, paramErr("scene %q needs the parameter %q (%s)", s.Name, p.Name, p.Type)
		}
	}
	return out, nil
}

func (s Scene) paramNames() string {
	if len(s.Params) == 0 {
		return "none"
	}
	names := make([]string, len(s.Params))
	for i, p := range s.Params {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// Parse reads one value of the parameter; images, if not nil, must have
// an image it names.
func (p Param) Parse(raw json.RawMessage, images Images) (any, error) {
	switch p.Type {
	case TypeColor:
		return ParseColor(raw)
	case TypeBool:
		var b bool
		if string(raw) == "null" || json.Unmarshal(raw, &b) != nil {
			return nil, errors.New("want true or false")
		}
		return b, nil
	case TypeInt, TypeNumber:
		var f float64
		if string(raw) == "null" || json.Unmarshal(raw, &f) != nil {
			return nil, fmt.Errorf("want a number%s", p.rangeText())
		}
		if p.Type == TypeInt && (f != math.Trunc(f) || math.Abs(f) > 1<<31) {
			return nil, fmt.Errorf("want an integer%s", p.rangeText())
		}
		if (p.Min != nil && f < *p.Min) || (p.Max != nil && f > *p.Max) {
			return nil, fmt.Errorf("%v is out of range%s", f, p.rangeText())
		}
		if p.Type == TypeInt {
			return int(f), nil
		}
		return f, nil
	}
	var s string
	if string(raw) == "null" || json.Unmarshal(raw, &s) != nil {
		return nil, errors.New("want a JSON string")
	}
	switch p.Type {
	case TypeEnum:
		if !slices.Contains(p.Options, s) {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(p.Options, ", "))
		}
	case TypeImage:
		if picture.CheckName(s) != nil {
			return nil, fmt.Errorf("%q is not an image name (1 to 64 lower-case letters, digits, _ and -)", s)
		}
		if images != nil && !images.Has(s) {
			return nil, fmt.Errorf("no image %q", s)
		}
	case TypeString:
		if !utf8.ValidString(s) {
			return nil, errors.New("want valid UTF-8")
		}
		if n := utf8.RuneCountInString(s); p.MaxLength > 0 && n > p.MaxLength {
			return nil, fmt.Errorf("%d characters; at most %d", n, p.MaxLength)
		}
	}
	return s, nil
}

// rangeText is " from min to max" or the part that applies.
func (p Param) rangeText() string {
	switch {
	case p.Min != nil && p.Max != nil:
		return fmt.Sprintf(" from %v to %v", *p.Min, *p.Max)
	case p.Min != nil:
		return fmt.Sprintf(" of at least %v", *p.Min)
	case p.Max != nil:
		return fmt.Sprintf(" of at most %v", *p.Max)
	}
	return ""
}

// errColor says what a colour may be.
var errColor = errors.New(`want a colour: "#rrggbb", "#rgb", [r,g,b] or [r,g,b,a] (0 to 255)`)

// ParseColor reads a colour (CONTRACT §7): "#rrggbb", "#rgb", [r,g,b] or
// [r,g,b,a] with components from 0 to 255. The result is opaque unless a
// is given; colours are published as #rrggbb (FormatValue).
func ParseColor(raw json.RawMessage) (color.RGBA, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return ParseColorText(s)
	}
	var parts []json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&parts) != nil || (len(parts) != 3 && len(parts) != 4) {
		return color.RGBA{}, errColor
	}
	var c [4]uint8
	c[3] = 255
	for i, n := range parts {
		v, err := n.Int64()
		if err != nil || v < 0 || v > 255 {
			return color.RGBA{}, errColor
		}
		c[i] = uint8(v)
	}
	return color.RGBA{R: c[0], G: c[1], B: c[2], A: c[3]}, nil
}

// ParseColorText reads "#rrggbb" or "#rgb" (hex digits in either case).
func ParseColorText(s string) (color.RGBA, error) {
	s = strings.TrimSpace(s)
	hex := func(c byte) (uint8, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	if len(s) != 7 && len(s) != 4 || s[0] != '#' {
		return color.RGBA{}, errColor
	}
	var d []uint8
	for i := 1; i < len(s); i++ {
		v, ok := hex(s[i])
		if !ok {
			return color.RGBA{}, errColor
		}
		d = append(d, v)
	}
	if len(d) == 3 {
		return color.RGBA{R: d[0] * 17, G: d[1] * 17, B: d[2] * 17, A: 255}, nil
	}
	return color.RGBA{R: d[0]<<4 | d[1], G: d[2]<<4 | d[3], B: d[4]<<4 | d[5], A: 255}, nil
}

// JSON returns the values in their published form (colours as #rrggbb)
// as JSON values by name.
func (v Values) JSON() map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(v))
	for name, val := range v {
		b, err := json.Marshal(FormatValue(val))
		if err != nil {
			continue // cannot happen: strings, numbers, bools
		}
		out[name] = b
	}
	return out
}
