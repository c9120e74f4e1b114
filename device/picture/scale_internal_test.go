package picture

import (
	"image"
	"testing"
	"time"

	"golang.org/x/image/draw"
)

// TestScaler_choice checks when nearest neighbour is used.
func TestScaler_choice(t *testing.T) {
	solid := func(w, h int) *Picture {
		return &Picture{Width: w, Height: h, Delays: []time.Duration{0}, still: image.NewRGBA(image.Rect(0, 0, w, h))}
	}
	noisy := func(w, h int) *Picture {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range img.Pix {
			img.Pix[i] = byte(i * 7)
		}
		return &Picture{Width: w, Height: h, Delays: []time.Duration{0}, still: img}
	}
	tests := []struct {
		name    string
		p       *Picture
		w, h    int
		fit     Fit
		nearest bool
	}{
		{"same size", noisy(64, 64), 64, 64, Contain, true},
		{"4x up", noisy(16, 16), 64, 64, Contain, true},
		{"2x up, 8x down, of blocks", solid(16, 64), 32, 8, Stretch, true},
		{"10x down, of blocks", solid(640, 640), 64, 64, Contain, true},
		{"10x down, photo", noisy(640, 640), 64, 64, Contain, false},
		{"not a whole factor", noisy(24, 24), 64, 64, Contain, false},
		{"letterboxed 2x up", noisy(32, 16), 64, 64, Contain, true},
		{"cropped 4x up", noisy(32, 16), 64, 64, Cover, true}, // 16x16 of it, 4x
	}
	for _, tt := range tests {
		sr, dr := layout(tt.p.Width, tt.p.Height, tt.w, tt.h, tt.fit)
		got := tt.p.scaler(sr, dr) == draw.Scaler(draw.NearestNeighbor)
		if got != tt.nearest {
			t.Errorf("%s: nearest %v, want %v (%v of the picture onto %v)", tt.name, got, tt.nearest, sr, dr)
		}
	}
}
