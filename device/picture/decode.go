package picture

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strings"
	"time"
)

// format is a file format Decode reads.
type format string

const (
	formatPNG  format = "png"
	formatGIF  format = "gif"
	formatJPEG format = "jpeg"
)

// ext is the file name extension Store gives a file of the format.
func (f format) ext() string {
	if f == formatJPEG {
		return ".jpg"
	}
	return "." + string(f)
}

// sniff tells the format from the first bytes, whatever a file's name or a
// client's content type claims.
func sniff(data []byte) (format, bool) {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return formatPNG, true
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return formatGIF, true
	case bytes.HasPrefix(data, []byte("\xff\xd8")):
		return formatJPEG, true
	}
	return "", false
}

// notImage is the error for data of no format Decode reads, saying what it
// looks like instead.
func notImage(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: no data", ErrNotImage)
	}
	kind, _, _ := strings.Cut(http.DetectContentType(data), ";")
	if kind == "application/octet-stream" {
		return ErrNotImage
	}
	return fmt.Errorf("%w: looks like %s", ErrNotImage, kind)
}

// Picture is a decoded image: a still image, or a GIF's frames.
type Picture struct {
	// Width and Height are the size of the image, or of the GIF's
	// logical screen, which every frame is drawn on.
	Width, Height int
	// Delays holds how long each frame is shown, one per frame. A still
	// image has one frame and a zero delay.
	Delays []time.Duration

	format format
	still  image.Image // a PNG or JPEG
	anim   *gif.GIF    // a GIF
}

// Frames returns the number of frames, 1 for a still image.
func (p *Picture) Frames() int { return len(p.Delays) }

// Decode reads a PNG, GIF (every frame) or JPEG image, whichever data is
// (whatever a name or content type claims). Anything else, or a file that
// is cut short or broken, gives an error wrapping ErrNotImage; one over the
// caps (see the package documentation) an error wrapping ErrTooLarge,
// found before the pixels are decoded. An animated PNG gives its still
// image; a JPEG's EXIF orientation is not applied.
func Decode(data []byte) (*Picture, error) {
	f, ok := sniff(data)
	if !ok {
		return nil, notImage(data)
	}
	if f == formatGIF {
		return decodeGIF(data)
	}
	decodeConfig, decode := png.DecodeConfig, png.Decode
	if f == formatJPEG {
		decodeConfig, decode = jpeg.DecodeConfig, jpeg.Decode
	}
	cfg, err := decodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, broken(f, err)
	}
	if err := checkPixels("image", cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, broken(f, err)
	}
	b := img.Bounds()
	return &Picture{Width: b.Dx(), Height: b.Dy(), Delays: []time.Duration{0}, format: f, still: img}, nil
}

// broken is the error for a file of format f its decoder refused, named
// by the format unless the decoder's message starts with it.
func broken(f format, err error) error {
	if strings.HasPrefix(err.Error(), string(f)+":") {
		return fmt.Errorf("%w: %w", ErrNotImage, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrNotImage, f, err)
}

// checkPixels refuses an image (or GIF screen or frame: what) without
// pixels or with more than MaxPixels.
func checkPixels(what string, w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: %s is %dx%d, without pixels", ErrNotImage, what, w, h)
	}
	if int64(w)*int64(h) > MaxPixels {
		return fmt.Errorf("%w: %s is %dx%d, more than %d pixels (2048x2048)", ErrTooLarge, what, w, h, MaxPixels)
	}
	return nil
}

// decodeGIF decodes a GIF whose layout scanGIF found within the caps.
func decodeGIF(data []byte) (*Picture, error) {
	l, err := scanGIF(data)
	if err != nil {
		return nil, err
	}
	// image/gif refuses a frame outside the screen and a file without its
	// trailer; browsers clip the one and ignore the other. Decode a copy
	// whose screen holds every frame and which ends with a trailer; the
	// frames are drawn on the real screen later.
	if l.extent.X > l.width || l.extent.Y > l.height || !l.trailer {
		fixed := make([]byte, len(data), len(data)+1)
		copy(fixed, data)
		putLE16(fixed[6:], max(l.width, l.extent.X))
		putLE16(fixed[8:], max(l.height, l.extent.Y))
		if !l.trailer {
			fixed = append(fixed, gifTrailer)
		}
		data = fixed
	}
	g, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		return nil, broken(formatGIF, err)
	}
	if len(g.Image) != l.frames || len(g.Delay) != l.frames || len(g.Disposal) != l.frames {
		// Cannot happen while scanGIF walks the file as image/gif does.
		return nil, fmt.Errorf("%w: gif: %d frames decoded, %d found", ErrNotImage, len(g.Image), l.frames)
	}
	p := &Picture{Width: l.width, Height: l.height, format: formatGIF, anim: g}
	p.Delays = make([]time.Duration, len(g.Delay))
	if len(g.Delay) > 1 {
		for i, d := range g.Delay {
			p.Delays[i] = frameDelay(d)
		}
	}
	return p, nil
}

// frameDelay turns a GIF frame delay in hundredths of a second into a
// duration. 0 and 1 are 100 ms, as in browsers: files made for them count
// on it, and shown as written they would flicker at the display's limit.
func frameDelay(hundredths int) time.Duration {
	if hundredths <= 1 {
		return 100 * time.Millisecond
	}
	return time.Duration(hundredths) * 10 * time.Millisecond
}

func putLE16(b []byte, v int) { b[0], b[1] = byte(v), byte(v>>8) }

// readAll is io.ReadAll for a reader known to hold at most limit bytes
// before EOF; more is an error wrapping ErrTooLarge.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return data, nil
}
