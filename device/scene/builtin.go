package scene

import (
	"image"
	"image/color"
	"strings"
)

// Built-in scene names, in the order Builtin lists them.
const (
	Startup = "startup"
	Clock   = "clock"
	Fill    = "fill"
	Empty   = "empty"
	Wave    = "wave"
	Bars    = "bars"
)

// Colours of the built-in scenes.
var (
	black     = color.RGBA{A: 255}
	white     = color.RGBA{R: 255, G: 255, B: 255, A: 255}
	grey      = color.RGBA{R: 140, G: 140, B: 140, A: 255}
	dimGrey   = color.RGBA{R: 40, G: 40, B: 40, A: 255}
	skyBlue   = color.RGBA{R: 90, G: 170, B: 255, A: 255}
	amber     = color.RGBA{R: 255, G: 160, B: 40, A: 255}
	tealGreen = color.RGBA{R: 0, G: 200, B: 150, A: 255}
)

// defaultFill is the fill scene's colour when none is set.
var defaultFill = color.RGBA{R: 255, G: 96, A: 255}

// Builtin returns the built-in scenes: startup, clock, fill, empty, wave,
// bars, text and image, in that order. Each call returns a new registry.
func Builtin() *Registry {
	return NewRegistry(
		Scene{Name: Startup, Description: "The device's name and the daemon's version in a rainbow frame",
			Render: renderStartup},
		Scene{Name: Clock, Description: "The time, with the date on a square display", FPS: 1, Render: renderClock,
			Params: []Param{
				{Name: "color", Type: TypeColor, Default: white, Description: "The time's colour"},
				{Name: "seconds", Type: TypeBool, Default: true, Description: "Show the seconds"},
				{Name: "24h", Type: TypeBool, Default: true, Description: "24-hour time; false: 12-hour with AM/PM"},
			}},
		Scene{Name: Fill, Description: "The whole display in one colour", Render: renderFill,
			Params: []Param{{Name: "color", Type: TypeColor, Description: "The colour", Default: defaultFill}}},
		Scene{Name: Empty, Description: "A black display", Render: renderEmpty},
		Scene{Name: Wave, Description: "A rainbow wave, animated at 5 frames a second", FPS: 5, Render: renderWave},
		// A test card needs a panel with some height: on a 32x8 strip the
		// bars would be four pixels wide.
		Scene{Name: Bars, Description: "Colour bars over a grey ramp, to check a panel", MinSize: Size{W: 16, H: 16},
			Render: renderBars},
		Scene{Name: Text, Description: "A line of text, scrolling when it is wider than the display",
			Params: textParams(), Rate: textFPS, Render: renderText},
		Scene{Name: Image, Description: "A stored image fitted to the display; animated GIFs play",
			Params: imageParams(), Rate: imageFPS, Animation: imageAnimation, Render: renderImage},
	)
}

// small reports whether dst is a strip display such as an AWTRIX (32x8),
// with room for one line of text only.
func small(dst *image.RGBA) bool { return dst.Bounds().Dy() < 16 }

// renderStartup shows the device name and the daemon's version inside a
// rainbow frame; a strip display shows only the name (or the version when
// the name is empty) over a rainbow line.
func renderStartup(dst *image.RGBA, p Frame) {
	b := dst.Bounds()
	fillAll(dst, black)
	version := p.Version
	if version != "" && !strings.HasPrefix(version, "v") {
		version = "v" + version
	}

	if small(dst) {
		text := p.DeviceName
		if text == "" {
			text = version
		}
		text = fit(text, b.Dx(), 1)
		drawText(dst, centre(b, text, 1), b.Min.Y+1, text, white, 1)
		for x := b.Min.X; x < b.Max.X; x++ {
			SetPixel(dst, x, b.Max.Y-1, hue((x-b.Min.X)*hueSteps/b.Dx(), 255))
		}
		return
	}

	drawBorder(dst)
	name, scale := p.DeviceName, 2
	if textWidth(name, 2) > b.Dx()-4 {
		scale = 1
		name = fit(name, b.Dx()-4, 1)
	}
	midY := b.Min.Y + b.Dy()/2
	drawText(dst, centre(b, name, scale), midY-4-GlyphHeight*scale, name, white, scale)
	version = fit(version, b.Dx()-4, 1)
	drawText(dst, centre(b, version, 1), midY+4, version, grey, 1)
}

// drawBorder paints a one-pixel rainbow frame around dst, the hue turning
// once round the wheel clockwise from the top-left corner.
func drawBorder(dst *image.RGBA) {
	b := dst.Bounds()
	w, h := b.Dx(), b.Dy()
	perimeter := 2 * (w + h)
	at := func(i, x, y int) { SetPixel(dst, x, y, hue(i*hueSteps/perimeter, 255)) }
	for i := range w {
		at(i, b.Min.X+i, b.Min.Y)         // top, left to right
		at(w+h+i, b.Max.X-1-i, b.Max.Y-1) // bottom, right to left
	}
	for i := range h {
		at(w+i, b.Max.X-1, b.Min.Y+i)     // right, top to bottom
		at(2*w+h+i, b.Min.X, b.Max.Y-1-i) // left, bottom to top
	}
}

// renderClock shows the time of Frame.Now: HH:MM:SS with the date and the
// weekday on a square display, HH:MM with a colon shown on odd seconds only
// on a strip display; both with a bar that fills over the minute.
func renderClock(dst *image.RGBA, p Frame) {
	b := dst.Bounds()
	fillAll(dst, black)
	hour, minute, sec := p.Now.Clock()
	colour := opaque(p.Params.Color("color"))
	seconds, h24 := p.Params.Bool("seconds"), p.Params.Bool("24h")
	meridiem := "AM"
	if !h24 {
		if hour >= 12 {
			meridiem = "PM"
		}
		if hour = hour % 12; hour == 0 {
			hour = 12
		}
	}

	// The text goes into a fixed buffer so that a frame does not allocate.
	var buf [10]byte
	if small(dst) {
		put2(buf[0:], hour)
		buf[2] = ' '
		if sec%2 == 1 {
			buf[2] = ':'
		}
		put2(buf[3:], minute)
		text := buf[:5]
		if !h24 && hour < 10 {
			text = buf[1:5] // "9:05", as 12-hour clocks show it
		}
		drawText(dst, centre(b, string(text), 1), b.Min.Y+1, string(text), colour, 1)
		if seconds {
			FillRect(dst, image.Rect(b.Min.X, b.Max.Y-1, b.Max.X, b.Max.Y), dimGrey)
			FillRect(dst, image.Rect(b.Min.X, b.Max.Y-1, b.Min.X+(sec+1)*b.Dx()/60, b.Max.Y), tealGreen)
		}
		return
	}

	put2(buf[0:], hour)
	buf[2] = ':'
	put2(buf[3:], minute)
	buf[5] = ':'
	put2(buf[6:], sec)
	timeText := buf[:8]
	if !seconds {
		timeText = buf[:5]
	}
	if !h24 && hour < 10 {
		timeText = timeText[1:] // "9:05", as 12-hour clocks show it
	}
	scale := 2
	if textWidth(string(timeText), 2) > b.Dx() {
		scale = 1
	}
	midY := b.Min.Y + b.Dy()/2
	drawText(dst, centre(b, string(timeText), scale), midY-14, string(timeText), colour, scale)

	year, month, day := p.Now.Date()
	put2(buf[0:], year/100%100)
	put2(buf[2:], year%100)
	buf[4] = '-'
	put2(buf[5:], int(month))
	buf[7] = '-'
	put2(buf[8:], day)
	drawText(dst, centre(b, string(buf[:]), 1), midY+2, string(buf[:]), skyBlue, 1)

	weekday := p.Now.Weekday().String()[:3]
	if !h24 {
		weekday += " " + meridiem
	}
	drawText(dst, centre(b, weekday, 1), midY+10, weekday, amber, 1)

	if !seconds {
		return
	}
	bar := image.Rect(b.Min.X+4, b.Max.Y-6, b.Max.X-4, b.Max.Y-4)
	FillRect(dst, bar, dimGrey)
	bar.Max.X = bar.Min.X + (sec+1)*bar.Dx()/60
	FillRect(dst, bar, tealGreen)
}

// put2 writes n modulo 100 as two decimal digits.
func put2(dst []byte, n int) {
	n = mod(n, 100)
	dst[0] = byte('0' + n/10)
	dst[1] = byte('0' + n%10)
}

// renderFill paints the whole display in its colour, made opaque.
func renderFill(dst *image.RGBA, p Frame) { fillAll(dst, opaque(p.Params.Color("color"))) }

// renderEmpty paints the whole display black.
func renderEmpty(dst *image.RGBA, _ Frame) { fillAll(dst, black) }

// renderWave draws a rainbow sine wave that travels one period every 16
// frames while the colours cycle every 32: every frame differs from the
// last, which makes it a load test for the frame path.
func renderWave(dst *image.RGBA, p Frame) {
	b := dst.Bounds()
	w, h := b.Dx(), b.Dy()
	// Distances are in sixteenths of a pixel.
	centre16 := (h - 1) * 8
	amplitude16 := (h - 1) * 6
	band16 := max(h*16/5, 16)
	const floor = 48 // brightness far from the wave, out of 255
	for x := range w {
		line16 := centre16 + amplitude16*wave(x*256/w+p.Number*16)/128
		baseHue := x*hueSteps/w + p.Number*48
		for y := range h {
			d := y*16 - line16
			if d < 0 {
				d = -d
			}
			v := max(255-d*(255-floor)/band16, floor)
			SetPixel(dst, b.Min.X+x, b.Min.Y+y, hue(baseHue+y*hueSteps/(4*h), v))
		}
	}
}

// renderBars draws a test card: seven colour bars over a grey ramp, to
// check a panel's colours and brightness.
func renderBars(dst *image.RGBA, _ Frame) {
	b := dst.Bounds()
	bars := []color.RGBA{
		white,
		{R: 255, G: 255, A: 255}, // yellow
		{G: 255, B: 255, A: 255}, // cyan
		{G: 255, A: 255},         // green
		{R: 255, B: 255, A: 255}, // magenta
		{R: 255, A: 255},         // red
		{B: 255, A: 255},         // blue
	}
	split := b.Min.Y + b.Dy()*3/4
	for i, c := range bars {
		x0 := b.Min.X + i*b.Dx()/len(bars)
		x1 := b.Min.X + (i+1)*b.Dx()/len(bars)
		FillRect(dst, image.Rect(x0, b.Min.Y, x1, split), c)
	}
	for x := b.Min.X; x < b.Max.X; x++ {
		v := uint8((x - b.Min.X) * 255 / max(b.Dx()-1, 1))
		FillRect(dst, image.Rect(x, split, x+1, b.Max.Y), color.RGBA{R: v, G: v, B: v, A: 255})
	}
}

// fit cuts text to the runes that fit in width pixels at scale.
func fit(text string, width, scale int) string {
	n := 0
	for i := range text {
		if (n+1)*Advance*scale-scale > width {
			return text[:i]
		}
		n++
	}
	return text
}

// centre returns the x at which text at scale is centred in b.
func centre(b image.Rectangle, text string, scale int) int {
	return b.Min.X + (b.Dx()-textWidth(text, scale))/2
}
