package picture_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image"
	"image/color"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

// seedFiles are small valid files of every format and kind, for the
// fuzzers to start from.
func seedFiles(t testing.TB) [][]byte {
	gray16 := image.NewGray16(image.Rect(0, 0, 3, 2))
	gray16.SetGray16(1, 1, color.Gray16{Y: 0x1234})
	pal := image.NewPaletted(image.Rect(0, 0, 4, 4), gifPalette)
	pal.SetColorIndex(2, 1, 3)
	return [][]byte{
		testkit.PNG(t, photo(5, 3)),
		testkit.PNG(t, image.NewNRGBA(image.Rect(0, 0, 2, 2))),
		testkit.PNG(t, gray16),
		testkit.PNG(t, pal),
		encodeJPEG(t, photo(9, 7)),
		encodeJPEG(t, image.NewGray(image.Rect(0, 0, 8, 8))),
		disposalGIF(t),
		animatedGIF(t, 6, 5, 3),
		gifOf(t, 4, 4, frameOf(image.Rect(1, 1, 3, 3), green)),
		rawGIF(4, 4, []image.Rectangle{image.Rect(0, 0, 1, 1)}, true),
		rawPNG(3, 3),
	}
}

func FuzzDecode(f *testing.F) {
	for _, data := range seedFiles(f) {
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(data[:len(data)-1])
	}
	f.Add([]byte{})
	f.Add([]byte("GIF89a"))
	f.Add(rawPNG(100000, 100000))
	f.Add(rawGIF(1000, 1000, []image.Rectangle{image.Rect(0, 0, 1000, 1000), image.Rect(0, 0, 1000, 1000)}, true))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := picture.Decode(data)
		if err != nil {
			if p != nil {
				t.Errorf("error %v with a picture", err)
			}
			if !errors.Is(err, picture.ErrNotImage) && !errors.Is(err, picture.ErrTooLarge) {
				t.Errorf("error %v is neither ErrNotImage nor ErrTooLarge", err)
			}
			return
		}
		n := p.Frames()
		pixels := int64(p.Width) * int64(p.Height)
		switch {
		case p.Width < 1 || p.Height < 1 || pixels > picture.MaxPixels:
			t.Fatalf("decoded %dx%d", p.Width, p.Height)
		case n < 1 || n > picture.MaxFrames || int64(n)*pixels > picture.MaxTotalPixels:
			t.Fatalf("%d frames of %dx%d", n, p.Width, p.Height)
		case n == 1 && p.Delays[0] != 0:
			t.Errorf("still with delay %v", p.Delays[0])
		}
		if n > 1 {
			for i, d := range p.Delays {
				if d < 20*time.Millisecond || d > 0xffff*10*time.Millisecond {
					t.Errorf("frame %d: delay %v", i, d)
				}
			}
		}
		for _, size := range []image.Point{{16, 8}, {5, 7}} {
			a, err := p.Scaled(size.X, size.Y, picture.Cover, black)
			if err != nil {
				t.Fatalf("Scaled(%v): %v", size, err)
			}
			if len(a.Frames) != n || len(a.Delays) != n {
				t.Fatalf("Scaled(%v): %d frames, %d delays; want %d", size, len(a.Frames), len(a.Delays), n)
			}
			for _, fr := range a.Frames {
				if fr.Bounds() != image.Rect(0, 0, size.X, size.Y) {
					t.Fatalf("Scaled(%v): frame of %v", size, fr.Bounds())
				}
			}
		}
	})
}

func FuzzParseDataURL(f *testing.F) {
	for _, data := range seedFiles(f)[:3] {
		b64 := base64.StdEncoding.EncodeToString(data)
		f.Add("data:image/png;base64," + b64)
		f.Add("DATA:Image/GIF;name=x.gif;BASE64," + strings.TrimRight(b64, "="))
		f.Add("data:image/png;base64," + b64[:len(b64)/2])
	}
	for _, s := range []string{
		"", "data:", "data:,", "data:image/png,abc", "data:text/plain;base64,aGVsbG8=",
		"data:image/png;base64,iVBORw0KGgo=", "data:;base64,", "http://example.com/a.png",
		"data:image/png;base64,\n\r====",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		data, err := picture.ParseDataURL(s)
		if err != nil {
			if data != nil {
				t.Errorf("error %v with data", err)
			}
			if !errors.Is(err, picture.ErrNotImage) && !errors.Is(err, picture.ErrTooLarge) {
				t.Errorf("error %v is neither ErrNotImage nor ErrTooLarge", err)
			}
			if len(s) > picture.MaxDataURL && !errors.Is(err, picture.ErrTooLarge) {
				t.Errorf("%d bytes refused with %v, want ErrTooLarge", len(s), err)
			}
			return
		}
		switch {
		case len(s) > picture.MaxDataURL:
			t.Fatalf("took a data URL of %d bytes", len(s))
		case !strings.HasPrefix(strings.ToLower(s), "data:image/"):
			t.Fatalf("took %q", s)
		case len(data) > len(s):
			t.Fatalf("%d bytes from a URL of %d", len(data), len(s))
		case !bytes.HasPrefix(data, []byte("\x89PNG")) && !bytes.HasPrefix(data, []byte("GIF8")) && !bytes.HasPrefix(data, []byte("\xff\xd8")):
			t.Fatalf("took a file starting %q", data[:min(len(data), 8)])
		}
		// The same file in a data URL of the plainest form reads the same.
		again, err := picture.ParseDataURL("data:image/x;base64," + base64.StdEncoding.EncodeToString(data))
		if err != nil && !errors.Is(err, picture.ErrTooLarge) {
			t.Fatalf("re-encoded: %v", err)
		}
		if err == nil && !bytes.Equal(again, data) {
			t.Fatal("re-encoded data URL reads differently")
		}
	})
}

func TestParseDataURL(t *testing.T) {
	pngData := testkit.PNG(t, photo(4, 4))
	b64 := base64.StdEncoding.EncodeToString(pngData)
	for _, s := range []string{
		"data:image/png;base64," + b64,
		"DATA:IMAGE/PNG;BASE64," + b64,
		"data:image/png;charset=binary;base64," + strings.TrimRight(b64, "="),
		"data:image/gif;base64," + b64, // the claimed type does not matter, the file does
		"data:image/png;base64," + b64[:20] + "\r\n" + b64[20:],
	} {
		got, err := picture.ParseDataURL(s)
		if err != nil || !bytes.Equal(got, pngData) {
			t.Errorf("ParseDataURL(%.40q...) = %d bytes, %v", s, len(got), err)
		}
	}
	for _, tt := range []struct {
		s    string
		want error
		says string
	}{
		{"data:image/png;base64," + strings.Repeat("A", picture.MaxDataURL), picture.ErrTooLarge, "more than 65536"},
		{"http://example.com/a.png", picture.ErrNotImage, "not a data: URL"},
		{"data:image/png;base64", picture.ErrNotImage, "without a comma"},
		{"data:text/plain;base64," + b64, picture.ErrNotImage, `type "text/plain"`},
		{"data:;base64," + b64, picture.ErrNotImage, `type ""`},
		{"data:image/png," + b64, picture.ErrNotImage, "not in base64"},
		{"data:image/png;base64,%%%%", picture.ErrNotImage, "bad base64"},
		{"data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte(`<?xml version="1.0"?><svg/>`)), picture.ErrNotImage, "text/xml"},
	} {
		got, err := picture.ParseDataURL(tt.s)
		if !errors.Is(err, tt.want) || got != nil {
			t.Errorf("ParseDataURL(%.40q) = %d bytes, %v; want %v", tt.s, len(got), err, tt.want)
		} else if !strings.Contains(err.Error(), tt.says) {
			t.Errorf("ParseDataURL(%.40q): error %q does not say %q", tt.s, err, tt.says)
		}
	}
}
