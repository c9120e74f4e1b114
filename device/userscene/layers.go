package userscene

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/pixelfont"
	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// LayerTypes lists the layer types of scene files.
func LayerTypes() []string {
	return []string{"fill", "rect", "line", "pixel", "text", "clock", "image", "bar", "sparkline"}
}

// Colours layers take when the file gives none.
var (
	black    = color.RGBA{A: 255}
	white    = color.RGBA{R: 255, G: 255, B: 255, A: 255}
	barGreen = color.RGBA{R: 0, G: 200, B: 150, A: 255}
	lineBlue = color.RGBA{R: 90, G: 170, B: 255, A: 255}
)

// fixedRGBA is a colour value that is always c.
func fixedRGBA(c color.RGBA) *colorValue { return &colorValue{fixed: true, c: c} }

// textGap is the blank space between the end of a scrolling text and its
// next start, in pixels.
const textGap = 8

// layer is one drawing step of a scene file.
type layer interface {
	info() *base
	draw(dst *image.RGBA, c *drawing) error
}

// base is what every layer has: where it is in the file and its
// condition.
type base struct {
	index int // from 1, in the file's order
	kind  string
	line  int
	cond  *tmpl // nil: always drawn
}

func (b *base) info() *base { return b }

// drawing is what the layers of one frame share.
type drawing struct {
	f      scene.Frame
	data   map[string]any
	inputs *Inputs
	file   *File
	values []float64 // scratch for sparklines
}

// geometry is a layer's rectangle; w or h 0 reaches the display's edge.
type geometry struct{ x, y, w, h int }

func readGeometry(fl *fields) geometry {
	return geometry{
		x: fl.integer("x", 0, -maxSize, maxSize),
		y: fl.integer("y", 0, -maxSize, maxSize),
		w: fl.integer("w", 0, 0, maxSize),
		h: fl.integer("h", 0, 0, maxSize),
	}
}

// rect is the geometry on dst.
func (g geometry) rect(dst *image.RGBA) image.Rectangle {
	b := dst.Bounds()
	w, h := g.w, g.h
	if w == 0 {
		w = max(b.Dx()-g.x, 0)
	}
	if h == 0 {
		h = max(b.Dy()-g.y, 0)
	}
	return image.Rect(b.Min.X+g.x, b.Min.Y+g.y, b.Min.X+g.x+w, b.Min.Y+g.y+h)
}

// parseLayer reads layer number index.
func parseLayer(n *yaml.Node, index int, nm names, inputs []scene.Input) (layer, error) {
	fl, err := newFields(n, fmt.Sprintf("layer %d", index), nm)
	if err != nil {
		return nil, err
	}
	kind := fl.str("type", "")
	if fl.err != nil {
		return nil, fl.err
	}
	if !slices.Contains(LayerTypes(), kind) {
		line := resolve(n).Line
		if t := fl.get("type"); t != nil {
			line = t.Line
		}
		return nil, &lineError{line, fmt.Errorf("layer %d: type %q is not one of %s", index, kind, strings.Join(LayerTypes(), ", "))}
	}
	fl.what = fmt.Sprintf("layer %d (%s)", index, kind)
	b := base{index: index, kind: kind, line: resolve(n).Line, cond: fl.template("if", false)}
	var l layer
	switch kind {
	case "fill":
		l = &fillLayer{base: b, color: fl.colour("color", fixedRGBA(black))}
	case "rect":
		r := &rectLayer{base: b, geometry: readGeometry(fl), color: fl.colour("color", nil), border: fl.colour("border", nil)}
		if r.color == nil && r.border == nil && fl.err == nil {
			fl.fail(&lineError{b.line, fmt.Errorf("%s needs color, border or both", fl.what)})
		}
		l = r
	case "line":
		l = &lineLayer{base: b,
			x1: fl.integer("x1", 0, -maxSize, maxSize), y1: fl.integer("y1", 0, -maxSize, maxSize),
			x2: fl.integer("x2", 0, -maxSize, maxSize), y2: fl.integer("y2", 0, -maxSize, maxSize),
			color: fl.colour("color", fixedRGBA(white))}
	case "pixel":
		l = &pixelLayer{base: b, x: fl.integer("x", 0, -maxSize, maxSize), y: fl.integer("y", 0, -maxSize, maxSize),
			color: fl.colour("color", fixedRGBA(white))}
	case "text", "clock":
		t := &textLayer{base: b,
			x: fl.integer("x", 0, -maxSize, maxSize), y: fl.integer("y", 0, -maxSize, maxSize), w: fl.integer("w", 0, 0, maxSize),
			color: fl.colour("color", fixedRGBA(white)),
			font:  fl.enum("font", "auto", "auto", "small", "large"),
			align: fl.enum("align", "left", "left", "center", "right"),
		}
		if kind == "text" {
			t.text = fl.template("text", true)
			t.scroll = fl.boolean("scroll", false)
			t.speed = fl.integer("speed", 20, 1, 200)
		} else {
			t.format = fl.str("format", "%H:%M")
			if len(t.format) > 64 {
				fl.fail(&lineError{b.line, fmt.Errorf("%s: format: at most 64 bytes", fl.what)})
			}
		}
		l = t
	case "image":
		l = &imageLayer{base: b, geometry: readGeometry(fl),
			image:      fl.template("image", true),
			fit:        picture.Fit(fl.enum("fit", string(picture.Contain), string(picture.Contain), string(picture.Cover), string(picture.Stretch))),
			background: fl.colour("background", fixedRGBA(black)),
		}
	case "bar":
		l = &barLayer{base: b, geometry: readGeometry(fl),
			value:      fl.number("value", nil),
			min:        fl.number("min", &numberValue{fixed: true, n: 0}),
			max:        fl.number("max", &numberValue{fixed: true, n: 100}),
			color:      fl.colour("color", fixedRGBA(barGreen)),
			background: fl.colour("background", nil),
			direction:  fl.enum("direction", "right", "right", "left", "up", "down"),
		}
		if fl.get("value") == nil && fl.err == nil {
			fl.fail(&lineError{b.line, fmt.Errorf("%s needs value", fl.what)})
		}
	case "sparkline":
		s := &sparkLayer{base: b, geometry: readGeometry(fl),
			points: fl.integer("points", 0, 2, MaxHistory),
			color:  fl.colour("color", fixedRGBA(lineBlue)),
			min:    fl.number("min", nil),
			max:    fl.number("max", nil),
			style:  fl.enum("style", "line", "line", "bars"),
		}
		name := fl.str("input", "")
		i := slices.IndexFunc(inputs, func(in scene.Input) bool { return in.Name == name })
		switch {
		case fl.err != nil:
		case name == "":
			fl.fail(&lineError{b.line, fmt.Errorf("%s needs input (the name of one of the inputs)", fl.what)})
		case i < 0:
			fl.fail(&lineError{fl.get("input").Line, fmt.Errorf("%s: no input %q (inputs: %s)", fl.what, name, listOf(nm.inputs))})
		default:
			s.input = inputs[i]
		}
		l = s
	}
	if err := fl.done(); err != nil {
		return nil, err
	}
	return l, nil
}

// drawLayer draws l unless its condition says not to.
func drawLayer(l layer, dst *image.RGBA, c *drawing) error {
	if cond := l.info().cond; cond != nil {
		s, err := cond.run(c.data)
		if err != nil {
			return fmt.Errorf("if: %w", err)
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "", "false", "0", Missing, "no", "off":
			return nil
		}
	}
	return l.draw(dst, c)
}

type fillLayer struct {
	base
	color *colorValue
}

func (l *fillLayer) draw(dst *image.RGBA, c *drawing) error {
	col, ok, err := l.color.eval(c.data)
	if err != nil || !ok {
		return wrap("color", err)
	}
	fillRect(dst, dst.Bounds(), col)
	return nil
}

type rectLayer struct {
	base
	geometry
	color, border *colorValue
}

func (l *rectLayer) draw(dst *image.RGBA, c *drawing) error {
	r := l.rect(dst)
	col, ok, err := l.color.eval(c.data)
	if err != nil {
		return wrap("color", err)
	}
	if ok {
		fillRect(dst, r, col)
	}
	edge, ok, err := l.border.eval(c.data)
	if err != nil {
		return wrap("border", err)
	}
	if ok && !r.Empty() {
		fillRect(dst, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+1), edge)
		fillRect(dst, image.Rect(r.Min.X, r.Max.Y-1, r.Max.X, r.Max.Y), edge)
		fillRect(dst, image.Rect(r.Min.X, r.Min.Y, r.Min.X+1, r.Max.Y), edge)
		fillRect(dst, image.Rect(r.Max.X-1, r.Min.Y, r.Max.X, r.Max.Y), edge)
	}
	return nil
}

type lineLayer struct {
	base
	x1, y1, x2, y2 int
	color          *colorValue
}

func (l *lineLayer) draw(dst *image.RGBA, c *drawing) error {
	col, ok, err := l.color.eval(c.data)
	if err != nil || !ok {
		return wrap("color", err)
	}
	o := dst.Bounds().Min
	drawLine(dst, o.X+l.x1, o.Y+l.y1, o.X+l.x2, o.Y+l.y2, col)
	return nil
}

type pixelLayer struct {
	base
	x, y  int
	color *colorValue
}

func (l *pixelLayer) draw(dst *image.RGBA, c *drawing) error {
	col, ok, err := l.color.eval(c.data)
	if err != nil || !ok {
		return wrap("color", err)
	}
	o := dst.Bounds().Min
	setPixel(dst, o.X+l.x, o.Y+l.y, col)
	return nil
}

// textLayer is a text layer, or a clock layer (format set, text nil).
type textLayer struct {
	base
	x, y, w int
	text    *tmpl
	format  string
	color   *colorValue
	font    string
	align   string
	scroll  bool
	speed   int
}

func (l *textLayer) draw(dst *image.RGBA, c *drawing) error {
	var s string
	if l.text != nil {
		var err error
		if s, err = l.text.run(c.data); err != nil {
			return wrap("text", err)
		}
		s = strings.TrimRight(s, "\n")
	} else {
		s = strftime(l.format, c.f.Now)
	}
	col, ok, err := l.color.eval(c.data)
	if err != nil || !ok {
		return wrap("color", err)
	}
	b := dst.Bounds()
	font := scene.FontFor(b.Dy())
	switch l.font {
	case "small":
		font = pixelfont.Small()
	case "large":
		font = pixelfont.Large()
	}
	w := l.w
	if w == 0 {
		w = max(b.Dx()-l.x, 0)
	}
	area := image.Rect(b.Min.X+l.x, b.Min.Y+l.y, b.Min.X+l.x+w, b.Min.Y+l.y+font.Height()).Intersect(b)
	sub, isRGBA := dst.SubImage(area).(*image.RGBA)
	if area.Empty() || !isRGBA {
		return nil
	}
	left := b.Min.X + l.x
	y := b.Min.Y + l.y
	width := font.Width(s)
	switch {
	case l.scroll && width > w:
		pass := width + textGap
		moved := int(c.f.Elapsed.Seconds() * float64(l.speed))
		x := left - moved%pass
		font.Draw(sub, x, y, s, col)
		font.Draw(sub, x+pass, y, s, col)
		return nil
	case l.align == "center":
		left += (w - width) / 2
	case l.align == "right":
		left += w - width
	}
	font.Draw(sub, left, y, s, col)
	return nil
}

type imageLayer struct {
	base
	geometry
	image      *tmpl
	fit        picture.Fit
	background *colorValue
}

func (l *imageLayer) draw(dst *image.RGBA, c *drawing) error {
	name, err := l.image.run(c.data)
	if err != nil {
		return wrap("image", err)
	}
	name = strings.TrimSpace(name)
	if name == "" || name == Missing {
		return nil
	}
	if picture.CheckName(name) != nil {
		return fmt.Errorf("image: %q is not an image name", name)
	}
	bg, _, err := l.background.eval(c.data)
	if err != nil {
		return wrap("background", err)
	}
	bg.A = 255
	r := l.rect(dst).Intersect(dst.Bounds())
	full := l.rect(dst)
	if r.Empty() {
		return nil
	}
	if c.f.Images == nil || !c.f.Images.Has(name) {
		return fmt.Errorf("image: no image %q", name)
	}
	a, err := c.f.Images.Scaled(name, full.Dx(), full.Dy(), l.fit, bg)
	if err != nil {
		return fmt.Errorf("image %q: %w", name, err)
	}
	if len(a.Frames) == 0 {
		return nil
	}
	frame := a.Frames[scene.FrameAt(a.Delays, c.f.Elapsed)]
	draw.Draw(dst, r, frame, frame.Bounds().Min.Add(r.Min.Sub(full.Min)), draw.Src)
	return nil
}

type barLayer struct {
	base
	geometry
	value, min, max   *numberValue
	color, background *colorValue
	direction         string
}

func (l *barLayer) draw(dst *image.RGBA, c *drawing) error {
	r := l.rect(dst)
	bg, ok, err := l.background.eval(c.data)
	if err != nil {
		return wrap("background", err)
	}
	if ok {
		fillRect(dst, r, bg)
	}
	v, ok, err := l.value.eval(c.data)
	if err != nil || !ok {
		return wrap("value", err)
	}
	lo, _, err := l.min.eval(c.data)
	if err != nil {
		return wrap("min", err)
	}
	hi, _, err := l.max.eval(c.data)
	if err != nil {
		return wrap("max", err)
	}
	if hi <= lo {
		return fmt.Errorf("max (%v) must be above min (%v)", hi, lo)
	}
	col, ok, err := l.color.eval(c.data)
	if err != nil || !ok {
		return wrap("color", err)
	}
	f := min(max((v-lo)/(hi-lo), 0), 1)
	switch l.direction {
	case "right":
		r.Max.X = r.Min.X + int(f*float64(r.Dx())+0.5)
	case "left":
		r.Min.X = r.Max.X - int(f*float64(r.Dx())+0.5)
	case "up":
		r.Min.Y = r.Max.Y - int(f*float64(r.Dy())+0.5)
	case "down":
		r.Max.Y = r.Min.Y + int(f*float64(r.Dy())+0.5)
	}
	fillRect(dst, r, col)
	return nil
}

type sparkLayer struct {
	base
	geometry
	input    scene.Input
	points   int // 0: one per column
	color    *colorValue
	min, max *numberValue
	style    string
}

func (l *sparkLayer) draw(dst *image.RGBA, c *drawing) error {
	r := l.rect(dst)
	if r.Dx() < 1 || r.Dy() < 1 {
		return nil
	}
	n := l.points
	if n == 0 {
		n = min(r.Dx(), MaxHistory)
	}
	c.values = c.inputs.history(c.values[:0], l.input, n)
	vals := c.values
	if len(vals) == 0 {
		return nil
	}
	col, ok, err := l.color.eval(c.data)
	if err != nil || !ok {
		return wrap("color", err)
	}
	lo, hi := slices.Min(vals), slices.Max(vals)
	if v, ok, err := l.min.eval(c.data); err != nil {
		return wrap("min", err)
	} else if ok {
		lo = v
	}
	if v, ok, err := l.max.eval(c.data); err != nil {
		return wrap("max", err)
	} else if ok {
		hi = v
	}
	// The newest value is at the right edge; n points span the width.
	xAt := func(i int) int {
		slot := n - len(vals) + i
		if n == 1 {
			return r.Max.X - 1
		}
		return r.Min.X + slot*(r.Dx()-1)/(n-1)
	}
	yAt := func(v float64) int {
		if hi <= lo {
			return r.Min.Y + (r.Dy()-1)/2
		}
		f := min(max((v-lo)/(hi-lo), 0), 1)
		return r.Max.Y - 1 - int(f*float64(r.Dy()-1)+0.5)
	}
	for i, v := range vals {
		x, y := xAt(i), yAt(v)
		if l.style == "bars" {
			fillRect(dst, image.Rect(x, y, x+1, r.Max.Y), col)
			continue
		}
		if i == 0 {
			setPixel(dst, x, y, col)
			continue
		}
		drawLine(dst, xAt(i-1), yAt(vals[i-1]), x, y, col)
	}
	return nil
}

// wrap names the key a problem is about; nil stays nil.
func wrap(key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", key, err)
}

// fillRect paints r, clipped to dst, in colour c (made opaque).
func fillRect(dst *image.RGBA, r image.Rectangle, c color.RGBA) {
	c.A = 255
	scene.FillRect(dst, r, c)
}

// setPixel paints one pixel (opaque) if it lies within dst.
func setPixel(dst *image.RGBA, x, y int, c color.RGBA) {
	c.A = 255
	scene.SetPixel(dst, x, y, c)
}

// drawLine draws a line from (x1, y1) to (x2, y2) with Bresenham's
// algorithm, clipped to dst.
func drawLine(dst *image.RGBA, x1, y1, x2, y2 int, c color.RGBA) {
	dx, dy := abs(x2-x1), -abs(y2-y1)
	sx, sy := 1, 1
	if x1 > x2 {
		sx = -1
	}
	if y1 > y2 {
		sy = -1
	}
	e := dx + dy
	for {
		setPixel(dst, x1, y1, c)
		if x1 == x2 && y1 == y2 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x1 += sx
		}
		if e2 <= dx {
			e += dx
			y1 += sy
		}
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
