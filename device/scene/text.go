package scene

import (
	"image"
	"strings"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/pixelfont"
)

// Text is the text scene's name.
const Text = "text"

// Limits of the text scene's parameters (CONTRACT §7).
const (
	MaxTextLength = 512
	// textGap is the blank space between the end of a scrolling text and
	// its next start, in pixels.
	textGap = 8
)

func ptrf(f float64) *float64 { return &f }

// textParams are the text scene's parameters; the notifications take the
// same colours, icon and scroll speed.
func textParams() []Param {
	return []Param{
		{Name: "text", Type: TypeString, Required: true, MaxLength: MaxTextLength, Description: "The text to show"},
		{Name: "color", Type: TypeColor, Default: white, Description: "The text's colour"},
		{Name: "background", Type: TypeColor, Default: black, Description: "The background's colour"},
		{Name: "icon", Type: TypeImage, Description: "An image drawn at the left"},
		{Name: "scroll", Type: TypeEnum, Options: []string{"auto", "off"}, Default: "auto",
			Description: "auto: scroll when the text is wider than the display"},
		{Name: "speed", Type: TypeInt, Default: 20, Min: ptrf(1), Max: ptrf(200), Description: "Scrolling speed in pixels per second"},
		{Name: "align", Type: TypeEnum, Options: []string{"left", "center", "right"}, Default: "center",
			Description: "Where a text that fits sits"},
	}
}

// FontFor is the font for a display of height h: the small one on a strip
// display (AWTRIX, 8 pixels high), the larger one on a square panel.
func FontFor(h int) *pixelfont.Font {
	if h < 16 {
		return pixelfont.Small()
	}
	return pixelfont.Large()
}

// TextLayout is where text goes on a display: the icon's place, the area
// the text is drawn in, and either the lines it is wrapped into or a single
// line that scrolls.
type TextLayout struct {
	Font  *pixelfont.Font
	Icon  image.Rectangle // empty: no icon
	Area  image.Rectangle
	Width int // the text's width in pixels, on one line
	// Lines is the text as drawn when it does not scroll: one line, or, on
	// a panel tall enough, the text wrapped at spaces.
	Lines  []string
	Scroll bool // too wide for Area on one line, not wrappable, scroll auto
}

// lineGap is the space between wrapped lines, in pixels.
const lineGap = 1

// LayoutText lays out text on b with the text scene's parameters. On a
// strip display (one line high) an icon goes left of the text; on a taller
// panel above it, and text too wide for one line is wrapped at spaces when
// the lines fit, else it scrolls (unless scroll is off).
func LayoutText(b image.Rectangle, text string, v Values) TextLayout {
	l := TextLayout{Font: FontFor(b.Dy()), Area: b}
	lineH := l.Font.Height() + lineGap
	tall := b.Dy() >= 3*lineH
	if v.String("icon") != "" {
		if tall {
			side := min(b.Dy()/3, 24)
			left := b.Min.X + (b.Dx()-side)/2
			l.Icon = image.Rect(left, b.Min.Y+2, left+side, b.Min.Y+2+side)
			l.Area.Min.Y = l.Icon.Max.Y + 1
		} else {
			side := min(b.Dy(), 16)
			top := b.Min.Y + (b.Dy()-side)/2
			l.Icon = image.Rect(b.Min.X, top, b.Min.X+side, top+side)
			l.Area.Min.X = l.Icon.Max.X + 1
		}
	}
	l.Width = l.Font.Width(text)
	l.Lines = []string{text}
	if l.Width <= l.Area.Dx() {
		return l
	}
	if tall {
		if lines, ok := wrap(l.Font, text, l.Area.Dx()); ok && len(lines)*lineH <= l.Area.Dy()+lineGap {
			l.Lines = lines
			return l
		}
	}
	l.Scroll = v.String("scroll") != "off"
	return l
}

// wrap breaks text at spaces into lines of at most width pixels; ok is
// false when a word alone is wider.
func wrap(f *pixelfont.Font, text string, width int) (lines []string, ok bool) {
	line := ""
	for _, word := range strings.Fields(text) {
		if f.Width(word) > width {
			return nil, false
		}
		switch {
		case line == "":
			line = word
		case f.Width(line+" "+word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line), true
}

// ScrollPeriod is how long one full pass of a scrolling text takes: it
// starts at the left of its area, moves left until its end has passed and
// comes round again textGap pixels behind its end, so every character is
// shown once in a period.
func (l TextLayout) ScrollPeriod(speed int) time.Duration {
	return time.Duration(l.Width+textGap) * time.Second / time.Duration(max(speed, 1))
}

// RenderText draws text as the text scene does, over background, elapsed
// into its scrolling: the scene and the notifications draw with it.
func RenderText(dst *image.RGBA, text string, v Values, images ImageSource, elapsed time.Duration) {
	b := dst.Bounds()
	fillAll(dst, opaque(v.Color("background")))
	l := LayoutText(b, text, v)
	if !l.Icon.Empty() && images != nil {
		drawImage(dst, l.Icon, images, v.String("icon"), picture.Contain, opaque(v.Color("background")), elapsed)
	}
	area, ok := dst.SubImage(l.Area).(*image.RGBA)
	if !ok || l.Area.Empty() {
		return
	}
	fg := opaque(v.Color("color"))
	lineH := l.Font.Height() + lineGap
	if l.Scroll {
		y := l.Area.Min.Y + (l.Area.Dy()-l.Font.Height())/2
		pass := l.Width + textGap
		moved := int(elapsed.Seconds() * float64(max(v.Int("speed"), 1)))
		x := l.Area.Min.X - moved%pass
		l.Font.Draw(area, x, y, text, fg)
		l.Font.Draw(area, x+pass, y, text, fg) // the next round follows the end of this one
		return
	}
	y := l.Area.Min.Y + (l.Area.Dy()-len(l.Lines)*lineH+lineGap)/2
	for _, line := range l.Lines {
		w := l.Font.Width(line)
		x := l.Area.Min.X + (l.Area.Dx()-w)/2
		switch v.String("align") {
		case "left":
			x = l.Area.Min.X
		case "right":
			x = l.Area.Max.X - w
		}
		l.Font.Draw(area, x, y, line, fg)
		y += lineH
	}
}

// renderText is the text scene.
func renderText(dst *image.RGBA, f Frame) {
	RenderText(dst, f.Params.String("text"), f.Params, f.Images, f.Elapsed)
}

// textFPS is the text scene's frame rate: 5 while it scrolls, else one
// frame per (re)start.
func textFPS(size Size, v Values, _ ImageSource) float64 {
	if LayoutText(image.Rect(0, 0, size.W, size.H), v.String("text"), v).Scroll {
		return 5
	}
	return 0
}
