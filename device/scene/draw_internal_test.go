package scene

import (
	"image"
	"image/color"
	"testing"
)

func TestHue(t *testing.T) {
	tests := []struct {
		h, v int
		want color.RGBA
	}{
		{0, 255, color.RGBA{R: 255, A: 255}},
		{512, 255, color.RGBA{G: 255, A: 255}},
		{1024, 255, color.RGBA{B: 255, A: 255}},
		{256, 255, color.RGBA{R: 255, G: 255, A: 255}},
		{hueSteps, 255, color.RGBA{R: 255, A: 255}},
		{-256, 255, color.RGBA{R: 255, B: 255, A: 255}},
		{0, 0, color.RGBA{A: 255}},
		{512, 51, color.RGBA{G: 51, A: 255}},
	}
	for _, tt := range tests {
		if got := hue(tt.h, tt.v); got != tt.want {
			t.Errorf("hue(%d, %d) = %v, want %v", tt.h, tt.v, got, tt.want)
		}
	}
}

func TestWave(t *testing.T) {
	tests := []struct{ phase, want int }{
		{0, 0}, {64, 128}, {128, 0}, {192, -128}, {256, 0}, {-64, -128}, {32, 96},
	}
	for _, tt := range tests {
		if got := wave(tt.phase); got != tt.want {
			t.Errorf("wave(%d) = %d, want %d", tt.phase, got, tt.want)
		}
	}
	for p := range 512 {
		if got := wave(p); got < -128 || got > 128 {
			t.Fatalf("wave(%d) = %d, out of [-128, 128]", p, got)
		}
	}
}

func TestFit(t *testing.T) {
	tests := []struct {
		text         string
		width, scale int
		want         string
	}{
		{"DEMO", 64, 1, "DEMO"},
		{"ABCDEFGHIJ", 32, 1, "ABCDEFGH"}, // 8*4-1 = 31
		{"ABCDEFGHIJ", 31, 1, "ABCDEFGH"},
		{"ABCDEFGHIJ", 30, 1, "ABCDEFG"},
		{"ABCDEFGHIJ", 30, 2, "ABCD"}, // (4*4-1)*2 = 30
		{"ABCDEFGHIJ", 29, 2, "ABC"},
		{"héllo", 7, 1, "hé"},
		{"A", 2, 1, ""},
		{"", 10, 1, ""},
	}
	for _, tt := range tests {
		got := fit(tt.text, tt.width, tt.scale)
		if got != tt.want {
			t.Errorf("fit(%q, %d, %d) = %q, want %q", tt.text, tt.width, tt.scale, got, tt.want)
		}
		if w := textWidth(got, tt.scale); w > tt.width {
			t.Errorf("fit(%q, %d, %d) is %d px wide", tt.text, tt.width, tt.scale, w)
		}
	}
}

func TestFillRect_clips(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	c := color.RGBA{R: 9, A: 255}
	FillRect(img, image.Rect(-5, 1, 2, 99), c)
	for y := range 3 {
		for x := range 4 {
			want := color.RGBA{}
			if x < 2 && y >= 1 {
				want = c
			}
			if got := img.RGBAAt(x, y); got != want {
				t.Errorf("pixel (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
}

func TestDrawTextScaled(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 16, 12))
	if w := drawText(img, 0, 0, "1.", color.RGBA{R: 255, A: 255}, 2); w != textWidth("1.", 2) || w != 14 {
		t.Errorf("drawText at scale 2 returned %d, want 14", w)
	}
	// The '.' is the bottom middle pixel of its cell: a 2x2 block at scale 2.
	for _, p := range []image.Point{{10, 8}, {11, 8}, {10, 9}, {11, 9}} {
		if img.RGBAAt(p.X, p.Y).R != 255 {
			t.Errorf("pixel %v of the scaled '.' is not lit", p)
		}
	}
}
