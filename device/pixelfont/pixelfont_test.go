package pixelfont_test

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/pidicon/pidicon-mqtt/device/pixelfont"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden PNG files in testdata")

var (
	white  = color.RGBA{255, 255, 255, 255}
	black  = color.RGBA{0, 0, 0, 255}
	marker = color.RGBA{1, 2, 3, 4}
)

// fonts are the package's fonts with the metrics their doc promises.
var fonts = []struct {
	font                 func() *pixelfont.Font
	file                 string
	name                 string
	height, ascent, cell int
	display              image.Rectangle
	charsPerLine         int
}{
	{pixelfont.Small, "small", "misc-fixed 4x6", 6, 5, 4, image.Rect(0, 0, 32, 8), 8},
	{pixelfont.Large, "large", "misc-fixed 6x10", 10, 8, 6, image.Rect(0, 0, 64, 64), 10},
}

// goldenLine is drawn by the golden tests.
const goldenLine = "Grüße 20°C 5€ ÄÖÜ éèàçñ ß"

func TestMetrics(t *testing.T) {
	for _, tf := range fonts {
		f := tf.font()
		if f != tf.font() {
			t.Errorf("%s: each call loads the font again", tf.name)
		}
		if f.Name() != tf.name || f.Height() != tf.height || f.Ascent() != tf.ascent {
			t.Errorf("%s: name %q, height %d, ascent %d; want %q, %d, %d",
				tf.name, f.Name(), f.Height(), f.Ascent(), tf.name, tf.height, tf.ascent)
		}
		if f.Height() > tf.display.Dy() {
			t.Errorf("%s: line height %d does not fit the %d-pixel display", tf.name, f.Height(), tf.display.Dy())
		}
		if got := tf.display.Dx() / f.Advance('M'); got != tf.charsPerLine {
			t.Errorf("%s: %d characters on a %d-pixel line, want %d", tf.name, got, tf.display.Dx(), tf.charsPerLine)
		}
	}
}

func TestCoverage(t *testing.T) {
	var required []rune
	for r := rune(0x20); r <= 0x7e; r++ {
		required = append(required, r)
	}
	for r := rune(0xa0); r <= 0x17f; r++ {
		required = append(required, r)
	}
	required = append(required, []rune("äöüÄÖÜß€°éèàçñ–—‘’‚“”„•…")...)
	lacking := []rune{0, '\t', '\n', 0x7f, 0x80, 0x9f, 0x180, utf8.RuneError, '☃', 0xe000, -1, utf8.MaxRune + 1}
	for _, tf := range fonts {
		f := tf.font()
		for _, r := range required {
			if !f.Has(r) {
				t.Errorf("%s lacks %U %q", tf.name, r, r)
			}
			if f.Advance(r) != tf.cell {
				t.Errorf("%s: advance of %U is %d, want %d", tf.name, r, f.Advance(r), tf.cell)
			}
		}
		for _, r := range lacking {
			if f.Has(r) {
				t.Errorf("%s has %U, which it should lack", tf.name, r)
			}
			if f.Advance(r) != tf.cell {
				t.Errorf("%s: box advance for %U is %d, want %d", tf.name, r, f.Advance(r), tf.cell)
			}
		}
	}
}

// setPixels lists the points of img that are not black.
func setPixels(img *image.RGBA) map[image.Point]bool {
	set := make(map[image.Point]bool)
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if img.RGBAAt(x, y) != black {
				set[image.Pt(x, y)] = true
			}
		}
	}
	return set
}

func newImage(r image.Rectangle, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(r)
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

func TestMissingRuneDrawsBox(t *testing.T) {
	for _, tf := range fonts {
		f := tf.font()
		for _, s := range []string{"☃", "\ue000", "\xff", "\n", string(utf8.RuneError)} {
			t.Run(fmt.Sprintf("%s/%q", tf.file, s), func(t *testing.T) {
				img := newImage(image.Rect(0, 0, 20, 20), black)
				const x, y = 3, 4
				if pen := f.Draw(img, x, y, s, white); pen != x+tf.cell {
					t.Errorf("pen at %d, want %d", pen, x+tf.cell)
				}
				// The outline of columns x..x+cell-2 and rows y..y+height-1.
				want := make(map[image.Point]bool)
				right, bottom := x+tf.cell-2, y+tf.height-1
				for px := x; px <= right; px++ {
					for py := y; py <= bottom; py++ {
						if px == x || px == right || py == y || py == bottom {
							want[image.Pt(px, py)] = true
						}
					}
				}
				got := setPixels(img)
				if !equalSets(got, want) {
					t.Errorf("drew %v, want the box %v", got, want)
				}
			})
		}
	}
}

func equalSets(a, b map[image.Point]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for p := range a {
		if !b[p] {
			return false
		}
	}
	return true
}

func TestKnownGlyph(t *testing.T) {
	// 'L' in misc-fixed 6x10: a bar in column 0 from the cap height (row
	// 1) down to the baseline (row 7) and a foot to column 4 on it.
	img := newImage(image.Rect(0, 0, 6, 10), black)
	pixelfont.Large().Draw(img, 0, 0, "L", white)
	want := make(map[image.Point]bool)
	for y := 1; y <= 7; y++ {
		want[image.Pt(0, y)] = true
	}
	for x := 1; x <= 4; x++ {
		want[image.Pt(x, 7)] = true
	}
	if got := setPixels(img); !equalSets(got, want) {
		t.Errorf("'L' drew %v, want %v", got, want)
	}
}

// drawCases are strings for the width and clipping tests: plain text, the
// golden line, missing runes, invalid UTF-8 and nothing.
var drawCases = []string{"", "A", "Hello, World!", goldenLine, "☃\ue000x", "a\xffb\xc3", "\xe2\x82", "ö€\n"}

func TestWidthAgreesWithDraw(t *testing.T) {
	for _, tf := range fonts {
		f := tf.font()
		for _, s := range drawCases {
			img := newImage(image.Rect(0, 0, 64, 64), black)
			for _, x := range []int{-100, -3, 0, 7, 200} {
				if pen := f.Draw(img, x, 2, s, white); pen != x+f.Width(s) {
					t.Errorf("%s: Draw(%q) at x=%d returned %d, Width says %d", tf.name, s, x, pen, x+f.Width(s))
				}
			}
			sum := 0
			for _, r := range s {
				sum += f.Advance(r)
			}
			if f.Width(s) != sum {
				t.Errorf("%s: Width(%q) = %d, the advances add up to %d", tf.name, s, f.Width(s), sum)
			}
		}
		if f.Draw(nil, 5, 0, "ab", white) != 5+2*tf.cell {
			t.Errorf("%s: Draw on nil does not only measure", tf.name)
		}
	}
}

// TestClipping draws at every position across each edge of a destination
// that is a window into a larger image: the window must show exactly the
// matching part of the unclipped text, and nothing outside it may change.
func TestClipping(t *testing.T) {
	// Short strings keep the number of positions down; between them they
	// have accents above the cap height, descenders and boxes.
	cases := []string{"Äg", "ÿ☃\xff", "€;É"}
	for _, tf := range fonts {
		f := tf.font()
		window := tf.display.Add(image.Pt(10, 20))
		canvas := newImage(window.Inset(-8), marker)
		dst := canvas.SubImage(window).(*image.RGBA)
		for _, s := range cases {
			width := f.Width(s)
			// The text drawn whole, with its origin at (0, 0).
			whole := newImage(image.Rect(0, 0, width, f.Height()), black)
			f.Draw(whole, 0, 0, s, white)

			for _, y := range acrossEdges(window.Min.Y, window.Max.Y, f.Height()) {
				for _, x := range acrossEdges(window.Min.X, window.Max.X, width) {
					fillImage(dst, black)
					f.Draw(dst, x, y, s, white)
					if !checkWindow(t, canvas, window, whole, x, y) {
						t.Fatalf("%s: %q drawn at (%d, %d)", tf.name, s, x, y)
					}
				}
			}
		}
	}
}

// acrossEdges lists the positions at which something size long starts
// when it crosses the edge at low or the one at high, from wholly before
// to wholly after, one more each way, and one in the middle.
func acrossEdges(low, high, size int) []int {
	var positions []int
	for _, edge := range []int{low, high} {
		for p := edge - size - 1; p <= edge+1; p++ {
			positions = append(positions, p)
		}
	}
	return append(positions, (low+high-size)/2)
}

func fillImage(img *image.RGBA, c color.RGBA) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// checkWindow checks that canvas shows whole drawn at (x, y) inside window
// and is untouched outside it.
func checkWindow(t *testing.T, canvas *image.RGBA, window image.Rectangle, whole *image.RGBA, x, y int) bool {
	t.Helper()
	b := canvas.Bounds()
	for py := b.Min.Y; py < b.Max.Y; py++ {
		for px := b.Min.X; px < b.Max.X; px++ {
			got := canvas.RGBAAt(px, py)
			want := marker
			if image.Pt(px, py).In(window) {
				want = black
				if p := image.Pt(px-x, py-y); p.In(whole.Bounds()) {
					want = whole.RGBAAt(p.X, p.Y)
				}
			}
			if got != want {
				t.Errorf("pixel (%d, %d) is %v, want %v", px, py, got, want)
				return false
			}
		}
	}
	return true
}

func TestGolden(t *testing.T) {
	for _, tf := range fonts {
		f := tf.font()
		t.Run(tf.file+"-line", func(t *testing.T) {
			img := newImage(image.Rect(0, 0, f.Width(goldenLine), f.Height()), black)
			f.Draw(img, 0, 0, goldenLine, white)
			testkit.Golden(t, filepath.Join("testdata", tf.file+"-line.png"), img, *update)
		})
		t.Run(tf.file+"-charset", func(t *testing.T) {
			testkit.Golden(t, filepath.Join("testdata", tf.file+"-charset.png"), charset(f), *update)
		})
	}
}

// charset draws every rune the fonts have in rows of 16 runes, runes the
// font lacks as boxes, then a row with a missing rune and a bad byte.
func charset(f *pixelfont.Font) *image.RGBA {
	var rows []string
	for _, start := range []rune{0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0,
		0x100, 0x110, 0x120, 0x130, 0x140, 0x150, 0x160, 0x170, 0x2010, 0x2020, 0x20a0} {
		var row []rune
		for r := start; r < start+16; r++ {
			row = append(row, r)
		}
		rows = append(rows, string(row))
	}
	rows = append(rows, "☃\xff")
	img := newImage(image.Rect(0, 0, 16*f.Advance('M'), len(rows)*f.Height()), black)
	for i, row := range rows {
		f.Draw(img, 0, i*f.Height(), row, white)
	}
	return img
}

func TestDrawDoesNotAllocate(t *testing.T) {
	for _, tf := range fonts {
		f := tf.font()
		img := newImage(tf.display, black)
		allocs := testing.AllocsPerRun(100, func() {
			f.Draw(img, -2, 1, goldenLine+"☃\xff", white)
		})
		if allocs != 0 {
			t.Errorf("%s: Draw allocates %.1f times", tf.name, allocs)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for _, tf := range fonts {
				img := newImage(tf.display, black)
				tf.font().Draw(img, i, 0, goldenLine, white)
			}
		})
	}
	wg.Wait()
}

func FuzzDraw(f *testing.F) {
	f.Add("Grüße 20°C", 0, 0)
	f.Add("☃\xff\xe2\x82", -5, 3)
	f.Add("x", 63, 63)
	f.Add("Hello", -1<<62, 1<<62)
	f.Fuzz(func(t *testing.T, s string, x, y int) {
		for _, tf := range fonts {
			font := tf.font()
			for _, window := range []image.Rectangle{image.Rect(0, 0, 64, 64), image.Rect(0, 0, 32, 8), image.Rect(-7, 5, 25, 13)} {
				canvas := newImage(window.Inset(-8), marker)
				dst := canvas.SubImage(window).(*image.RGBA)
				fillImage(dst, black)
				if pen := font.Draw(dst, x, y, s, white); pen != x+font.Width(s) {
					t.Fatalf("%s: pen at %d, want %d", tf.name, pen, x+font.Width(s))
				}
				b := canvas.Bounds()
				for py := b.Min.Y; py < b.Max.Y; py++ {
					for px := b.Min.X; px < b.Max.X; px++ {
						got := canvas.RGBAAt(px, py)
						inside := image.Pt(px, py).In(window)
						if (inside && got != black && got != white) || (!inside && got != marker) {
							t.Fatalf("%s: %q at (%d, %d) on %v: pixel (%d, %d) is %v", tf.name, s, x, y, window, px, py, got)
						}
					}
				}
			}
		}
	})
}

func BenchmarkDraw(b *testing.B) {
	for _, tf := range fonts {
		f := tf.font()
		img := newImage(tf.display, black)
		// A full line of the display: 8 characters on AWTRIX, 10 on the Pixoo.
		line := []rune("Grüße 20°C")[:tf.charsPerLine]
		s := string(line)
		b.Run(tf.file, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f.Draw(img, 0, 0, s, white)
			}
		})
	}
}
