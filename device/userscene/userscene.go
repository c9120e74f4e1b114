// Package userscene turns the user's scene files into scenes without a
// rebuild: a folder of YAML files, one scene each (CONTRACT §8), read
// again when they change, each drawing layers (fill, rect, line, pixel,
// text, clock, image, bar, sparkline) whose texts, colours and values are
// Go templates over the scene's parameters, its MQTT inputs, the time and
// the device.
//
// A scene file cannot reach outside the scene: its images are names in
// the image store, its templates cannot loop (range, define, template and
// block are refused when the file is read), call only a documented set of
// functions and write at most MaxOutput bytes, and every size and count
// is bounded, so a frame always ends.
package userscene

import (
	"fmt"
	"image"
	"strings"
	"sync"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// Levels of problems, as bridge/event says them.
const (
	LevelError   = "error"
	LevelWarning = "warning"
	LevelInfo    = "info"
)

// Problem is something to tell the user about a scene file: it could not
// be read (the previous version is kept), it was removed, or drawing it
// went wrong.
type Problem struct {
	File  string
	Line  int // 0: not known
	Level string
	Err   error
}

// maxReported is how many drawing problems of one frame are reported.
const maxReported = 5

// renderer draws a File and reports each change of its drawing problems
// once per display.
type renderer struct {
	file   *File
	inputs *Inputs
	report func(Problem)

	mu   sync.Mutex
	last map[string]string // display -> its last problems, joined
}

// render draws one frame: black, then each layer in order. A layer that
// goes wrong is skipped and the others are drawn.
func (r *renderer) render(dst *image.RGBA, f scene.Frame) {
	fillRect(dst, dst.Bounds(), black)
	c := drawing{f: f, data: r.file.data(f, r.inputs, dst.Bounds().Size()), inputs: r.inputs, file: r.file}
	var problems []Problem
	for _, l := range r.file.layers {
		if err := safeDraw(l, dst, &c); err != nil {
			b := l.info()
			problems = append(problems, Problem{File: r.file.path, Line: b.line, Level: LevelWarning,
				Err: fmt.Errorf("scene %q, layer %d (%s): %w", r.file.name, b.index, b.kind, err)})
		}
	}
	r.reportChange(fmt.Sprintf("%s %dx%d", f.DeviceName, dst.Bounds().Dx(), dst.Bounds().Dy()), problems)
}

// safeDraw draws one layer; a panic (a bug) is a problem of that layer,
// never the end of the display.
func safeDraw(l layer, dst *image.RGBA, c *drawing) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	return drawLayer(l, dst, c)
}

// reportChange reports problems if they differ from the last ones of
// display.
func (r *renderer) reportChange(display string, problems []Problem) {
	var b strings.Builder
	for _, p := range problems {
		fmt.Fprintf(&b, "%d:%v\n", p.Line, p.Err)
	}
	key := b.String()
	r.mu.Lock()
	same := r.last[display] == key
	r.last[display] = key
	r.mu.Unlock()
	if same || r.report == nil {
		return
	}
	for i, p := range problems {
		if i == maxReported {
			break
		}
		r.report(p)
	}
}

// data is what the templates of a frame see: .params (published form:
// colours as #rrggbb), .inputs (a number, a text or missing), .now and
// .device (name, width, height).
func (f *File) data(fr scene.Frame, inputs *Inputs, size image.Point) map[string]any {
	params := make(map[string]any, len(f.params))
	for _, p := range f.params {
		v, ok := fr.Params[p.Name]
		if !ok {
			params[p.Name] = missing{}
			continue
		}
		params[p.Name] = scene.FormatValue(v)
	}
	in := make(map[string]any, len(f.inputs))
	for _, i := range f.inputs {
		in[i.Name] = inputs.value(i)
	}
	now := fr.Now
	if now.IsZero() {
		now = time.Now()
	}
	return map[string]any{
		"params": params,
		"inputs": in,
		"now":    now,
		"device": map[string]any{"name": fr.DeviceName, "width": size.X, "height": size.Y},
	}
}
