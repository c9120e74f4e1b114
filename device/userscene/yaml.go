package userscene

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// lineError is a problem at a line of a scene file (0: not known).
type lineError struct {
	line int
	err  error
}

// Error is what is wrong, without the line.
func (e *lineError) Error() string { return e.err.Error() }

// Unwrap returns what is wrong.
func (e *lineError) Unwrap() error { return e.err }

func errAt(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &lineError{line, fmt.Errorf(format, args...)}
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// pair is one key and its value in a YAML mapping.
type pair struct {
	key   string
	kline int
	value *yaml.Node
}

// mapping reads a YAML mapping's pairs, in order; a key given twice and
// merge keys are refused.
func mapping(n *yaml.Node, what string) ([]pair, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, errAt(n, "%s must be a mapping (key: value lines)", what)
	}
	var out []pair
	seen := make(map[string]bool)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k.Kind != yaml.ScalarNode {
			return nil, errAt(k, "%s: keys must be plain words", what)
		}
		if k.Value == "<<" {
			return nil, errAt(k, "%s: merge keys (<<) are not supported", what)
		}
		if seen[k.Value] {
			return nil, errAt(k, "%s: key %q is given twice", what, k.Value)
		}
		seen[k.Value] = true
		out = append(out, pair{key: k.Value, kline: k.Line, value: n.Content[i+1]})
	}
	return out, nil
}

// sequence reads a YAML sequence's items.
func sequence(n *yaml.Node, what string) ([]*yaml.Node, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil, errAt(n, "%s must be a list", what)
	}
	return n.Content, nil
}

// scalar returns a scalar node's text.
func scalar(n *yaml.Node, what string) (string, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", errAt(n, "%s must be a single value", what)
	}
	return n.Value, nil
}

func isNumberTag(n *yaml.Node) bool {
	t := n.ShortTag()
	return t == "!!int" || t == "!!float"
}

// integer reads a whole number from min to max.
func integer(n *yaml.Node, what string, min, max int) (int, error) {
	s, err := scalar(n, what)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(s)
	if err != nil || !isNumberTag(resolve(n)) {
		return 0, errAt(n, "%s: want a whole number from %d to %d, not %q", what, min, max, s)
	}
	if v < min || v > max {
		return 0, errAt(n, "%s: %d is out of range (%d to %d)", what, v, min, max)
	}
	return v, nil
}

// float reads a finite number.
func float(n *yaml.Node, what string) (float64, error) {
	s, err := scalar(n, what)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !isNumberTag(resolve(n)) || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, errAt(n, "%s: want a number, not %q", what, s)
	}
	return v, nil
}

func boolean(n *yaml.Node, what string) (bool, error) {
	s, err := scalar(n, what)
	if err != nil {
		return false, err
	}
	if resolve(n).ShortTag() != "!!bool" {
		return false, errAt(n, "%s: want true or false, not %q", what, s)
	}
	return strconv.ParseBool(strings.ToLower(s))
}

// toJSON converts a YAML value (a scalar, list or mapping of them) to
// JSON, for the parameter checks the built-in scenes use.
func toJSON(n *yaml.Node) (json.RawMessage, error) {
	var v any
	if err := resolve(n).Decode(&v); err != nil {
		return nil, errAt(n, "%v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, errAt(n, "value cannot be used: %v", err)
	}
	return b, nil
}

// textStart is the file line of a scalar's first line of text: the line
// after the indicator of a block scalar (| or >).
func textStart(n *yaml.Node) int {
	n = resolve(n)
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Line + 1
	}
	return n.Line
}

// fields reads the keys of one mapping (a layer, an input, a parameter),
// each at most once, keeping the first problem; done reports keys that
// were never asked for.
type fields struct {
	what  string
	pairs []pair
	used  map[string]bool
	names names
	err   error
}

func newFields(n *yaml.Node, what string, nm names) (*fields, error) {
	pairs, err := mapping(n, what)
	if err != nil {
		return nil, err
	}
	return &fields{what: what, pairs: pairs, used: make(map[string]bool), names: nm}, nil
}

func (f *fields) get(key string) *yaml.Node {
	f.used[key] = true
	for _, p := range f.pairs {
		if p.key == key {
			return p.value
		}
	}
	return nil
}

func (f *fields) fail(err error) {
	if f.err == nil {
		f.err = err
	}
}

func (f *fields) label(key string) string { return f.what + ": " + key }

func (f *fields) str(key, def string) string {
	n := f.get(key)
	if n == nil {
		return def
	}
	s, err := scalar(n, f.label(key))
	if err != nil {
		f.fail(err)
	}
	return s
}

func (f *fields) integer(key string, def, min, max int) int {
	n := f.get(key)
	if n == nil {
		return def
	}
	v, err := integer(n, f.label(key), min, max)
	if err != nil {
		f.fail(err)
	}
	return v
}

func (f *fields) boolean(key string, def bool) bool {
	n := f.get(key)
	if n == nil {
		return def
	}
	v, err := boolean(n, f.label(key))
	if err != nil {
		f.fail(err)
	}
	return v
}

func (f *fields) enum(key, def string, options ...string) string {
	n := f.get(key)
	if n == nil {
		return def
	}
	s, err := scalar(n, f.label(key))
	if err != nil {
		f.fail(err)
		return def
	}
	if !slices.Contains(options, s) {
		f.fail(errAt(n, "%s: %q is not one of %s", f.label(key), s, strings.Join(options, ", ")))
		return def
	}
	return s
}

// template reads a text that may hold template actions; nil if absent.
func (f *fields) template(key string, required bool) *tmpl {
	n := f.get(key)
	if n == nil {
		if required {
			f.fail(&lineError{f.line(), fmt.Errorf("%s needs %s", f.what, key)})
		}
		return nil
	}
	s, err := scalar(n, f.label(key))
	if err != nil {
		f.fail(err)
		return nil
	}
	t, err := compileTemplate(s, textStart(n), f.names)
	if err != nil {
		var le *lineError
		if errors.As(err, &le) {
			err = &lineError{le.line, fmt.Errorf("%s: %w", f.label(key), le.err)}
		}
		f.fail(err)
		return nil
	}
	return t
}

// colour reads a colour: "#rrggbb", "#rgb", [r,g,b] or a template that
// gives one; def (may be nil) when absent.
func (f *fields) colour(key string, def *colorValue) *colorValue {
	n := f.get(key)
	if n == nil {
		return def
	}
	if resolve(n).Kind == yaml.SequenceNode {
		raw, err := toJSON(n)
		if err == nil {
			var c color.RGBA
			if c, err = scene.ParseColor(raw); err == nil {
				return &colorValue{c: c, fixed: true}
			}
			err = errAt(n, "%s: %v", f.label(key), err)
		}
		f.fail(err)
		return def
	}
	t := f.template(key, false)
	if t == nil {
		return def
	}
	if t.fixed {
		c, err := parseColorText(t.text)
		if err != nil {
			f.fail(errAt(n, "%s: %v", f.label(key), err))
			return def
		}
		return &colorValue{c: c, fixed: true}
	}
	return &colorValue{t: t}
}

// number reads a number, or a template that gives one; def when absent.
func (f *fields) number(key string, def *numberValue) *numberValue {
	n := f.get(key)
	if n == nil {
		return def
	}
	if isNumberTag(resolve(n)) {
		v, err := float(n, f.label(key))
		if err != nil {
			f.fail(err)
			return def
		}
		return &numberValue{n: v, fixed: true}
	}
	t := f.template(key, false)
	if t == nil {
		return def
	}
	return &numberValue{t: t}
}

// line is the line of the mapping's first key.
func (f *fields) line() int {
	if len(f.pairs) == 0 {
		return 0
	}
	return f.pairs[0].kline
}

// done returns the first problem, or one about a key nobody asked for.
func (f *fields) done() error {
	if f.err != nil {
		return f.err
	}
	var known []string
	for k := range f.used {
		known = append(known, k)
	}
	slices.Sort(known)
	for _, p := range f.pairs {
		if !f.used[p.key] {
			return &lineError{p.kline, fmt.Errorf("%s: unknown key %q (keys: %s)", f.what, p.key, strings.Join(known, ", "))}
		}
	}
	return nil
}

// colorValue is a colour, fixed or from a template.
type colorValue struct {
	fixed bool
	c     color.RGBA
	t     *tmpl
}

// eval returns the colour; ok is false when a template gave nothing (the
// layer then draws nothing of it).
func (v *colorValue) eval(data map[string]any) (c color.RGBA, ok bool, err error) {
	if v == nil {
		return color.RGBA{}, false, nil
	}
	if v.fixed {
		return v.c, true, nil
	}
	s, err := v.t.run(data)
	if err != nil {
		return color.RGBA{}, false, err
	}
	s = strings.TrimSpace(s)
	if s == "" || s == Missing {
		return color.RGBA{}, false, nil
	}
	c, err = parseColorText(s)
	if err != nil {
		return color.RGBA{}, false, fmt.Errorf("%q is not a colour", s)
	}
	return c, true, nil
}

// numberValue is a number, fixed or from a template.
type numberValue struct {
	fixed bool
	n     float64
	t     *tmpl
}

// eval returns the number; ok is false when it is missing ("-" or empty).
func (v *numberValue) eval(data map[string]any) (n float64, ok bool, err error) {
	if v == nil {
		return 0, false, nil
	}
	if v.fixed {
		return v.n, true, nil
	}
	s, err := v.t.run(data)
	if err != nil {
		return 0, false, err
	}
	s = strings.TrimSpace(s)
	if s == "" || s == Missing {
		return 0, false, nil
	}
	n, ok = parseNumber(s)
	if !ok {
		return 0, false, fmt.Errorf("%q is not a number", s)
	}
	return n, true, nil
}

// parseColorText reads "#rrggbb" or "#rgb".
func parseColorText(s string) (color.RGBA, error) {
	c, err := scene.ParseColorText(s)
	if err != nil {
		return color.RGBA{}, errors.New(`want a colour: "#rrggbb" or "#rgb"`)
	}
	return c, nil
}

// identifier is the rule for parameter and input names: usable as
// .params.<name> and .inputs.<name> in templates.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// sceneName is the rule for scene names.
var sceneName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// yamlLine reads the line from a yaml error ("yaml: line 5: ...").
func yamlLine(err error) int {
	msg := err.Error()
	_, rest, ok := strings.Cut(msg, "line ")
	if !ok {
		return 0
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	n, _ := strconv.Atoi(rest[:end])
	return n
}
