package picture_test

import (
	"fmt"
	"testing"

	"github.com/pidicon/pidicon-mqtt/device/picture"
)

// BenchmarkScaled fits a 640x640 photo (decoded once, as a JPEG) to each
// display size.
func BenchmarkScaled(b *testing.B) {
	p, err := picture.Decode(encodeJPEG(b, photo(640, 640)))
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range sizes {
		for _, fit := range []picture.Fit{picture.Contain, picture.Cover} {
			b.Run(fmt.Sprintf("%s-%dx%d", fit, size.X, size.Y), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.Scaled(size.X, size.Y, fit, black); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecodeGIF decodes a typical animation: 64x64, 30 frames.
func BenchmarkDecodeGIF(b *testing.B) {
	data := animatedGIF(b, 64, 64, 30)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := picture.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreScaled is what a display pays per frame change once the
// fitting is kept: a lookup.
func BenchmarkStoreScaled(b *testing.B) {
	s, err := picture.OpenStore(b.TempDir(), "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Put("photo", encodeJPEG(b, photo(640, 640))); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Scaled("photo", 64, 64, picture.Contain, black); err != nil {
			b.Fatal(err)
		}
	}
}
