package userscene

import (
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// examples are the example scene files, as fuzz seeds and benchmarks.
func examples(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob("../../examples/scenes/*.yaml")
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no example scenes: %v", err)
	}
	out := make(map[string][]byte)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out[p] = b
	}
	return out
}

// FuzzParse: no scene file makes Parse or a frame panic or hang; a frame
// of a file that parses draws at both display sizes.
func FuzzParse(f *testing.F) {
	for _, b := range examples(f) {
		f.Add(b)
	}
	f.Add([]byte("name: x\ninputs: {a: t}\nlayers:\n  - {type: sparkline, input: a, points: 2, w: 1, h: 1}\n"))
	f.Add([]byte("name: x\nlayers:\n  - {type: text, text: '{{with .inputs}}{{.}}{{end}}', scroll: true}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data, scene.Builtin())
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		in := NewInputs()
		for _, i := range file.inputs {
			in.Record(i.Topic, []byte(`{"value":1.5,"data":{"power":-3}}`), false)
			in.Set(i.Topic, i.Field, "42")
		}
		var problems []Problem
		sc := file.Scene(in, func(p Problem) { problems = append(problems, p) })
		for _, size := range []image.Point{{64, 64}, {32, 8}} {
			dst := image.NewRGBA(image.Rect(0, 0, size.X, size.Y))
			sc.Render(dst, scene.Frame{Now: time.Unix(1e9, 0), Elapsed: 1234 * time.Millisecond, Params: sc.WithDefaults(nil)})
		}
		for _, p := range problems {
			if strings.Contains(p.Err.Error(), "internal error") {
				t.Fatalf("a layer panicked: %v", p.Err)
			}
		}
	})
}

// FuzzTemplate: a template either is refused when read or runs to its
// end, writing at most MaxOutput bytes.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		`{{.inputs.power}} W`,
		`{{if gt .inputs.power 1000}}#ff0000{{else}}#00ff00{{end}}`,
		`{{printf "%.1f" (div .inputs.power 1000)}}`,
		`{{time "%H:%M" .now}}`,
		`{{$x := .inputs.mode}}{{with $x}}{{.}}{{end}}`,
		`{{range 10}}x{{end}}`,
		`{{define "a"}}{{template "a"}}{{end}}{{template "a"}}`,
		`{{printf "%v%v%v%v" .now .now .now .now}}`,
		`{{slice .inputs.mode 1 2}}{{index .params "n"}}`,
	} {
		f.Add(s)
	}
	n := names{params: map[string]bool{"n": true}, inputs: map[string]bool{"power": true, "mode": true, "none": true}}
	data := map[string]any{
		"params": map[string]any{"n": 3},
		"inputs": map[string]any{"power": 1234.5, "mode": "eco", "none": missing{}},
		"now":    time.Unix(1e9, 0).UTC(),
		"device": map[string]any{"name": "demo", "width": 64, "height": 64},
	}
	f.Fuzz(func(t *testing.T, src string) {
		tm, err := compileTemplate(src, 1, n)
		if err != nil {
			return
		}
		out, err := tm.run(data)
		if err == nil && len(out) > MaxOutput {
			t.Fatalf("wrote %d bytes", len(out))
		}
	})
}

// BenchmarkRender_Power draws the power example on a 64x64 display with
// every input set: the cost of one frame.
func BenchmarkRender_Power(b *testing.B) {
	data, err := os.ReadFile("../../examples/scenes/power.yaml")
	if err != nil {
		b.Fatal(err)
	}
	file, err := Parse("power.yaml", data, scene.Builtin())
	if err != nil {
		b.Fatal(err)
	}
	in := NewInputs()
	sc := file.Scene(in, nil)
	for _, i := range sc.Inputs {
		for v := range 30 {
			in.Set(i.Topic, i.Field, strings.Repeat("1", 1+v%3))
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, 64, 64))
	frame := scene.Frame{DeviceName: "demo", Now: time.Now(), Params: sc.WithDefaults(nil)}
	b.ReportAllocs()
	for b.Loop() {
		sc.Render(dst, frame)
	}
}
