package pixelfont

import (
	"image"
	"image/color"
	"math/bits"
	"unicode/utf8"
)

// Font is a bitmap font: glyphs for a set of runes and the metrics of one
// line. A Font is never changed after it is loaded and is safe for
// concurrent use.
type Font struct {
	name            string
	ascent, descent int
	// cellWidth is the width of the font's bounding box, the advance and
	// size of the box drawn for a rune the font lacks.
	cellWidth int
	// ascii holds the runes below 0x80, indexed by rune; the rest are in
	// others.
	ascii  [utf8.RuneSelf]glyph
	others map[rune]*glyph
}

// glyph is the bitmap of one rune and where it sits relative to the pen.
type glyph struct {
	// rows holds the bitmap, top row first; in each row the top bit is the
	// leftmost pixel.
	rows []uint64
	// advance is how far the pen moves to the right.
	advance int
	// left is the distance from the pen to the bitmap's left column, top
	// the distance from the baseline down to its top row (negative when
	// the top row is above the baseline, as it mostly is).
	left, top int
	// width is the bitmap's width in pixels.
	width   int
	present bool
}

// Name names the font, for example "misc-fixed 4x6".
func (f *Font) Name() string { return f.name }

// Height is the height of a line of text in pixels: Ascent plus the
// descent below the baseline.
func (f *Font) Height() int { return f.ascent + f.descent }

// Ascent is the distance in pixels from the top of a line to its baseline.
func (f *Font) Ascent() int { return f.ascent }

// Has reports whether the font has a glyph for r. Draw draws a box for a
// rune it does not have.
func (f *Font) Has(r rune) bool { return f.lookup(r) != nil }

// Advance is how many pixels the pen moves to the right when r is drawn;
// for a rune the font lacks, the advance of the box drawn instead.
func (f *Font) Advance(r rune) int {
	if g := f.lookup(r); g != nil {
		return g.advance
	}
	return f.cellWidth
}

// Width is the total advance of s as Draw draws it: the pen's x after Draw
// minus its x before.
func (f *Font) Width(s string) int {
	width := 0
	for i := 0; i < len(s); {
		g, size := f.decode(s[i:])
		i += size
		if g == nil {
			width += f.cellWidth
		} else {
			width += g.advance
		}
	}
	return width
}

// Draw draws s on one line whose top is at y, with the pen starting at x,
// and returns the pen's x after the last rune. Pixels that a glyph covers
// are set to c (no blending); pixels outside dst.Bounds() are skipped, so x
// and y may lie anywhere, negative x included (scrolling text). A rune the
// font lacks, and each byte of s that is not valid UTF-8, is drawn as the
// outline of a box the size of the font's cell, one column narrower so
// that neighbouring boxes stay apart. Line breaks are not interpreted: a
// '\n' is drawn as a box too. With a nil dst Draw only measures. Draw does
// not allocate.
func (f *Font) Draw(dst *image.RGBA, x, y int, s string, c color.RGBA) int {
	if dst == nil {
		return x + f.Width(s)
	}
	bounds := dst.Bounds()
	baseline := y + f.ascent
	pen := x
	for i := 0; i < len(s); {
		g, size := f.decode(s[i:])
		i += size
		if g == nil {
			f.drawBox(dst, bounds, pen, y, c)
			pen += f.cellWidth
			continue
		}
		g.draw(dst, bounds, pen, baseline, c)
		pen += g.advance
	}
	return pen
}

// lookup returns the glyph for r, or nil if the font has none.
func (f *Font) lookup(r rune) *glyph {
	if r >= 0 && r < utf8.RuneSelf {
		if g := &f.ascii[r]; g.present {
			return g
		}
		return nil
	}
	return f.others[r]
}

// decode returns the glyph of the first rune of s, nil for a rune the font
// lacks or a byte that is not valid UTF-8, and the rune's length in bytes.
func (f *Font) decode(s string) (*glyph, int) {
	if c := s[0]; c < utf8.RuneSelf {
		if g := &f.ascii[c]; g.present {
			return g, 1
		}
		return nil, 1
	}
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size == 1 {
		return nil, 1
	}
	return f.lookup(r), size
}

// draw sets the pixels of g with the pen at (pen, baseline), skipping
// those outside bounds.
func (g *glyph) draw(dst *image.RGBA, bounds image.Rectangle, pen, baseline int, c color.RGBA) {
	left, top := pen+g.left, baseline+g.top
	if left >= bounds.Max.X || top >= bounds.Max.Y ||
		left+g.width <= bounds.Min.X || top+len(g.rows) <= bounds.Min.Y {
		return
	}
	for i, row := range g.rows {
		py := top + i
		if py < bounds.Min.Y || py >= bounds.Max.Y {
			continue
		}
		for row != 0 {
			col := bits.LeadingZeros64(row)
			row &^= 1 << (63 - col)
			setPixel(dst, bounds, left+col, py, c)
		}
	}
}

// drawBox draws the outline of the box that stands for a missing rune: the
// cell's height, and its width less the column that keeps glyphs apart.
func (f *Font) drawBox(dst *image.RGBA, bounds image.Rectangle, pen, top int, c color.RGBA) {
	right := pen + max(f.cellWidth-1, 1) - 1
	bottom := top + f.Height() - 1
	if pen >= bounds.Max.X || top >= bounds.Max.Y || right < bounds.Min.X || bottom < bounds.Min.Y {
		return
	}
	for px := pen; px <= right; px++ {
		setPixel(dst, bounds, px, top, c)
		setPixel(dst, bounds, px, bottom, c)
	}
	for py := top + 1; py < bottom; py++ {
		setPixel(dst, bounds, pen, py, c)
		setPixel(dst, bounds, right, py, c)
	}
}

// setPixel sets the pixel at (x, y) to c if it lies within bounds, which
// are dst's.
func setPixel(dst *image.RGBA, bounds image.Rectangle, x, y int, c color.RGBA) {
	if x < bounds.Min.X || x >= bounds.Max.X || y < bounds.Min.Y || y >= bounds.Max.Y {
		return
	}
	o := dst.PixOffset(x, y)
	p := dst.Pix[o : o+4 : o+4]
	p[0], p[1], p[2], p[3] = c.R, c.G, c.B, c.A
}
