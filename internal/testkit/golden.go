package testkit

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// Golden compares got with the PNG at path pixel by pixel, or, with update,
// writes got there. A difference fails t, names the first pixel that
// differs and keeps got as a test artifact.
func Golden(t testing.TB, path string, got *image.RGBA, update bool) {
	t.Helper()
	GoldenWithin(t, path, got, update, 0)
}

// GoldenWithin is Golden where a pixel may differ from the PNG's by up
// to tolerance in each channel (a smoothing resampler computes in floating
// point, which platforms may round differently).
func GoldenWithin(t testing.TB, path string, got *image.RGBA, update bool, tolerance int) {
	t.Helper()
	if update {
		if err := WritePNG(path, got); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := ReadPNG(t, path)
	if want.Bounds().Size() != got.Bounds().Size() {
		t.Fatalf("golden %s is %v, frame is %v", path, want.Bounds(), got.Bounds())
	}
	diffs := 0
	var first image.Point
	b, wb := got.Bounds(), want.Bounds()
	for y := range b.Dy() {
		for x := range b.Dx() {
			if !within(color.RGBAModel.Convert(want.At(wb.Min.X+x, wb.Min.Y+y)).(color.RGBA), got.RGBAAt(b.Min.X+x, b.Min.Y+y), tolerance) {
				if diffs == 0 {
					first = image.Pt(x, y)
				}
				diffs++
			}
		}
	}
	if diffs == 0 {
		return
	}
	t.Errorf("%d pixels differ from %s, the first at %v: got %v, want %v (run go test -update to accept the new frame)",
		diffs, path, first, got.RGBAAt(b.Min.X+first.X, b.Min.Y+first.Y), want.At(wb.Min.X+first.X, wb.Min.Y+first.Y))
	out := filepath.Join(t.ArtifactDir(), filepath.Base(path))
	if err := WritePNG(out, got); err != nil {
		t.Log(err)
	} else {
		t.Logf("new frame in %s (kept with -artifacts)", out)
	}
}

// within reports whether a and b differ by at most tolerance in each
// channel.
func within(a, b color.RGBA, tolerance int) bool {
	d := func(x, y uint8) bool { return max(int(x)-int(y), int(y)-int(x)) <= tolerance }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && d(a.A, b.A)
}

// WritePNG writes img to path as PNG.
func WritePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// ReadPNG reads the PNG at path, failing t if it cannot.
func ReadPNG(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img
}

// PNG encodes img as PNG.
func PNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Uniform is a w x h image in one colour.
func Uniform(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}
