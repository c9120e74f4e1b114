// Package picture holds the images users upload to show on the displays:
// decoding PNG, GIF (every frame) and JPEG files under caps that a hostile
// file cannot get around, scaling them to a display's size with a
// resampler fit for pixel art and photos alike, a folder of named images
// written atomically, a read-only folder of the user's own, and the
// fetching of an image from a URL or a data: URL.
//
// # Caps
//
// Store keeps files of at most MaxFetch bytes, and Fetcher reads no more;
// an upload is at most MaxUpload bytes (checked by the reader of the
// message), a data: URL at most MaxDataURL. A file's dimensions are read
// before anything is decoded: one image, or one GIF frame, has at most
// MaxPixels pixels (2048x2048: 16 MiB as RGBA, a 32x margin over the
// largest display); a GIF has at most MaxFrames frames, and neither the sum
// of its frames' pixels nor its frame count times its screen's pixels
// exceeds MaxTotalPixels. The GIF's block structure is walked before
// image/gif decodes it, since the decoder allocates every frame it is
// told of. A file over a cap is refused with ErrTooLarge; one that is not a
// complete PNG, GIF or JPEG with ErrNotImage. Within the caps, decoding
// one file takes at most about 80 MiB, for a progressive CMYK JPEG of
// MaxPixels (image/jpeg keeps 4 bytes of coefficients per pixel and
// component); a 16-bit PNG or a GIF's frames take at most 32 MiB. Store
// decodes one file at a time.
//
// # Animation
//
// A GIF's frames are drawn on a canvas the size of its logical screen,
// starting transparent, with each frame's disposal (none, background: the
// frame's area becomes transparent again, previous: it is restored) applied
// before the next frame; a frame reaching outside the screen is clipped, as
// browsers do. A frame delay of 0 or 1 (hundredths of a second) is taken as
// 100 ms, as browsers do: such files were made for them. The loop count is
// ignored: an animation plays in a loop.
package picture

import (
	"errors"
	"fmt"
)

// The caps on what the package reads. See the package documentation.
const (
	// MaxUpload is the largest image the daemon takes as a message's
	// payload, in bytes. The reader of the message checks it.
	MaxUpload = 1 << 20
	// MaxFetch is the largest image Fetcher reads from a URL by default,
	// and the largest file Store keeps, in bytes.
	MaxFetch = 4 << 20
	// MaxDataURL is the longest data: URL ParseDataURL takes, in bytes.
	MaxDataURL = 64 << 10

	// MaxPixels is the most pixels of one image or one GIF frame.
	MaxPixels = 2048 * 2048
	// MaxFrames is the most frames of a GIF.
	MaxFrames = 500
	// MaxTotalPixels caps a GIF's work: the sum of its frames' pixels,
	// and its frame count times its screen's pixels, are at most this. It
	// also caps the frame count times the pixels of a scaled animation.
	MaxTotalPixels = 32 << 20
)

// The errors this package's errors wrap, for errors.Is.
var (
	// ErrNotImage: the data is not a complete PNG, GIF or JPEG image, or a
	// URL gave something else.
	ErrNotImage = errors.New("not a valid PNG, GIF or JPEG image")
	// ErrTooLarge: the file, its pixels or its frames exceed a cap.
	ErrTooLarge = errors.New("image too large")
	// ErrName: the name does not follow the rule of CheckName.
	ErrName = errors.New("invalid image name")
	// ErrReadOnly: the image is a file of the user's folder, which the
	// daemon does not change.
	ErrReadOnly = errors.New("image is read-only")
	// ErrNotFound: no image has the name.
	ErrNotFound = errors.New("no such image")
	// ErrFetch: a URL could not be fetched (bad URL, no answer, a status
	// other than 200, too slow).
	ErrFetch = errors.New("cannot fetch image")
)

// maxNameLen is the longest name CheckName takes.
const maxNameLen = 64

// CheckName returns an error wrapping ErrName unless name follows the rule
// of device ids, [a-z0-9][a-z0-9_-]{0,63}: it is also the image's file
// name, so it can hold neither a path nor a dot.
func CheckName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w %q: want 1 to %d characters", ErrName, name, maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return fmt.Errorf("%w %q: want lower-case letters, digits, '_' and '-', starting with a letter or digit", ErrName, name)
		}
	}
	return nil
}

// Fit is how an image is fitted to a display of another shape.
type Fit string

// The fits.
const (
	// Contain shows the whole image, as large as fits, centred on the
	// background (letterboxed).
	Contain Fit = "contain"
	// Cover fills the display, cropping the image's centre.
	Cover Fit = "cover"
	// Stretch fills the display, distorting the image.
	Stretch Fit = "stretch"
)

// ParseFit returns the Fit s names; "" is Contain.
func ParseFit(s string) (Fit, error) {
	switch f := Fit(s); f {
	case "":
		return Contain, nil
	case Contain, Cover, Stretch:
		return f, nil
	}
	return "", fmt.Errorf("unknown fit %q: want contain, cover or stretch", s)
}

// Info describes a stored image, for the daemon's info.
type Info struct {
	// Name is the image's name.
	Name string `json:"name"`
	// Width and Height are its size in pixels (a GIF's screen).
	Width  int `json:"width"`
	Height int `json:"height"`
	// Frames is 1 for a still image.
	Frames int `json:"frames"`
	// ReadOnly marks a file of the user's folder.
	ReadOnly bool `json:"readOnly,omitempty"`
}
