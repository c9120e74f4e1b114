package userscene

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// Limits of a scene file.
const (
	// MaxFileSize is the largest scene file read, in bytes.
	MaxFileSize = 256 << 10
	// MaxLayers, MaxInputs and MaxParams bound what one file declares.
	MaxLayers = 256
	MaxInputs = 32
	MaxParams = 32
	// maxSize is the largest display side a file may name.
	maxSize = 512
	// maxTopic is the longest input topic, in bytes.
	maxTopic = 256
	// maxDepth is the most levels of an input's field path.
	maxDepth = 16
)

// Error is a problem with a scene file: its path, the line (0 when not
// known) and what is wrong. Its text is "path:line: what", as
// check-scene prints it; the daemon's events carry the three apart.
type Error struct {
	Path string
	Line int
	Err  error
}

// Error is "path:line: what", or "path: what" without a line.
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

// Unwrap returns what is wrong.
func (e *Error) Unwrap() error { return e.Err }

// fileError wraps err (a lineError or not) as an *Error of path.
func fileError(path string, err error) *Error {
	var le *lineError
	if errors.As(err, &le) {
		return &Error{Path: path, Line: le.line, Err: le.err}
	}
	return &Error{Path: path, Err: err}
}

// File is a scene file that was read and checked: its scene's
// declarations and its layers, ready to draw.
type File struct {
	path        string
	name        string
	nameLine    int // the line of name:, 0 without one
	description string
	sizes       []scene.Size
	fps         float64
	params      []scene.Param
	inputs      []scene.Input
	layers      []layer
}

// Name is the scene's name.
func (f *File) Name() string { return f.name }

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Inputs are the MQTT topics the scene reads.
func (f *File) Inputs() []scene.Input { return f.inputs }

// Parse reads the scene file data, found at path (used in messages and as
// the scene's source). Its scene may not take the name of one of builtin
// (nil: any name). An error is an *Error naming the line.
func Parse(path string, data []byte, builtin *scene.Registry) (*File, error) {
	f, err := parseFile(path, data)
	if err != nil {
		return nil, fileError(path, err)
	}
	if builtin != nil {
		if _, taken := builtin.Lookup(f.name); taken {
			return nil, &Error{Path: path, Line: f.nameLine,
				Err: fmt.Errorf("%q is the name of a built-in scene; choose another name", f.name)}
		}
	}
	return f, nil
}

func parseFile(path string, data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("file is %d bytes; at most %d", len(data), MaxFileSize)
	}
	if !utf8.Valid(data) {
		return nil, errors.New("file is not UTF-8 text")
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("file is empty")
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := yamlLine(err)
		msg = strings.TrimPrefix(msg, fmt.Sprintf("line %d: ", line))
		return nil, &lineError{line, fmt.Errorf("not valid YAML: %s", msg)}
	}
	var extra yaml.Node
	if dec.Decode(&extra) == nil {
		return nil, &lineError{extra.Line, errors.New("a scene file holds one YAML document (no ---)")}
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("file is empty")
	}
	top, err := mapping(doc.Content[0], "the scene file")
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]pair)
	for _, p := range top {
		switch p.key {
		case "name", "description", "sizes", "fps", "params", "inputs", "layers":
			byKey[p.key] = p
		default:
			return nil, &lineError{p.kline, fmt.Errorf("unknown key %q (keys: name, description, sizes, fps, params, inputs, layers)", p.key)}
		}
	}

	f := &File{path: path, fps: 1}
	f.name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if p, ok := byKey["name"]; ok {
		if f.name, err = scalar(p.value, "name"); err != nil {
			return nil, err
		}
		f.nameLine = p.kline
		if !sceneName.MatchString(f.name) {
			return nil, errAt(p.value, "name %q: use 1 to 64 letters, digits, _ and -, starting with a letter or digit", f.name)
		}
	} else if !sceneName.MatchString(f.name) {
		return nil, fmt.Errorf("no name, and the file name %q is not one (1 to 64 letters, digits, _ and -): add name:", f.name)
	}
	if p, ok := byKey["description"]; ok {
		if f.description, err = scalar(p.value, "description"); err != nil {
			return nil, err
		}
		if len(f.description) > 256 {
			return nil, errAt(p.value, "description: at most 256 bytes")
		}
	}
	if p, ok := byKey["sizes"]; ok {
		if f.sizes, err = parseSizes(p.value); err != nil {
			return nil, err
		}
	}
	if p, ok := byKey["fps"]; ok {
		if f.fps, err = float(p.value, "fps"); err != nil {
			return nil, err
		}
		if f.fps < 0 || f.fps > device.MaxFPS {
			return nil, errAt(p.value, "fps: %v is out of range (0 to %v)", f.fps, device.MaxFPS)
		}
	}
	nm := names{params: make(map[string]bool), inputs: make(map[string]bool)}
	if p, ok := byKey["params"]; ok {
		if f.params, err = parseParams(p.value); err != nil {
			return nil, err
		}
		for _, pr := range f.params {
			nm.params[pr.Name] = true
		}
	}
	if p, ok := byKey["inputs"]; ok {
		if f.inputs, err = parseInputs(p.value); err != nil {
			return nil, err
		}
		for _, in := range f.inputs {
			nm.inputs[in.Name] = true
		}
	}
	p, ok := byKey["layers"]
	if !ok {
		return nil, errors.New("no layers: a scene draws at least one layer")
	}
	items, err := sequence(p.value, "layers")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errAt(p.value, "no layers: a scene draws at least one layer")
	}
	if len(items) > MaxLayers {
		return nil, errAt(p.value, "%d layers; at most %d", len(items), MaxLayers)
	}
	for i, item := range items {
		l, err := parseLayer(item, i+1, nm, f.inputs)
		if err != nil {
			return nil, err
		}
		f.layers = append(f.layers, l)
	}
	return f, nil
}

// parseSizes reads [[64,64],[32,8]] or ["64x64", "32x8"].
func parseSizes(n *yaml.Node) ([]scene.Size, error) {
	items, err := sequence(n, "sizes")
	if err != nil {
		return nil, err
	}
	var out []scene.Size
	for _, item := range items {
		var s scene.Size
		if resolve(item).Kind == yaml.SequenceNode {
			wh, _ := sequence(item, "sizes")
			if len(wh) != 2 {
				return nil, errAt(item, "sizes: each size is [width, height], e.g. [64, 64]")
			}
			if s.W, err = integer(wh[0], "sizes: width", 1, maxSize); err != nil {
				return nil, err
			}
			if s.H, err = integer(wh[1], "sizes: height", 1, maxSize); err != nil {
				return nil, err
			}
		} else {
			text, err := scalar(item, "sizes")
			if err != nil {
				return nil, err
			}
			if _, err := fmt.Sscanf(text, "%dx%d", &s.W, &s.H); err != nil || s.W < 1 || s.H < 1 || s.W > maxSize || s.H > maxSize ||
				fmt.Sprintf("%dx%d", s.W, s.H) != text {
				return nil, errAt(item, "sizes: %q: want [width, height] or WIDTHxHEIGHT, e.g. 64x64", text)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// parseParams reads the parameters: the schema of the built-in scenes'.
func parseParams(n *yaml.Node) ([]scene.Param, error) {
	items, err := sequence(n, "params")
	if err != nil {
		return nil, err
	}
	if len(items) > MaxParams {
		return nil, errAt(n, "%d parameters; at most %d", len(items), MaxParams)
	}
	var out []scene.Param
	seen := make(map[string]bool)
	for i, item := range items {
		fl, err := newFields(item, fmt.Sprintf("params[%d]", i), names{})
		if err != nil {
			return nil, err
		}
		p := scene.Param{
			Name:        fl.str("name", ""),
			Type:        scene.ParamType(fl.enum("type", "", "string", "color", "int", "number", "bool", "enum", "image")),
			Description: fl.str("description", ""),
			Required:    fl.boolean("required", false),
			MaxLength:   fl.integer("maxLength", 0, 0, 4096),
		}
		if m := fl.get("min"); m != nil {
			v, err := float(m, fl.label("min"))
			fl.fail(err)
			p.Min = &v
		}
		if m := fl.get("max"); m != nil {
			v, err := float(m, fl.label("max"))
			fl.fail(err)
			p.Max = &v
		}
		if o := fl.get("options"); o != nil {
			opts, err := sequence(o, fl.label("options"))
			fl.fail(err)
			for _, opt := range opts {
				s, err := scalar(opt, fl.label("options"))
				fl.fail(err)
				p.Options = append(p.Options, s)
			}
		}
		def := fl.get("default")
		if err := fl.done(); err != nil {
			return nil, err
		}
		switch {
		case !identifier.MatchString(p.Name):
			return nil, errAt(item, "params[%d]: name %q: use letters, digits and _ (it is .params.<name> in templates)", i, p.Name)
		case seen[p.Name]:
			return nil, errAt(item, "params[%d]: %q is declared twice", i, p.Name)
		case p.Type == "":
			return nil, errAt(item, "params[%d] (%s): needs a type (string, color, int, number, bool, enum or image)", i, p.Name)
		case p.Type == scene.TypeEnum && len(p.Options) == 0:
			return nil, errAt(item, "params[%d] (%s): an enum needs options", i, p.Name)
		case p.Min != nil && p.Max != nil && *p.Min > *p.Max:
			return nil, errAt(item, "params[%d] (%s): min is above max", i, p.Name)
		case p.Required && def != nil:
			return nil, errAt(item, "params[%d] (%s): a required parameter has no default", i, p.Name)
		}
		seen[p.Name] = true
		if def != nil {
			if d := resolve(def); d.Kind != yaml.ScalarNode && !(d.Kind == yaml.SequenceNode && len(d.Content) <= 4) {
				return nil, errAt(def, "params[%d] (%s): default: want a single value (or [r, g, b] for a colour)", i, p.Name)
			}
			raw, err := toJSON(def)
			if err != nil {
				return nil, err
			}
			v, err := p.Parse(raw, nil)
			if err != nil {
				return nil, errAt(def, "params[%d] (%s): default: %v", i, p.Name, err)
			}
			p.Default = v
		} else if !p.Required && p.Type != scene.TypeImage {
			p.Default = zeroValue(p)
		}
		out = append(out, p)
	}
	return out, nil
}

// zeroValue is the default of a parameter declared without one.
func zeroValue(p scene.Param) any {
	switch p.Type {
	case scene.TypeColor:
		return color.RGBA{R: 255, G: 255, B: 255, A: 255}
	case scene.TypeInt:
		if p.Min != nil && *p.Min > 0 {
			return int(*p.Min)
		}
		return 0
	case scene.TypeNumber:
		if p.Min != nil && *p.Min > 0 {
			return *p.Min
		}
		return 0.0
	case scene.TypeBool:
		return false
	case scene.TypeEnum:
		return p.Options[0]
	}
	return ""
}

// parseInputs reads the inputs: name: topic, or name: {topic, field}.
func parseInputs(n *yaml.Node) ([]scene.Input, error) {
	pairs, err := mapping(n, "inputs")
	if err != nil {
		return nil, err
	}
	if len(pairs) > MaxInputs {
		return nil, errAt(n, "%d inputs; at most %d", len(pairs), MaxInputs)
	}
	var out []scene.Input
	for _, p := range pairs {
		in := scene.Input{Name: p.key}
		if !identifier.MatchString(p.key) {
			return nil, &lineError{p.kline, fmt.Errorf("inputs: name %q: use letters, digits and _ (it is .inputs.<name> in templates)", p.key)}
		}
		what := "inputs: " + p.key
		if resolve(p.value).Kind == yaml.ScalarNode {
			in.Topic = resolve(p.value).Value
		} else {
			fl, err := newFields(p.value, what, names{})
			if err != nil {
				return nil, err
			}
			in.Topic = fl.str("topic", "")
			in.Field = fl.str("field", "")
			if err := fl.done(); err != nil {
				return nil, err
			}
		}
		if err := checkTopic(in.Topic); err != nil {
			return nil, errAt(p.value, "%s: %v", what, err)
		}
		if err := checkField(in.Field); err != nil {
			return nil, errAt(p.value, "%s: %v", what, err)
		}
		out = append(out, in)
	}
	return out, nil
}

// checkTopic checks an input's topic: one topic, no wildcards.
func checkTopic(t string) error {
	switch {
	case t == "":
		return errors.New("needs a topic")
	case len(t) > maxTopic:
		return fmt.Errorf("topic is %d bytes; at most %d", len(t), maxTopic)
	case strings.ContainsAny(t, "+#"):
		return fmt.Errorf("topic %q: an input reads one topic; wildcards (+, #) are not allowed", t)
	case strings.ContainsRune(t, 0):
		return errors.New("topic holds a NUL character")
	}
	return nil
}

// checkField checks a JSON field path such as "data.power".
func checkField(f string) error {
	if f == "" {
		return nil
	}
	parts := strings.Split(f, ".")
	if len(parts) > maxDepth {
		return fmt.Errorf("field %q: at most %d levels", f, maxDepth)
	}
	for _, p := range parts {
		if p == "" {
			return fmt.Errorf("field %q: an empty part (a path is names joined by dots, e.g. data.power)", f)
		}
	}
	return nil
}

// Scene makes the file's scene: drawn with the values of inputs (which
// then reads the scene's topics; nil: no values), its drawing problems
// reported once per change to report (which may be nil).
func (f *File) Scene(inputs *Inputs, report func(Problem)) scene.Scene {
	if inputs != nil {
		inputs.add(f.inputs)
	}
	r := &renderer{file: f, inputs: inputs, report: report, last: make(map[string]string)}
	return scene.Scene{
		Name:        f.name,
		Description: f.description,
		Source:      f.path,
		Sizes:       f.sizes,
		FPS:         f.fps,
		Params:      f.params,
		Inputs:      f.inputs,
		Render:      r.render,
	}
}
