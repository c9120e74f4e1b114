package scene

import (
	"image"
	"image/color"
)

// Metrics of the built-in font. Every glyph is GlyphWidth x GlyphHeight
// pixels and text advances Advance pixels per rune, which leaves one blank
// column between glyphs.
const (
	GlyphWidth  = 3
	GlyphHeight = 5
	Advance     = GlyphWidth + 1
)

// glyphs maps the runes from ' ' to 'Z' to their bitmaps. A bitmap is 15
// bits, written in octal so that each digit is one row, top row first, and
// within a row the bit of value 4 is the left column: 0o72222 is a T.
// A zero entry means "no glyph", except for the space, which is blank on
// purpose. The table is never written.
var glyphs = [...]uint16{
	'!' - ' ':  0o22202,
	'%' - ' ':  0o51245,
	'\'' - ' ': 0o22000,
	'-' - ' ':  0o00700,
	'.' - ' ':  0o00002,
	'/' - ' ':  0o11244,
	'0' - ' ':  0o75557,
	'1' - ' ':  0o26227,
	'2' - ' ':  0o71747,
	'3' - ' ':  0o71317,
	'4' - ' ':  0o55711,
	'5' - ' ':  0o74717,
	'6' - ' ':  0o74757,
	'7' - ' ':  0o71122,
	'8' - ' ':  0o75757,
	'9' - ' ':  0o75717,
	':' - ' ':  0o02020,
	'?' - ' ':  0o71202,
	'A' - ' ':  0o25755,
	'B' - ' ':  0o65656,
	'C' - ' ':  0o34443,
	'D' - ' ':  0o65556,
	'E' - ' ':  0o74647,
	'F' - ' ':  0o74644,
	'G' - ' ':  0o34553,
	'H' - ' ':  0o55755,
	'I' - ' ':  0o72227,
	'J' - ' ':  0o11152,
	'K' - ' ':  0o55655,
	'L' - ' ':  0o44447,
	'M' - ' ':  0o57755,
	'N' - ' ':  0o65555,
	'O' - ' ':  0o25552,
	'P' - ' ':  0o65644,
	'Q' - ' ':  0o25563,
	'R' - ' ':  0o65655,
	'S' - ' ':  0o34216,
	'T' - ' ':  0o72222,
	'U' - ' ':  0o55557,
	'V' - ' ':  0o55552,
	'W' - ' ':  0o55775,
	'X' - ' ':  0o55255,
	'Y' - ' ':  0o55222,
	'Z' - ' ':  0o71247,
}

// missingGlyph is drawn for runes the font lacks: a small hollow square that
// no real glyph looks like, so a gap in the font shows on the display.
const missingGlyph = 0o07570

// HasGlyph reports whether the font has a glyph for r. Lower-case letters
// count, since they are drawn as upper case.
func HasGlyph(r rune) bool {
	_, ok := glyph(r)
	return ok
}

// glyph returns the bitmap for r and whether the font has one.
func glyph(r rune) (uint16, bool) {
	if 'a' <= r && r <= 'z' {
		r -= 'a' - 'A'
	}
	if r == ' ' {
		return 0, true
	}
	if r < ' ' || int(r-' ') >= len(glyphs) {
		return missingGlyph, false
	}
	if g := glyphs[r-' ']; g != 0 {
		return g, true
	}
	return missingGlyph, false
}

// TextWidth returns the width in pixels of text drawn with DrawText:
// Advance pixels per rune, less the blank column after the last one.
// It is 0 for empty text.
func TextWidth(text string) int {
	return textWidth(text, 1)
}

func textWidth(text string, scale int) int {
	n := 0
	for range text {
		n++
	}
	if n == 0 {
		return 0
	}
	return (n*Advance - 1) * scale
}

// DrawText draws text in colour c with its top-left corner at (x, y), in
// dst's coordinates, and returns its width as TextWidth does. Lower-case
// letters are drawn as upper case and runes the font lacks as a small hollow
// square. Pixels outside dst are skipped, so text may be drawn partly off
// the image; blank pixels of a glyph are left as they are.
func DrawText(dst *image.RGBA, x, y int, text string, c color.RGBA) (width int) {
	return drawText(dst, x, y, text, c, 1)
}

// drawText is DrawText with every font pixel drawn as a scale x scale block.
func drawText(dst *image.RGBA, x, y int, text string, c color.RGBA, scale int) int {
	x0 := x
	n := 0
	for _, r := range text {
		g, _ := glyph(r)
		drawGlyph(dst, x, y, g, c, scale)
		x += Advance * scale
		n++
	}
	if n == 0 {
		return 0
	}
	return x - x0 - scale
}

func drawGlyph(dst *image.RGBA, x, y int, g uint16, c color.RGBA, scale int) {
	if g == 0 {
		return
	}
	for row := range GlyphHeight {
		bits := g >> (3 * (GlyphHeight - 1 - row)) & 0o7
		for col := range GlyphWidth {
			if bits&(0o4>>col) == 0 {
				continue
			}
			px := x + col*scale
			py := y + row*scale
			FillRect(dst, image.Rect(px, py, px+scale, py+scale), c)
		}
	}
}
