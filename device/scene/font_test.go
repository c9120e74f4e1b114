package scene_test

import (
	"image"
	"image/color"
	"testing"

	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// charset is every rune the font must have, besides lower case.
const charset = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ :.-/!?'%"

func TestTextWidth(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{"", 0},
		{"A", 3},
		{"AB", 7},
		{" ", 3},
		{"12:34", 19},
		{"12:34:56", 31},
		{"2026-11-27", 39},
		{"héllo", 19}, // runes, not bytes
		{"\xff", 3},   // invalid UTF-8 is one rune
	}
	for _, tt := range tests {
		if got := scene.TextWidth(tt.text); got != tt.want {
			t.Errorf("TextWidth(%q) = %d, want %d", tt.text, got, tt.want)
		}
	}
}

func TestHasGlyph(t *testing.T) {
	for _, r := range charset + "abcdefghijklmnopqrstuvwxyz" {
		if !scene.HasGlyph(r) {
			t.Errorf("HasGlyph(%q) = false, want true", r)
		}
	}
	for _, r := range "\x00\n#&@[_`{~é€😀" + string(rune(-1)) {
		if scene.HasGlyph(r) {
			t.Errorf("HasGlyph(%q) = true, want false", r)
		}
	}
}

// render draws text on a black canvas with room around it and returns the
// canvas and the lit pixels' bounds.
func render(t *testing.T, text string) (*image.RGBA, image.Rectangle) {
	t.Helper()
	img := image.NewRGBA(image.Rect(-10, -10, 30, 20))
	width := scene.DrawText(img, 0, 0, text, color.RGBA{R: 255, A: 255})
	if want := scene.TextWidth(text); width != want {
		t.Errorf("DrawText(%q) returned %d, TextWidth says %d", text, width, want)
	}
	var lit image.Rectangle
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if img.RGBAAt(x, y).R != 0 {
				lit = lit.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return img, lit
}

func TestDrawText_everyGlyph(t *testing.T) {
	cell := image.Rect(0, 0, scene.GlyphWidth, scene.GlyphHeight)
	seen := map[string]rune{}
	for _, r := range charset {
		img, lit := render(t, string(r))
		if r == ' ' {
			if !lit.Empty() {
				t.Errorf("space lit pixels in %v", lit)
			}
			continue
		}
		if lit.Empty() {
			t.Errorf("%q draws nothing", r)
			continue
		}
		if !lit.In(cell) {
			t.Errorf("%q lit pixels in %v, outside its %v cell", r, lit, cell)
		}
		key := string(img.SubImage(cell).(*image.RGBA).Pix)
		if other, dup := seen[key]; dup {
			t.Errorf("%q looks exactly like %q", r, other)
		}
		seen[key] = r
	}
}

func TestDrawText_lowerCase(t *testing.T) {
	upper, _ := render(t, "HELLO WORLD")
	lower, _ := render(t, "hello world")
	if string(upper.Pix) != string(lower.Pix) {
		t.Error("lower case draws differently from upper case")
	}
}

func TestDrawText_unknownRune(t *testing.T) {
	box, lit := render(t, "#")
	if lit.Empty() {
		t.Fatal("an unknown rune draws nothing")
	}
	for _, r := range charset {
		if img, _ := render(t, string(r)); string(img.Pix) == string(box.Pix) {
			t.Errorf("an unknown rune looks like %q", r)
		}
	}
	for _, text := range []string{"é", "€", "\xff", "\n"} {
		if img, _ := render(t, text); string(img.Pix) != string(box.Pix) {
			t.Errorf("%q draws differently from other unknown runes", text)
		}
	}
}

func TestDrawText_advance(t *testing.T) {
	_, lit := render(t, "8888")
	if want := image.Rect(0, 0, scene.TextWidth("8888"), scene.GlyphHeight); lit != want {
		t.Errorf("8888 lit %v, want %v", lit, want)
	}
	img, _ := render(t, "88")
	for y := range scene.GlyphHeight {
		if img.RGBAAt(scene.GlyphWidth, y).R != 0 {
			t.Errorf("the gap column lit at y=%d", y)
		}
	}
}

func TestDrawText_clips(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 8, 4))
	for _, p := range []image.Point{{-2, -2}, {6, 2}, {-100, 0}, {100, 100}, {0, -5}} {
		scene.DrawText(img, p.X, p.Y, "WXYZ", color.RGBA{G: 255, A: 255}) // must not panic
	}
	if img.RGBAAt(0, 0).G == 0 {
		t.Error("text drawn partly off the image left nothing on it")
	}
}

func TestDrawText_keepsBackground(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 5))
	bg := color.RGBA{B: 200, A: 255}
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i+2], img.Pix[i+3] = bg.B, bg.A
	}
	scene.DrawText(img, 0, 0, "-", color.RGBA{R: 255, A: 255})
	if got := img.RGBAAt(0, 0); got != bg {
		t.Errorf("a blank pixel of '-' is %v, want the background %v", got, bg)
	}
	if got := img.RGBAAt(0, 2); got.R != 255 {
		t.Errorf("a lit pixel of '-' is %v, want red", got)
	}
}
