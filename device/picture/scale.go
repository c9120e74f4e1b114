package picture

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"iter"
	"slices"
	"time"

	"golang.org/x/image/draw"
)

// Animation is a picture fitted to a display: frames of the display's size
// and how long each is shown. Store hands one Animation to every caller
// that asks for the same fitting: it must not be changed.
type Animation struct {
	// Frames are the display-sized frames, at (0, 0).
	Frames []*image.RGBA
	// Delays holds how long each frame is shown, one per frame. A still
	// image has one frame and a zero delay.
	Delays []time.Duration
}

// size is the memory the frames take, in bytes.
func (a *Animation) size() int64 {
	var n int64
	for _, f := range a.Frames {
		n += int64(len(f.Pix))
	}
	return n
}

// Scaled returns the picture fitted into w x h over background: Contain
// letterboxes it, Cover crops its centre, Stretch fills w x h. A picture
// scaled by a whole factor, up, or down when it is made of blocks of that
// factor (pixel art drawn large), is scaled by nearest neighbour, which
// keeps its pixels sharp; any other by Catmull-Rom, which smooths a photo
// without aliasing. A GIF's frames are drawn with their disposal, and a
// transparent pixel shows the background. The zero Fit is Contain. An animation of more than
// MaxTotalPixels (frames times w times h) is refused with ErrTooLarge.
func (p *Picture) Scaled(w, h int, fit Fit, background color.RGBA) (*Animation, error) {
	if w < 1 || h < 1 {
		return nil, fmt.Errorf("scale to %dx%d: want at least 1x1", w, h)
	}
	fit, err := ParseFit(string(fit))
	if err != nil {
		return nil, fmt.Errorf("scale: %w", err)
	}
	if int64(p.Frames())*int64(w)*int64(h) > MaxTotalPixels {
		return nil, fmt.Errorf("%w: %d frames of %dx%d are more than %d pixels", ErrTooLarge, p.Frames(), w, h, MaxTotalPixels)
	}
	if p.Width < 1 || p.Height < 1 {
		return nil, errors.New("scale: picture has no pixels")
	}
	sr, dr := layout(p.Width, p.Height, w, h, fit)
	scaler := p.scaler(sr, dr)
	a := &Animation{Delays: slices.Clone(p.Delays)}
	for src := range p.canvases() {
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		fill(dst, background)
		scaler.Scale(dst, dr, src, sr.Add(src.Bounds().Min), draw.Over, nil)
		a.Frames = append(a.Frames, dst)
	}
	return a, nil
}

// layout places the part sr of a sw x sh picture on the part dr of a
// w x h display.
func layout(sw, sh, w, h int, fit Fit) (sr, dr image.Rectangle) {
	sr, dr = image.Rect(0, 0, sw, sh), image.Rect(0, 0, w, h)
	// Compare the shapes as sw/sh against w/h, in int64: the products
	// overflow a 32-bit int.
	wider := int64(sw)*int64(h) > int64(sh)*int64(w)
	switch fit {
	case Contain:
		dw, dh := w, h
		if wider {
			dh = scaleRound(sh, w, sw, h)
		} else {
			dw = scaleRound(sw, h, sh, w)
		}
		dr = image.Rect(0, 0, dw, dh).Add(image.Pt((w-dw)/2, (h-dh)/2))
	case Cover:
		cw, ch := sw, sh
		if wider {
			cw = scaleRound(w, sh, h, sw)
		} else {
			ch = scaleRound(h, sw, w, sh)
		}
		sr = image.Rect(0, 0, cw, ch).Add(image.Pt((sw-cw)/2, (sh-ch)/2))
	}
	return sr, dr
}

// scaleRound returns a*b/c rounded, kept within 1..limit.
func scaleRound(a, b, c, limit int) int {
	v := (2*int64(a)*int64(b) + int64(c)) / (2 * int64(c))
	return int(min(max(v, 1), int64(limit)))
}

// scaler chooses nearest neighbour when it loses nothing: each side is
// scaled by a whole factor, and where the factor shrinks the picture, every
// frame is made of uniform blocks of that factor. Otherwise Catmull-Rom.
func (p *Picture) scaler(sr, dr image.Rectangle) draw.Scaler {
	kx, xok := shrink(sr.Dx(), dr.Dx())
	ky, yok := shrink(sr.Dy(), dr.Dy())
	smooth := func() draw.Scaler { return draw.CatmullRom.NewScaler(dr.Dx(), dr.Dy(), sr.Dx(), sr.Dy()) }
	if !xok || !yok {
		return smooth()
	}
	if kx > 1 || ky > 1 {
		for src := range p.canvases() {
			if !blocky(src, sr.Add(src.Bounds().Min), kx, ky) {
				return smooth()
			}
		}
	}
	return draw.NearestNeighbor
}

// shrink compares a side of s pixels scaled to d: ok if one is a whole
// multiple of the other, and k the factor it shrinks by (1 if it grows).
func shrink(s, d int) (k int, ok bool) {
	switch {
	case d%s == 0:
		return 1, true
	case s%d == 0:
		return s / d, true
	}
	return 0, false
}

// canvases yields the picture's frames as they are shown: the still image,
// or each GIF frame drawn on the screen left by the ones before. A GIF's
// canvas is reused: it is valid until the next one is asked for.
func (p *Picture) canvases() iter.Seq[image.Image] {
	return func(yield func(image.Image) bool) {
		if p.anim == nil {
			yield(p.still)
			return
		}
		canvas := image.NewRGBA(image.Rect(0, 0, p.Width, p.Height))
		var saved []byte
		for i, frame := range p.anim.Image {
			r := frame.Rect.Intersect(canvas.Rect)
			disposal := p.anim.Disposal[i]
			if disposal == gif.DisposalPrevious {
				saved = copyOut(saved[:0], canvas, r)
			}
			drawFrame(canvas, frame, r)
			if !yield(canvas) {
				return
			}
			switch disposal {
			case gif.DisposalBackground:
				clearRect(canvas, r)
			case gif.DisposalPrevious:
				copyIn(canvas, r, saved)
			}
		}
	}
}

// drawFrame draws the part r of a GIF frame over the canvas: a pixel of
// the frame's transparent index leaves the canvas as it was.
func drawFrame(canvas *image.RGBA, frame *image.Paletted, r image.Rectangle) {
	var colors [256]color.RGBA
	for i, c := range frame.Palette {
		if i == len(colors) {
			break
		}
		colors[i] = color.RGBAModel.Convert(c).(color.RGBA)
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		src := frame.Pix[frame.PixOffset(r.Min.X, y):][:r.Dx()]
		dst := canvas.Pix[canvas.PixOffset(r.Min.X, y):][:4*r.Dx()]
		for x, idx := range src {
			c := colors[idx]
			if c.A == 0 {
				continue
			}
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = c.R, c.G, c.B, c.A
		}
	}
}

// clearRect makes the part r of the canvas transparent.
func clearRect(canvas *image.RGBA, r image.Rectangle) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		clear(canvas.Pix[canvas.PixOffset(r.Min.X, y):][:4*r.Dx()])
	}
}

// copyOut appends the pixels of the part r of the canvas to buf.
func copyOut(buf []byte, canvas *image.RGBA, r image.Rectangle) []byte {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		buf = append(buf, canvas.Pix[canvas.PixOffset(r.Min.X, y):][:4*r.Dx()]...)
	}
	return buf
}

// copyIn puts back the pixels copyOut took.
func copyIn(canvas *image.RGBA, r image.Rectangle, buf []byte) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		buf = buf[copy(canvas.Pix[canvas.PixOffset(r.Min.X, y):][:4*r.Dx()], buf):]
	}
}

// fill paints the whole image with c.
func fill(img *image.RGBA, c color.RGBA) {
	if len(img.Pix) == 0 {
		return
	}
	img.Pix[0], img.Pix[1], img.Pix[2], img.Pix[3] = c.R, c.G, c.B, c.A
	for done := 4; done < len(img.Pix); done *= 2 {
		copy(img.Pix[done:], img.Pix[:done])
	}
}

// blocky reports whether img's pixels in r come in uniform kx x ky blocks
// counted from r.Min, r's sides being multiples of kx and ky.
func blocky(img image.Image, r image.Rectangle, kx, ky int) bool {
	same := samePixel(img)
	for by := r.Min.Y; by < r.Max.Y; by += ky {
		for bx := r.Min.X; bx < r.Max.X; bx += kx {
			for y := by; y < by+ky; y++ {
				for x := bx; x < bx+kx; x++ {
					if !same(bx, by, x, y) {
						return false
					}
				}
			}
		}
	}
	return true
}

// samePixel returns a function reporting whether two pixels of img are the
// same, by their bytes for the usual image types.
func samePixel(img image.Image) func(x0, y0, x1, y1 int) bool {
	var pix []byte
	var stride, size int
	var min image.Point
	switch m := img.(type) {
	case *image.RGBA:
		pix, stride, size, min = m.Pix, m.Stride, 4, m.Rect.Min
	case *image.NRGBA:
		pix, stride, size, min = m.Pix, m.Stride, 4, m.Rect.Min
	case *image.RGBA64:
		pix, stride, size, min = m.Pix, m.Stride, 8, m.Rect.Min
	case *image.NRGBA64:
		pix, stride, size, min = m.Pix, m.Stride, 8, m.Rect.Min
	case *image.Gray:
		pix, stride, size, min = m.Pix, m.Stride, 1, m.Rect.Min
	case *image.Gray16:
		pix, stride, size, min = m.Pix, m.Stride, 2, m.Rect.Min
	case *image.Paletted:
		pix, stride, size, min = m.Pix, m.Stride, 1, m.Rect.Min
	default:
		return func(x0, y0, x1, y1 int) bool {
			r0, g0, b0, a0 := img.At(x0, y0).RGBA()
			r1, g1, b1, a1 := img.At(x1, y1).RGBA()
			return r0 == r1 && g0 == g1 && b0 == b1 && a0 == a1
		}
	}
	return func(x0, y0, x1, y1 int) bool {
		i := (y0-min.Y)*stride + (x0-min.X)*size
		j := (y1-min.Y)*stride + (x1-min.X)*size
		return string(pix[i:i+size]) == string(pix[j:j+size])
	}
}
