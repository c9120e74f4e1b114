package scene

import (
	"image"
	"image/color"
)

// Drawing primitives for the built-in scenes and scene files. They write
// dst.Pix directly and clip to dst's bounds, so no caller can draw out of
// range.

// FillRect paints r, clipped to dst's bounds, in colour c.
func FillRect(dst *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(dst.Bounds())
	if r.Empty() {
		return
	}
	w := r.Dx() * 4
	first := dst.PixOffset(r.Min.X, r.Min.Y)
	row := dst.Pix[first : first+w : first+w]
	row[0], row[1], row[2], row[3] = c.R, c.G, c.B, c.A
	for filled := 4; filled < w; filled *= 2 {
		copy(row[filled:], row[:filled])
	}
	for y := r.Min.Y + 1; y < r.Max.Y; y++ {
		i := dst.PixOffset(r.Min.X, y)
		copy(dst.Pix[i:i+w], row)
	}
}

// fillAll paints all of dst in colour c.
func fillAll(dst *image.RGBA, c color.RGBA) {
	FillRect(dst, dst.Bounds(), c)
}

// SetPixel paints the pixel at (x, y) if it lies within dst.
func SetPixel(dst *image.RGBA, x, y int, c color.RGBA) {
	if !(image.Point{X: x, Y: y}).In(dst.Bounds()) {
		return
	}
	i := dst.PixOffset(x, y)
	p := dst.Pix[i : i+4 : i+4]
	p[0], p[1], p[2], p[3] = c.R, c.G, c.B, c.A
}

// hueSteps is the number of hues on the colour wheel used by hue.
const hueSteps = 6 * 256

// hue returns the fully saturated colour at position h on a wheel of
// hueSteps hues (red at 0, green at 512, blue at 1024), scaled to
// brightness v out of 255. It uses integers only, so frames are the same on
// every platform and the golden images hold.
func hue(h, v int) color.RGBA {
	h = mod(h, hueSteps)
	up := h % 256 // rising edge of the current sextant
	down := 255 - up
	var r, g, b int
	switch h / 256 {
	case 0:
		r, g, b = 255, up, 0
	case 1:
		r, g, b = down, 255, 0
	case 2:
		r, g, b = 0, 255, up
	case 3:
		r, g, b = 0, down, 255
	case 4:
		r, g, b = up, 0, 255
	default:
		r, g, b = 255, 0, down
	}
	return color.RGBA{R: uint8(r * v / 255), G: uint8(g * v / 255), B: uint8(b * v / 255), A: 255}
}

// wave returns an integer approximation of a sine over one period of 256
// steps, from -128 to 128: each half period is a parabola. Integers keep
// rendering identical on every platform.
func wave(phase int) int {
	p := mod(phase, 256)
	half := p % 128
	v := half * (128 - half) / 32 // 0..128, peak at half = 64
	if p >= 128 {
		return -v
	}
	return v
}

// mod returns a modulo m in [0, m), also for negative a.
func mod(a, m int) int {
	a %= m
	if a < 0 {
		a += m
	}
	return a
}

// opaque returns c with full alpha: displays have no transparency.
func opaque(c color.RGBA) color.RGBA {
	c.A = 255
	return c
}
