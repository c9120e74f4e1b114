package userscene_test

import (
	"fmt"
	"image"
	"image/color"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/userscene"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

// problems collects what a scene reports, safe for concurrent renders.
type problems struct {
	mu   sync.Mutex
	list []userscene.Problem
}

func (p *problems) report(pr userscene.Problem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, pr)
}

func (p *problems) take() []userscene.Problem {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.list
	p.list = nil
	return l
}

func TestRender_Layers(t *testing.T) {
	f := parse(t, `
name: shapes
layers:
  - {type: fill, color: "#102030"}
  - {type: rect, x: 2, y: 2, w: 4, h: 3, color: "#ff0000"}
  - {type: rect, x: 10, y: 2, w: 5, h: 5, border: "#00ff00"}
  - {type: line, x1: 0, y1: 20, x2: 9, y2: 20, color: "#0000ff"}
  - {type: pixel, x: 63, y: 63, color: [1, 2, 3]}
  - {type: bar, x: 0, y: 30, w: 10, h: 2, value: 50, min: 0, max: 100, color: "#ffffff", background: "#404040"}
  - {type: bar, x: 20, y: 30, w: 2, h: 10, value: 25, max: 100, direction: up, color: "#ffff00"}
`)
	img := draw(f.Scene(nil, nil), 64, 64, nil)
	for _, c := range []struct {
		x, y int
		want color.RGBA
	}{
		{0, 0, rgb(0x10, 0x20, 0x30)},
		{2, 2, rgb(255, 0, 0)}, {5, 4, rgb(255, 0, 0)}, {6, 4, rgb(0x10, 0x20, 0x30)},
		{10, 2, rgb(0, 255, 0)}, {14, 6, rgb(0, 255, 0)}, {12, 4, rgb(0x10, 0x20, 0x30)}, // a border only
		{0, 20, rgb(0, 0, 255)}, {9, 20, rgb(0, 0, 255)}, {10, 20, rgb(0x10, 0x20, 0x30)},
		{63, 63, rgb(1, 2, 3)},
		{4, 30, rgb(255, 255, 255)}, {5, 30, rgb(0x40, 0x40, 0x40)}, // half of 10
		{20, 37, rgb(255, 255, 0)}, {20, 36, rgb(0x10, 0x20, 0x30)}, // a quarter of 10, from the bottom
	} {
		if got := img.RGBAAt(c.x, c.y); got != c.want {
			t.Errorf("pixel (%d,%d) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
}

// TestRender_Comparisons is the promise of CONTRACT §8: a number input
// compares with any numeric literal, integer or not; without a value it
// renders as "-" and compares false.
func TestRender_Comparisons(t *testing.T) {
	f := parse(t, `
name: cmp
inputs:
  power: {topic: home/power, field: value}
layers:
  - type: fill
    color: "#000000"
  - {type: pixel, x: 0, y: 0, color: "{{if gt .inputs.power 1000}}#ff0000{{else}}#00ff00{{end}}"}
  - {type: pixel, x: 1, y: 0, color: "{{if gt .inputs.power 1000.0}}#ff0000{{else}}#00ff00{{end}}"}
  - {type: pixel, x: 2, y: 0, color: "{{if eq .inputs.power 1200}}#ff0000{{else}}#00ff00{{end}}"}
  - {type: pixel, x: 3, y: 0, color: "{{if le .inputs.power 1200.0}}#ff0000{{else}}#00ff00{{end}}"}
  - {type: pixel, x: 4, y: 0, color: "{{if lt 999 .inputs.power}}#ff0000{{else}}#00ff00{{end}}"}
  - {type: pixel, x: 5, y: 0, color: "{{if eq .inputs.power \"-\"}}#ff0000{{else}}#00ff00{{end}}"}
`)
	in := userscene.NewInputs()
	sc := f.Scene(in, nil)
	red, green := rgb(255, 0, 0), rgb(0, 255, 0)
	check := func(when string, want []color.RGBA) {
		t.Helper()
		img := draw(sc, 64, 64, nil)
		for x, w := range want {
			if got := img.RGBAAt(x, 0); got != w {
				t.Errorf("%s: pixel %d = %v, want %v", when, x, got, w)
			}
		}
	}
	check("no value yet", []color.RGBA{green, green, green, green, green, red})
	in.Set("home/power", "value", "1200")
	check("1200", []color.RGBA{red, red, red, red, red, green})
	in.Set("home/power", "value", "800.5")
	check("800.5", []color.RGBA{green, green, green, red, green, green})
}

func TestRender_TextAndMissing(t *testing.T) {
	f := parse(t, `
name: txt
inputs:
  power: {topic: home/power, field: value}
  mode: home/mode
layers:
  - {type: text, x: 0, y: 0, font: small, text: "{{.inputs.power}}|{{printf \"%.1f\" .inputs.power}}|{{fixed 0 (div .inputs.power 1000)}}|{{.inputs.mode}}"}
`)
	in := userscene.NewInputs()
	p := new(problems)
	sc := f.Scene(in, p.report)
	before := draw(sc, 64, 8, nil)
	same := draw(parse(t, `
name: txt2
layers:
  - {type: text, x: 0, y: 0, font: small, text: "-|-|-|-"}
`).Scene(nil, nil), 64, 8, nil)
	if !equalImages(before, same) {
		t.Error(`inputs without values do not render as "-" (through printf, fixed and div too)`)
	}
	if got := p.take(); len(got) != 0 {
		t.Errorf("problems without values: %v", got)
	}
	in.Record("home/power", []byte(`{"value": 1500}`), false)
	in.Record("home/mode", []byte(`eco`), false)
	after := draw(sc, 64, 8, nil)
	want := draw(parse(t, `
name: txt3
layers:
  - {type: text, x: 0, y: 0, font: small, text: "1500|1500.0|2|eco"}
`).Scene(nil, nil), 64, 8, nil)
	if !equalImages(after, want) {
		t.Error("the text with values differs from the same text written out")
	}
}

// TestRender_ErrorsReportedOncePerChange: a template that fails at render
// time leaves the other layers drawn and is reported once, not at every
// frame, and again when it changes.
func TestRender_ErrorsReportedOncePerChange(t *testing.T) {
	f := parse(t, `
name: broken
inputs:
  mode: home/mode
layers:
  - {type: fill, color: "#0000ff"}
  - type: rect
    x: 0
    y: 0
    w: 2
    h: 2
    color: "{{.inputs.mode}}"
  - {type: pixel, x: 10, y: 10, color: "#ff0000"}
`)
	in := userscene.NewInputs()
	p := new(problems)
	sc := f.Scene(in, p.report)
	in.Set("home/mode", "", "purple")
	for range 5 {
		img := draw(sc, 64, 64, nil)
		if img.RGBAAt(10, 10) != rgb(255, 0, 0) || img.RGBAAt(5, 5) != rgb(0, 0, 255) {
			t.Fatal("the layers around a broken one are not drawn")
		}
	}
	got := p.take()
	if len(got) != 1 || got[0].Line != 7 || got[0].File != "test.yaml" || got[0].Level != userscene.LevelWarning ||
		!strings.Contains(got[0].Err.Error(), `"purple" is not a colour`) || !strings.Contains(got[0].Err.Error(), "layer 2 (rect)") {
		t.Fatalf("problems after 5 frames: %v, want one about layer 2 at line 7", got)
	}
	in.Set("home/mode", "", "#00ff00")
	draw(sc, 64, 64, nil)
	in.Set("home/mode", "", "orange")
	draw(sc, 64, 64, nil)
	draw(sc, 64, 64, nil)
	if got := p.take(); len(got) != 1 || !strings.Contains(got[0].Err.Error(), "orange") {
		t.Errorf("problems after a new error: %v, want the new one once", got)
	}
}

func TestRender_Sparkline(t *testing.T) {
	f := parse(t, `
name: spark
inputs:
  price: {topic: home/price, field: price}
layers:
  - {type: sparkline, input: price, x: 0, y: 0, w: 8, h: 11, points: 8, min: 0, max: 10, style: bars, color: "#ffffff"}
`)
	in := userscene.NewInputs()
	sc := f.Scene(in, nil)
	for _, v := range []string{"0", "5", "10"} {
		in.Record("home/price", []byte(`{"price":`+v+`}`), false)
	}
	img := draw(sc, 64, 64, nil)
	// The newest value is at the right: columns 5, 6, 7 hold 0, 5, 10.
	white := rgb(255, 255, 255)
	for _, c := range []struct {
		x, y int
		on   bool
	}{
		{4, 10, false}, {5, 10, true}, {5, 9, false},
		{6, 10, true}, {6, 5, true}, {6, 4, false},
		{7, 0, true}, {7, 10, true},
	} {
		if got := img.RGBAAt(c.x, c.y) == white; got != c.on {
			t.Errorf("pixel (%d,%d) lit %v, want %v", c.x, c.y, got, c.on)
		}
	}
	// A retained message delivered again on a new subscription is not a
	// new reading.
	in.Record("home/price", []byte(`{"price":10}`), true)
	if again := draw(sc, 64, 64, nil); !equalImages(img, again) {
		t.Error("a retained repeat added a reading to the sparkline")
	}
}

func TestRender_Clock(t *testing.T) {
	f := parse(t, `
name: clk
layers:
  - {type: clock, x: 0, y: 0, format: "%H:%M:%S %a %d.%m.%Y", font: small}
`)
	want := parse(t, `
name: clk2
layers:
  - {type: text, x: 0, y: 0, text: "07:30:05 Fri 27.11.2026", font: small}
`)
	if !equalImages(draw(f.Scene(nil, nil), 128, 8, nil), draw(want.Scene(nil, nil), 128, 8, nil)) {
		t.Error("the clock layer differs from its time written out")
	}
}

func TestRender_Params(t *testing.T) {
	f := parse(t, `
name: par
params:
  - {name: color, type: color, default: "#ff0000"}
  - {name: on, type: bool, default: true}
layers:
  - {type: fill, color: "{{.params.color}}"}
  - {type: pixel, x: 0, y: 0, color: "#ffffff", if: "{{.params.on}}"}
`)
	sc := f.Scene(nil, nil)
	img := draw(sc, 8, 8, nil)
	if img.RGBAAt(3, 3) != rgb(255, 0, 0) || img.RGBAAt(0, 0) != rgb(255, 255, 255) {
		t.Errorf("defaults: %v %v", img.RGBAAt(3, 3), img.RGBAAt(0, 0))
	}
	img = draw(sc, 8, 8, scene.Values{"color": rgb(0, 0, 255), "on": false})
	if img.RGBAAt(3, 3) != rgb(0, 0, 255) || img.RGBAAt(0, 0) != rgb(0, 0, 255) {
		t.Errorf("set: %v %v", img.RGBAAt(3, 3), img.RGBAAt(0, 0))
	}
}

// TestRender_ImagesFromTheStoreOnly: an image layer names an image of the
// store; a path is not a name, and nothing outside the store is read.
func TestRender_ImagesFromTheStoreOnly(t *testing.T) {
	store, err := picture.OpenStore(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put("dot", testkit.PNG(t, testkit.Uniform(4, 4, rgb(255, 0, 255)))); err != nil {
		t.Fatal(err)
	}
	f := parse(t, `
name: img
inputs:
  name: icon/name
layers:
  - {type: image, x: 0, y: 0, w: 4, h: 4, image: "{{.inputs.name}}"}
`)
	in := userscene.NewInputs()
	p := new(problems)
	sc := f.Scene(in, p.report)
	frame := func() *image.RGBA {
		dst := image.NewRGBA(image.Rect(0, 0, 8, 8))
		sc.Render(dst, scene.Frame{Params: scene.Values{}, Images: store})
		return dst
	}
	in.Set("icon/name", "", "dot")
	if got := frame().RGBAAt(1, 1); got != rgb(255, 0, 255) {
		t.Errorf("the stored image is not drawn: %v", got)
	}
	for _, name := range []string{"../../etc/passwd", "/etc/passwd", "Dot", "missing"} {
		in.Set("icon/name", "", name)
		if got := frame().RGBAAt(1, 1); got != rgb(0, 0, 0) {
			t.Errorf("image %q drew %v", name, got)
		}
		if got := p.take(); len(got) != 1 || !strings.Contains(got[0].Err.Error(), "image") {
			t.Errorf("image %q: problems %v, want one about the image", name, got)
		}
	}
}

// TestRender_Bounded: a template that would write without end, or ask
// printf for a huge width, fails its layer; the frame ends.
func TestRender_Bounded(t *testing.T) {
	for _, text := range []string{
		`{{printf "%999999999d" 1}}`,
		`{{printf "%*d" 999999999 1}}`,
		`{{printf "%.999999f" 1.0}}`,
		`{{$s := "` + strings.Repeat("x", 1000) + `"}}{{$s}}{{$s}}{{$s}}{{$s}}{{$s}}`,
	} {
		t.Run(text[:min(len(text), 24)], func(t *testing.T) {
			f := parse(t, fmt.Sprintf("name: b\nlayers:\n  - type: text\n    text: '%s'\n", text))
			p := new(problems)
			done := make(chan struct{})
			go func() {
				defer close(done)
				draw(f.Scene(nil, p.report), 64, 64, nil)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the frame did not end")
			}
			if got := p.take(); len(got) != 1 {
				t.Errorf("problems %v, want one", got)
			}
		})
	}
}

func equalImages(a, b *image.RGBA) bool {
	if a.Rect != b.Rect {
		return false
	}
	for y := a.Rect.Min.Y; y < a.Rect.Max.Y; y++ {
		for x := a.Rect.Min.X; x < a.Rect.Max.X; x++ {
			if a.RGBAAt(x, y) != b.RGBAAt(x, y) {
				return false
			}
		}
	}
	return true
}
