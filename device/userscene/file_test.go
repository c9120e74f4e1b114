package userscene_test

import (
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/userscene"
)

// parse reads a scene file from text, failing the test on an error.
func parse(t testing.TB, text string) *userscene.File {
	t.Helper()
	f, err := userscene.Parse("test.yaml", []byte(text), scene.Builtin())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

// draw renders one frame of sc at w x h with its default parameters and
// the given ones.
func draw(sc scene.Scene, w, h int, set scene.Values) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	params := sc.WithDefaults(nil)
	for k, v := range set {
		params[k] = v
	}
	sc.Render(dst, scene.Frame{DeviceName: "demo", Now: time.Date(2026, 11, 27, 7, 30, 5, 0, time.UTC), Params: params})
	return dst
}

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{R: r, G: g, B: b, A: 255} }

func TestParse_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       int
		want       string
	}{
		{"not yaml", "name: x\nlayers: [\n", 2, "not valid YAML"},
		{"empty", "", 0, "empty"},
		{"unknown top key", "name: x\ncolour: red\nlayers: [{type: fill}]\n", 2, `unknown key "colour"`},
		{"no layers", "name: x\n", 0, "no layers"},
		{"bad name", "name: 'a b'\nlayers: [{type: fill}]\n", 1, "name"},
		{"builtin name", "name: clock\nlayers: [{type: fill}]\n", 1, "built-in scene"},
		{"unknown layer type", "name: x\nlayers:\n  - type: circle\n", 3, `type "circle" is not one of`},
		{"unknown layer key", "name: x\nlayers:\n  - type: fill\n    colour: red\n", 4, `unknown key "colour"`},
		{"bad colour", "name: x\nlayers:\n  - type: fill\n    color: red\n", 4, "colour"},
		{"fps over 5", "name: x\nfps: 10\nlayers: [{type: fill}]\n", 2, "fps"},
		{"coordinate out of range", "name: x\nlayers:\n  - type: pixel\n    x: 100000\n", 4, "out of range"},
		{"template syntax", "name: x\nlayers:\n  - type: text\n    text: \"{{.now\"\n", 4, "text:"},
		{"template in a block scalar", "name: x\nlayers:\n  - type: text\n    text: |\n      one\n      {{ bogus }}\n", 6, "function"},
		{"range", "name: x\nlayers:\n  - type: text\n    text: \"{{range .inputs}}x{{end}}\"\n", 4, "range is not allowed"},
		{"range over an int", "name: x\nlayers:\n  - type: text\n    text: \"{{range 1000000000}}x{{end}}\"\n", 4, "range is not allowed"},
		{"define", "name: x\nlayers:\n  - type: text\n    text: '{{define \"a\"}}x{{end}}y'\n", 4, "define"},
		{"template call", "name: x\nlayers:\n  - type: text\n    text: '{{template \"a\"}}'\n", 4, "template"},
		{"block", "name: x\nlayers:\n  - type: text\n    text: '{{block \"a\" .}}x{{end}}'\n", 4, "template"},
		{"call", "name: x\nlayers:\n  - type: text\n    text: '{{call .now}}'\n", 4, `function "call" is not available`},
		{"unknown input", "name: x\ninputs: {power: home/power}\nlayers:\n  - type: text\n    text: '{{.inputs.pwr}}'\n", 5, `no input "pwr"`},
		{"unknown param", "name: x\nlayers:\n  - type: text\n    text: '{{.params.c}}'\n", 4, `no parameter "c"`},
		{"unknown data field", "name: x\nlayers:\n  - type: text\n    text: '{{.env.HOME}}'\n", 4, "unknown field .env"},
		{"wildcard input", "name: x\ninputs: {power: home/+/power}\nlayers: [{type: fill}]\n", 2, "wildcards"},
		{"bad field path", "name: x\ninputs: {power: {topic: a, field: data..x}}\nlayers: [{type: fill}]\n", 2, "empty part"},
		{"sparkline of no input", "name: x\nlayers:\n  - type: sparkline\n    input: price\n", 4, `no input "price"`},
		{"param default out of range", "name: x\nparams:\n  - {name: n, type: int, min: 0, max: 10, default: 11}\nlayers: [{type: fill}]\n", 3, "out of range"},
		{"param name", "name: x\nparams:\n  - {name: 24h, type: bool}\nlayers: [{type: fill}]\n", 3, "name"},
		{"two documents", "name: x\nlayers: [{type: fill}]\n---\nname: y\n", 3, "one YAML document"},
		{"merge key", "name: x\nlayers:\n  - <<: {type: fill}\n", 3, "merge keys"},
		{"template too long", "name: x\nlayers:\n  - type: text\n    text: '{{\"" + strings.Repeat("a", userscene.MaxTemplate) + "\"}}'\n", 4, "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := userscene.Parse("scenes/x.yaml", []byte(tc.text), scene.Builtin())
			var fe *userscene.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse: %v, want an *Error", err)
			}
			if fe.Line != tc.line || fe.Path != "scenes/x.yaml" || !strings.Contains(fe.Err.Error(), tc.want) {
				t.Errorf("Parse: %v (line %d), want line %d and %q", err, fe.Line, tc.line, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "scenes/x.yaml:") {
				t.Errorf("message %q does not start with the file", err)
			}
		})
	}
}

func TestParse_Declarations(t *testing.T) {
	f := parse(t, `
name: dash
description: A dashboard
sizes: [[64, 64], "32x8"]
fps: 2
params:
  - {name: color, type: color, default: "#00ff00"}
  - {name: limit, type: number, min: 0, default: 1000}
  - {name: mode, type: enum, options: [a, b]}
  - {name: icon, type: image}
inputs:
  power: home/power
  temp: {topic: home/climate, field: data.temp}
layers:
  - type: fill
`)
	sc := f.Scene(userscene.NewInputs(), nil)
	if sc.Name != "dash" || sc.Description != "A dashboard" || sc.Source != "test.yaml" || sc.FPS != 2 {
		t.Errorf("scene %q %q %q fps %v", sc.Name, sc.Description, sc.Source, sc.FPS)
	}
	if !sc.Supports(scene.Size{W: 32, H: 8}) || sc.Supports(scene.Size{W: 16, H: 16}) {
		t.Errorf("sizes %v", sc.Sizes)
	}
	want := []scene.Input{{Name: "power", Topic: "home/power"}, {Name: "temp", Topic: "home/climate", Field: "data.temp"}}
	if len(sc.Inputs) != 2 || sc.Inputs[0] != want[0] || sc.Inputs[1] != want[1] {
		t.Errorf("inputs %+v, want %+v", sc.Inputs, want)
	}
	// Parameters are checked as the built-in scenes' are.
	if _, err := sc.Check(map[string]json.RawMessage{"limit": json.RawMessage(`-1`)}, nil); err == nil {
		t.Error("limit -1 accepted; min is 0")
	}
	v, err := sc.Check(map[string]json.RawMessage{"color": json.RawMessage(`[255,0,0]`), "mode": json.RawMessage(`"b"`)}, nil)
	if err != nil || v.Color("color") != rgb(255, 0, 0) || v.String("mode") != "b" {
		t.Errorf("Check = %v, %v", v, err)
	}
	d := sc.Defaults()
	if d.Color("color") != rgb(0, 255, 0) || d.Number("limit") != 1000 || d.String("mode") != "a" {
		t.Errorf("defaults %v", d)
	}
}

func TestParse_NameFromFile(t *testing.T) {
	f, err := userscene.Parse("scenes/my-dash.yaml", []byte("layers: [{type: fill}]\n"), nil)
	if err != nil || f.Name() != "my-dash" {
		t.Fatalf("Parse = %v, %v; want the scene my-dash", f, err)
	}
}
