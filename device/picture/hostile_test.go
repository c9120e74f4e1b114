package picture_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"strings"
	"testing"

	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

// smallAlloc is how much a refused file may make Decode allocate: a
// header's worth, nowhere near the pixels it claims.
const smallAlloc = 1 << 20

// TestDecode_hostile feeds files that claim more than the caps allow, or
// are cut short, and checks that each is refused with its reason before
// anything large is allocated.
func TestDecode_hostile(t *testing.T) {
	many := func(n int, r image.Rectangle) []image.Rectangle {
		out := make([]image.Rectangle, n)
		for i := range out {
			out[i] = r
		}
		return out
	}
	hugeJPEG := encodeJPEG(t, photo(16, 16))
	sof := bytes.Index(hugeJPEG, []byte{0xff, 0xc0})
	binary.BigEndian.PutUint16(hugeJPEG[sof+5:], 60000) // height
	binary.BigEndian.PutUint16(hugeJPEG[sof+7:], 60000) // width

	full := disposalGIF(t)
	tests := []struct {
		name string
		data []byte
		want error
		says string
	}{
		{"png 100000x100000", rawPNG(100000, 100000), picture.ErrTooLarge, "100000x100000"},
		{"png one pixel over", rawPNG(2049, 2048), picture.ErrTooLarge, "2049x2048"},
		{"png 0x0", rawPNG(0, 0), picture.ErrNotImage, "dimension"},
		{"jpeg 60000x60000", hugeJPEG, picture.ErrTooLarge, "60000x60000"},
		{"gif screen 0x0", rawGIF(0, 0, []image.Rectangle{{}}, true), picture.ErrNotImage, "0x0"},
		{"gif screen too large", rawGIF(4096, 4096, many(1, image.Rect(0, 0, 1, 1)), true), picture.ErrTooLarge, "4096x4096"},
		{"gif of 10000 frames of 1000x1000", rawGIF(1000, 1000, many(10000, image.Rect(0, 0, 1000, 1000)), true),
			picture.ErrTooLarge, "more than 33 frames of 1000x1000"},
		{"gif of 501 frames", rawGIF(2, 2, many(501, image.Rect(0, 0, 1, 1)), true), picture.ErrTooLarge, "more than 500 frames"},
		{"gif frame too large", rawGIF(1, 1, many(1, image.Rect(0, 0, 60000, 60000)), true), picture.ErrTooLarge, "frame 1 is 60000x60000"},
		{"gif frames too large in all", rawGIF(10, 10, many(100, image.Rect(0, 0, 2048, 2000)), true),
			picture.ErrTooLarge, "frames hold more than"},
		{"gif frame past 65535", rawGIF(10, 10, many(1, image.Rect(100, 0, 65600, 1)), true),
			picture.ErrNotImage, "beyond 65535"},
		{"gif truncated in a frame", full[:len(full)*3/4], picture.ErrNotImage, "cut short"},
		{"gif truncated in the header", full[:10], picture.ErrNotImage, "cut short in the header"},
		{"gif truncated in the color table", full[:20], picture.ErrNotImage, "cut short in the global color table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *picture.Picture
			var err error
			n := allocated(func() { p, err = picture.Decode(tt.data) })
			if !errors.Is(err, tt.want) || p != nil {
				t.Fatalf("Decode = %v, %v; want %v", p, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
			if n > smallAlloc+uint64(len(tt.data)) {
				t.Errorf("allocated %d bytes to refuse it", n)
			}
		})
	}
}

// TestDecode_gifFrameOutsideScreen: a frame reaching past the logical
// screen is clipped to it, as browsers do, rather than refused.
func TestDecode_gifFrameOutsideScreen(t *testing.T) {
	// Written with a 16x16 screen, then the screen shrunk to 12x12: the
	// second frame, (8,8)-(16,16), now reaches 4 pixels past it.
	data := gifOf(t, 16, 16,
		frameOf(image.Rect(0, 0, 16, 16), red),
		frameOf(image.Rect(8, 8, 16, 16), blue),
	)
	data[6], data[8] = 12, 12
	p, err := picture.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Width != 12 || p.Height != 12 || p.Frames() != 2 {
		t.Fatalf("decoded %dx%d with %d frames, want 12x12 with 2", p.Width, p.Height, p.Frames())
	}
	a, err := p.Scaled(12, 12, picture.Stretch, black)
	if err != nil {
		t.Fatal(err)
	}
	last := a.Frames[1]
	for y := range 12 {
		for x := range 12 {
			want := red
			if x >= 8 && y >= 8 {
				want = blue
			}
			if got := last.RGBAAt(x, y); got != want {
				t.Fatalf("pixel (%d,%d) is %v, want %v", x, y, got, want)
			}
		}
	}
}

// TestDecode_gifWithoutTrailer: a GIF that ends after a complete frame,
// without its trailer, is shown, as browsers do; one cut inside a frame is
// refused (TestDecode_hostile).
func TestDecode_gifWithoutTrailer(t *testing.T) {
	full := disposalGIF(t)
	if full[len(full)-1] != 0x3b {
		t.Fatal("encoded GIF does not end with a trailer")
	}
	p, err := picture.Decode(full[:len(full)-1])
	if err != nil {
		t.Fatal(err)
	}
	if p.Frames() != 4 {
		t.Errorf("%d frames, want 4", p.Frames())
	}
}

// TestDecode_capsHold decodes files right at the caps.
func TestDecode_capsHold(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 16 MiB images")
	}
	t.Run("png 2048x2048", func(t *testing.T) {
		data := testkit.PNG(t, image.NewGray(image.Rect(0, 0, 2048, 2048)))
		p, err := picture.Decode(data)
		if err != nil || p.Width != 2048 || p.Height != 2048 {
			t.Fatalf("Decode = %v, %v", p, err)
		}
	})
	t.Run("gif of 500 frames", func(t *testing.T) {
		data := animatedGIF(t, 16, 16, picture.MaxFrames)
		p, err := picture.Decode(data)
		if err != nil || p.Frames() != picture.MaxFrames {
			t.Fatalf("Decode = %v, %v", p, err)
		}
		if _, err := p.Scaled(64, 64, picture.Contain, black); err != nil {
			t.Fatal(err)
		}
	})
}

func TestScaled_refused(t *testing.T) {
	p, err := picture.Decode(animatedGIF(t, 8, 8, 100))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		w, h int
		fit  picture.Fit
		want error
	}{
		{0, 8, picture.Contain, nil},
		{8, -1, picture.Contain, nil},
		{8, 8, "fill", nil},
		{1024, 1024, picture.Contain, picture.ErrTooLarge}, // 100 frames of 1 Mpx
	} {
		a, err := p.Scaled(tt.w, tt.h, tt.fit, color.RGBA{})
		if err == nil || a != nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("Scaled(%d, %d, %q) = %v, %v; want an error", tt.w, tt.h, tt.fit, a, err)
		}
	}
}
