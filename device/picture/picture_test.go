package picture_test

import (
	"errors"
	"image"
	"image/color"
	"image/gif"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

func TestCheckName(t *testing.T) {
	for _, name := range []string{"a", "0", "cat", "my-cat_2", "9lives", strings.Repeat("a", 64)} {
		if err := picture.CheckName(name); err != nil {
			t.Errorf("CheckName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{
		"", strings.Repeat("a", 65), "-cat", "_cat", "Cat", "cat.png", "../cat", "a/b", "a b", "café", "a\x00",
	} {
		if err := picture.CheckName(name); !errors.Is(err, picture.ErrName) {
			t.Errorf("CheckName(%q) = %v, want ErrName", name, err)
		}
	}
}

func TestParseFit(t *testing.T) {
	for s, want := range map[string]picture.Fit{
		"": picture.Contain, "contain": picture.Contain, "cover": picture.Cover, "stretch": picture.Stretch,
	} {
		if got, err := picture.ParseFit(s); err != nil || got != want {
			t.Errorf("ParseFit(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
	for _, s := range []string{"Contain", "fill", " cover"} {
		if _, err := picture.ParseFit(s); err == nil {
			t.Errorf("ParseFit(%q) succeeded", s)
		}
	}
}

func TestDecode_formats(t *testing.T) {
	img := photo(40, 30)
	tests := []struct {
		name   string
		data   []byte
		frames int
	}{
		{"png", testkit.PNG(t, img), 1},
		{"jpeg", encodeJPEG(t, img), 1},
		{"gif still", encodeGIF(t, &gif.GIF{
			Image: []*image.Paletted{image.NewPaletted(image.Rect(0, 0, 40, 30), color.Palette{red, blue})},
			Delay: []int{50},
		}), 1},
		{"gif", animatedGIF(t, 40, 30, 3), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := picture.Decode(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if p.Width != 40 || p.Height != 30 || p.Frames() != tt.frames || len(p.Delays) != tt.frames {
				t.Fatalf("decoded %dx%d, %d frames, delays %v", p.Width, p.Height, p.Frames(), p.Delays)
			}
			if tt.frames == 1 && p.Delays[0] != 0 {
				t.Errorf("still image with delay %v", p.Delays[0])
			}
		})
	}
}

func TestDecode_delays(t *testing.T) {
	p, err := picture.Decode(disposalGIF(t))
	if err != nil {
		t.Fatal(err)
	}
	// 0 and 1 hundredths are 100 ms, as in browsers.
	want := []time.Duration{100 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}
	if !slices.Equal(p.Delays, want) {
		t.Errorf("delays %v, want %v", p.Delays, want)
	}
}

func TestDecode_notImage(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		says string // in the message
	}{
		{"empty", nil, "no data"},
		{"text", []byte("hello, this is not a picture"), "text/plain"},
		{"html", []byte("<!DOCTYPE html><html><body>404</body></html>"), "text/html"},
		{"webp", []byte("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"), "image/webp"},
		{"binary", []byte{0, 1, 2, 3, 4, 5}, "not a valid PNG, GIF or JPEG"},
		{"png signature only", []byte("\x89PNG\r\n\x1a\n"), "png"},
		{"broken png", append(testkit.PNG(t, photo(8, 8))[:60], make([]byte, 40)...), "png"},
		{"jpeg start only", []byte("\xff\xd8\xff\xe0"), "jpeg"},
		{"gif without frames", rawGIF(4, 4, nil, true), "no frames"},
		{"gif unknown block", append(rawGIF(4, 4, []image.Rectangle{image.Rect(0, 0, 1, 1)}, false), 0x99), "unknown block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := picture.Decode(tt.data)
			if !errors.Is(err, picture.ErrNotImage) || p != nil {
				t.Fatalf("Decode = %v, %v; want ErrNotImage", p, err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
		})
	}
}
