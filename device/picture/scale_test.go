package picture_test

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"path/filepath"
	"testing"

	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden PNGs in testdata/")

// The display sizes.
var sizes = []image.Point{{64, 64}, {32, 8}}

// background is the colour the goldens are fitted over: not black, so
// that letterboxing shows.
var background = color.RGBA{R: 40, G: 0, B: 60, A: 255}

// strip lays frames side by side, for one golden of an animation.
func strip(frames []*image.RGBA) *image.RGBA {
	b := frames[0].Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()*len(frames), b.Dy()))
	for i, f := range frames {
		draw.Draw(out, b.Add(image.Pt(i*b.Dx(), 0)), f, image.Point{}, draw.Src)
	}
	return out
}

// goldenTolerance is how far a pixel may be from its golden: the
// smoothing resampler computes in floating point, which a platform may
// round differently (fused multiply-add). Nearest-neighbour images are
// checked exactly by their own tests.
const goldenTolerance = 1

// TestScaled_photo fits a 160x100 photo-like image to each display size
// with each fit.
func TestScaled_photo(t *testing.T) {
	p, err := picture.Decode(testkit.PNG(t, photo(160, 100)))
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range sizes {
		for _, fit := range []picture.Fit{picture.Contain, picture.Cover, picture.Stretch} {
			name := fmt.Sprintf("photo-%s-%dx%d", fit, size.X, size.Y)
			t.Run(name, func(t *testing.T) {
				a, err := p.Scaled(size.X, size.Y, fit, background)
				if err != nil {
					t.Fatal(err)
				}
				if len(a.Frames) != 1 || len(a.Delays) != 1 || a.Delays[0] != 0 {
					t.Fatalf("%d frames, delays %v; want one still", len(a.Frames), a.Delays)
				}
				f := a.Frames[0]
				if f.Bounds() != image.Rect(0, 0, size.X, size.Y) {
					t.Fatalf("frame is %v", f.Bounds())
				}
				testkit.GoldenWithin(t, filepath.Join("testdata", name+".png"), f, *update, goldenTolerance)

				// Contain leaves bands of background (the photo is wider
				// than 64x64, narrower than 32x8); the others cover all.
				wantBand := fit == picture.Contain
				corners := []image.Point{{0, 0}, {size.X - 1, size.Y - 1}}
				for _, c := range corners {
					if got := f.RGBAAt(c.X, c.Y) == background; got != wantBand {
						t.Errorf("corner %v is %v; background: %v", c, f.RGBAAt(c.X, c.Y), wantBand)
					}
				}
			})
		}
	}
}

// TestScaled_contain checks where Contain puts the image.
func TestScaled_contain(t *testing.T) {
	tests := []struct {
		sw, sh, w, h int
		want         image.Rectangle // the image's part of the display
	}{
		{160, 100, 64, 64, image.Rect(0, 12, 64, 52)}, // 64x40, centred
		{160, 100, 32, 8, image.Rect(9, 0, 22, 8)},    // 13x8 (12.8), centred
		{100, 160, 64, 64, image.Rect(12, 0, 52, 64)},
		{640, 640, 32, 8, image.Rect(12, 0, 20, 8)},
		{3000, 1, 32, 8, image.Rect(0, 3, 32, 4)}, // never less than a pixel
	}
	for _, tt := range tests {
		img := image.NewRGBA(image.Rect(0, 0, tt.sw, tt.sh))
		fillImage(img, white)
		p, err := picture.Decode(testkit.PNG(t, img))
		if err != nil {
			t.Fatal(err)
		}
		a, err := p.Scaled(tt.w, tt.h, picture.Contain, black)
		if err != nil {
			t.Fatal(err)
		}
		for y := range tt.h {
			for x := range tt.w {
				got := a.Frames[0].RGBAAt(x, y)
				if in := image.Pt(x, y).In(tt.want); (got == white) != in {
					t.Fatalf("%dx%d in %dx%d: pixel (%d,%d) is %v, want white only in %v",
						tt.sw, tt.sh, tt.w, tt.h, x, y, got, tt.want)
				}
			}
		}
	}
}

// TestScaled_cover checks that Cover shows the centre of the image.
func TestScaled_cover(t *testing.T) {
	// A 300x100 image: red, green, blue thirds. Covering 64x64 shows the
	// green third only; 32x8 shows all three, cropped top and bottom.
	img := image.NewRGBA(image.Rect(0, 0, 300, 100))
	for i, c := range []color.RGBA{red, green, blue} {
		draw.Draw(img, image.Rect(100*i, 0, 100*i+100, 100), image.NewUniform(c), image.Point{}, draw.Src)
	}
	p, err := picture.Decode(testkit.PNG(t, img))
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Scaled(64, 64, picture.Cover, black)
	if err != nil {
		t.Fatal(err)
	}
	for y := range 64 {
		for x := range 64 {
			if got := a.Frames[0].RGBAAt(x, y); got != green {
				t.Fatalf("64x64: pixel (%d,%d) is %v, want green", x, y, got)
			}
		}
	}
	a, err = p.Scaled(32, 8, picture.Cover, black)
	if err != nil {
		t.Fatal(err)
	}
	for x, want := range map[int]color.RGBA{0: red, 15: green, 16: green, 31: blue} {
		if got := a.Frames[0].RGBAAt(x, 4); got != want {
			t.Errorf("32x8: pixel (%d,4) is %v, want %v", x, got, want)
		}
	}
}

// TestScaled_pixelArt scales 16x16 pixel art 4x: nearest neighbour, every
// output pixel its source pixel.
func TestScaled_pixelArt(t *testing.T) {
	art := pixelArt()
	p, err := picture.Decode(testkit.PNG(t, art))
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Scaled(64, 64, picture.Contain, background)
	if err != nil {
		t.Fatal(err)
	}
	f := a.Frames[0]
	for y := range 64 {
		for x := range 64 {
			if got, want := f.RGBAAt(x, y), art.RGBAAt(x/4, y/4); got != want {
				t.Fatalf("pixel (%d,%d) is %v, want %v from (%d,%d)", x, y, got, want, x/4, y/4)
			}
		}
	}
	testkit.GoldenWithin(t, filepath.Join("testdata", "pixelart-64x64.png"), f, *update, goldenTolerance)
}

// TestScaled_blocksShrink: pixel art drawn at 4x (64x64 of 4x4 blocks)
// shrinks back to 16x16 exactly; an image without such blocks is smoothed.
func TestScaled_blocksShrink(t *testing.T) {
	art := pixelArt()
	big := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			big.SetRGBA(x, y, art.RGBAAt(x/4, y/4))
		}
	}
	p, err := picture.Decode(testkit.PNG(t, big))
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Scaled(16, 16, picture.Contain, background)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Frames[0]; !bytes.Equal(got.Pix, art.Pix) {
		t.Error("64x64 of 4x4 blocks did not shrink to the 16x16 it was drawn from")
	}

	// One pixel out of its block: no longer blocks, so smoothed, and
	// the block holding it comes out a blend.
	big.SetRGBA(1, 1, color.RGBA{R: 255, G: 255, B: 255, A: 255})
	p, err = picture.Decode(testkit.PNG(t, big))
	if err != nil {
		t.Fatal(err)
	}
	a, err = p.Scaled(16, 16, picture.Contain, background)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Frames[0]; bytes.Equal(got.Pix, art.Pix) {
		t.Error("an image without whole blocks was scaled by nearest neighbour")
	}
}

// TestScaled_photoIsSmoothed: a 640x640 photo shrinks by a whole factor
// (10) to 64x64, but is not made of blocks: it is smoothed, not sampled.
// Its thin lines, one pixel in ten, survive as a blend rather than
// vanishing or showing at full strength.
func TestScaled_photoIsSmoothed(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 640, 640))
	fillImage(img, white)
	for x := 0; x < 640; x += 10 {
		for y := range 640 {
			img.SetRGBA(x+5, y, black)
		}
	}
	p, err := picture.Decode(testkit.PNG(t, img))
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Scaled(64, 64, picture.Contain, background)
	if err != nil {
		t.Fatal(err)
	}
	got := a.Frames[0].RGBAAt(32, 32)
	if got.R < 180 || got.R > 250 || got.R != got.G || got.G != got.B {
		t.Errorf("pixel of a 1-in-10 black line pattern is %v, want a light grey blend", got)
	}
}

// TestScaled_gifDisposal draws disposalGIF's frames and checks every pixel
// against what each disposal leaves.
func TestScaled_gifDisposal(t *testing.T) {
	p, err := picture.Decode(disposalGIF(t))
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Scaled(8, 8, picture.Stretch, black)
	if err != nil {
		t.Fatal(err)
	}
	// Each frame as rows of R red, G green, B blue, W white, . background
	// (transparent).
	want := [][8]string{
		{"RRRRRRRR", "RRRRRRRR", "RRRRRRRR", "RRRRRRRR", "RRRRRRRR", "RRRRRRRR", "RRRRRRRR", "RRRRRRRR"},
		{"RRRRRRRR", "RRRRRRRR", "RRGGGGRR", "RRGGGGRR", "RRGGGGRR", "RRGGGGRR", "RRRRRRRR", "RRRRRRRR"},
		{"RBBBRRRR", "BBBBRRRR", "BBBB..RR", "BBBB..RR", "RR....RR", "RR....RR", "RRRRRRRR", "RRRRRRRR"},
		{"RRRRRRRR", "RRRRRRRR", "RR....RR", "RR....RR", "RR....RR", "RR....RR", "RRRRRRWW", "RRRRRRWW"},
	}
	colors := map[byte]color.RGBA{'R': red, 'G': green, 'B': blue, 'W': white, '.': black}
	if len(a.Frames) != len(want) {
		t.Fatalf("%d frames, want %d", len(a.Frames), len(want))
	}
	for i, rows := range want {
		for y, row := range rows {
			for x := range row {
				if got := a.Frames[i].RGBAAt(x, y); got != colors[row[x]] {
					t.Errorf("frame %d: pixel (%d,%d) is %v, want %c", i, x, y, got, row[x])
				}
			}
		}
	}

	for _, size := range sizes {
		a, err := p.Scaled(size.X, size.Y, picture.Contain, background)
		if err != nil {
			t.Fatal(err)
		}
		testkit.GoldenWithin(t, filepath.Join("testdata", fmt.Sprintf("gif-disposal-%dx%d.png", size.X, size.Y)), strip(a.Frames), *update, goldenTolerance)
	}
}

// TestScaled_transparency: a transparent PNG pixel shows the background,
// a half-transparent one a blend.
func TestScaled_transparency(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	img.SetNRGBA(0, 0, color.NRGBA{R: 255, A: 0})
	img.SetNRGBA(1, 0, color.NRGBA{R: 255, A: 128})
	p, err := picture.Decode(testkit.PNG(t, img))
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Scaled(2, 1, picture.Stretch, color.RGBA{B: 255, A: 255})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Frames[0].RGBAAt(0, 0); got != (color.RGBA{B: 255, A: 255}) {
		t.Errorf("transparent pixel is %v, want the background", got)
	}
	if got := a.Frames[0].RGBAAt(1, 0); got.R < 120 || got.R > 136 || got.B < 120 || got.B > 136 || got.A != 255 {
		t.Errorf("half-transparent red over blue is %v, want half of each", got)
	}
}

func fillImage(img *image.RGBA, c color.RGBA) {
	draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
}
