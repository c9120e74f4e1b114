package picture

import (
	"fmt"
	"image"
)

// GIF block introducers and extension labels.
const (
	gifExtension  = 0x21
	gifDescriptor = 0x2c
	gifTrailer    = 0x3b

	gifPlainText      = 0x01
	gifGraphicControl = 0xf9
	gifComment        = 0xfe
	gifApplication    = 0xff

	gifColorTable     = 0x80 // flag of a screen or frame descriptor
	gifColorTableBits = 0x07
)

// gifLayout is what scanGIF finds in a GIF without decoding it.
type gifLayout struct {
	width, height int         // the logical screen
	frames        int         // the image descriptors
	extent        image.Point // the right and bottom edge of the farthest frame
	trailer       bool        // the file ends with a trailer, not just after a block
}

// scanGIF walks a GIF's blocks as image/gif does, without decoding a
// pixel, and refuses a file over the caps before image/gif.DecodeAll
// allocates a frame for each image descriptor it reads, however many and
// however large. Where the walk goes as image/gif's does, it counts every
// frame the decoder would allocate; where it fails, so would the decoder.
func scanGIF(data []byte) (gifLayout, error) {
	var l gifLayout
	s := gifScanner{data: data}
	hdr := s.take(13) // signature, version, logical screen descriptor
	if hdr == nil {
		return l, s.truncated("header")
	}
	l.width, l.height = le16(hdr[6:]), le16(hdr[8:])
	if err := checkPixels("gif screen", l.width, l.height); err != nil {
		return l, err
	}
	if hdr[10]&gifColorTable != 0 && s.take(colorTableSize(hdr[10])) == nil {
		return l, s.truncated("global color table")
	}
	var sum int64 // the frames' pixels
	for {
		if s.off == len(data) && l.frames > 0 {
			return l, nil // the trailer is missing: tolerated
		}
		c := s.take(1)
		if c == nil {
			return l, s.truncated("next block")
		}
		switch c[0] {
		case gifTrailer:
			if l.frames == 0 {
				return l, fmt.Errorf("%w: gif has no frames", ErrNotImage)
			}
			l.trailer = true
			return l, nil

		case gifExtension:
			if err := s.extension(); err != nil {
				return l, err
			}

		case gifDescriptor:
			d := s.take(9)
			if d == nil {
				return l, s.truncated("image descriptor")
			}
			l.frames++
			left, top, w, h := le16(d[0:]), le16(d[2:]), le16(d[4:]), le16(d[6:])
			what := fmt.Sprintf("gif frame %d", l.frames)
			switch {
			case l.frames > MaxFrames:
				return l, fmt.Errorf("%w: gif has more than %d frames", ErrTooLarge, MaxFrames)
			case int64(w)*int64(h) > MaxPixels:
				return l, checkPixels(what, w, h)
			case left+w > 0xffff || top+h > 0xffff:
				return l, fmt.Errorf("%w: %s reaches beyond 65535 pixels", ErrNotImage, what)
			}
			if int64(l.frames)*int64(l.width)*int64(l.height) > MaxTotalPixels {
				return l, fmt.Errorf("%w: gif has more than %d frames of %dx%d (%d pixels in all)",
					ErrTooLarge, MaxTotalPixels/(l.width*l.height), l.width, l.height, MaxTotalPixels)
			}
			sum += int64(w) * int64(h)
			if sum > MaxTotalPixels {
				return l, fmt.Errorf("%w: gif frames hold more than %d pixels", ErrTooLarge, MaxTotalPixels)
			}
			l.extent.X, l.extent.Y = max(l.extent.X, left+w), max(l.extent.Y, top+h)
			if d[8]&gifColorTable != 0 && s.take(colorTableSize(d[8])) == nil {
				return l, s.truncated(what + " color table")
			}
			if s.take(1) == nil { // LZW minimum code size
				return l, s.truncated(what)
			}
			if err := s.subBlocks(what); err != nil {
				return l, err
			}

		default:
			return l, fmt.Errorf("%w: gif: unknown block type 0x%02x at byte %d", ErrNotImage, c[0], s.off-1)
		}
	}
}

// gifScanner reads a GIF's bytes in order.
type gifScanner struct {
	data []byte
	off  int
}

// take returns the next n bytes, or nil if fewer are left.
func (s *gifScanner) take(n int) []byte {
	if n > len(s.data)-s.off {
		s.off = len(s.data)
		return nil
	}
	b := s.data[s.off : s.off+n]
	s.off += n
	return b
}

func (s *gifScanner) truncated(what string) error {
	return fmt.Errorf("%w: gif is cut short in the %s", ErrNotImage, what)
}

// extension skips an extension block, the way image/gif reads each kind.
func (s *gifScanner) extension() error {
	label := s.take(1)
	if label == nil {
		return s.truncated("extension")
	}
	switch label[0] {
	case gifPlainText:
		if s.take(13) == nil { // image/gif reads 13 bytes, whatever the size byte says
			return s.truncated("text extension")
		}
	case gifGraphicControl:
		// image/gif reads six bytes, its own terminator included, and
		// checks them; no sub-blocks follow.
		if s.take(6) == nil {
			return s.truncated("graphic control extension")
		}
		return nil
	case gifComment:
	case gifApplication:
		n := s.take(1)
		if n == nil || s.take(int(n[0])) == nil {
			return s.truncated("application extension")
		}
	default:
		return fmt.Errorf("%w: gif: unknown extension 0x%02x", ErrNotImage, label[0])
	}
	return s.subBlocks("extension")
}

// subBlocks skips data sub-blocks up to and including the empty one that
// ends them.
func (s *gifScanner) subBlocks(what string) error {
	for {
		n := s.take(1)
		if n == nil {
			return s.truncated(what)
		}
		if n[0] == 0 {
			return nil
		}
		if s.take(int(n[0])) == nil {
			return s.truncated(what)
		}
	}
}

// colorTableSize is the size in bytes of the color table a descriptor's
// flags announce.
func colorTableSize(flags byte) int { return 3 << (1 + flags&gifColorTableBits) }

func le16(b []byte) int { return int(b[0]) | int(b[1])<<8 }
