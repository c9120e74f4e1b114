package picture_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"runtime"
	"testing"
)

// photo draws a photo-like w x h image: smooth gradients, a disc with a
// soft edge and a few thin lines, so that every resampler shows.
func photo(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	cx, cy, r := float64(w)*0.6, float64(h)*0.45, float64(min(w, h))*0.3
	for y := range h {
		for x := range w {
			c := color.RGBA{
				R: uint8(255 * x / max(w-1, 1)),
				G: uint8(255 * y / max(h-1, 1)),
				B: uint8(128 + 127*((x+y)%64)/63),
				A: 255,
			}
			dx, dy := float64(x)-cx, float64(y)-cy
			if d := dx*dx + dy*dy; d < r*r {
				k := min(1, (r*r-d)/(r*r)*4) // soft edge
				c.R = uint8(float64(c.R)*(1-k) + 250*k)
				c.G = uint8(float64(c.G)*(1-k) + 220*k)
				c.B = uint8(float64(c.B) * (1 - k))
			}
			if x%max(w/10, 2) == 0 || (x+2*y)%max(w/5, 3) == 0 {
				c = color.RGBA{R: 20, G: 20, B: 40, A: 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// pixelArt draws a 16x16 image of hard-edged pixels of many colours.
func pixelArt() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := range 16 {
		for x := range 16 {
			c := palette.Plan9[(x*37+y*101+x*y)%256].(color.RGBA)
			if (x-8)*(x-8)+(y-8)*(y-8) < 20 {
				c = color.RGBA{R: 255, G: 200, A: 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeGIF(t testing.TB, g *gif.GIF) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The colours of disposalGIF's palette.
var (
	transparent = color.RGBA{}
	red         = color.RGBA{R: 255, A: 255}
	green       = color.RGBA{G: 255, A: 255}
	blue        = color.RGBA{B: 255, A: 255}
	white       = color.RGBA{R: 255, G: 255, B: 255, A: 255}
	black       = color.RGBA{A: 255}
)

// gifPalette is the palette of the GIFs frameOf draws.
var gifPalette = color.Palette{transparent, red, green, blue, white}

// frameOf is a GIF frame covering r in one colour of gifPalette.
func frameOf(r image.Rectangle, c color.RGBA) *image.Paletted {
	m := image.NewPaletted(r, gifPalette)
	idx := uint8(gifPalette.Index(c))
	for i := range m.Pix {
		m.Pix[i] = idx
	}
	return m
}

// gifOf encodes a w x h GIF of frames, each kept (no disposal) and shown
// for 100 ms.
func gifOf(t testing.TB, w, h int, frames ...*image.Paletted) []byte {
	g := &gif.GIF{Image: frames, Config: image.Config{ColorModel: gifPalette, Width: w, Height: h}}
	for range frames {
		g.Delay = append(g.Delay, 10)
		g.Disposal = append(g.Disposal, gif.DisposalNone)
	}
	return encodeGIF(t, g)
}

// disposalGIF is an 8x8 GIF of four frames using each disposal:
//
//	0: all red, kept (delay 10: 100 ms)
//	1: green square (2,2)-(6,6), then cleared to transparent (delay 5)
//	2: blue square (0,0)-(4,4) with a transparent (0,0), then the screen
//	   before it restored (delay 1: taken as 100 ms)
//	3: white square (6,6)-(8,8), kept (delay 0: taken as 100 ms)
func disposalGIF(t testing.TB) []byte {
	f2 := frameOf(image.Rect(0, 0, 4, 4), blue)
	f2.SetColorIndex(0, 0, 0)
	return encodeGIF(t, &gif.GIF{
		Image: []*image.Paletted{
			frameOf(image.Rect(0, 0, 8, 8), red),
			frameOf(image.Rect(2, 2, 6, 6), green),
			f2,
			frameOf(image.Rect(6, 6, 8, 8), white),
		},
		Delay:    []int{10, 5, 1, 0},
		Disposal: []byte{gif.DisposalNone, gif.DisposalBackground, gif.DisposalPrevious, gif.DisposalNone},
		Config:   image.Config{ColorModel: gifPalette, Width: 8, Height: 8},
	})
}

// animatedGIF is a w x h GIF of n frames, a bar moving over a gradient.
func animatedGIF(t testing.TB, w, h, n int) []byte {
	g := &gif.GIF{Config: image.Config{ColorModel: color.Palette(palette.Plan9), Width: w, Height: h}}
	for i := range n {
		m := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
		for y := range h {
			for x := range w {
				m.SetColorIndex(x, y, uint8((x+y+i)%200))
				if (x+i*3)%w < w/8 {
					m.SetColorIndex(x, y, 255)
				}
			}
		}
		g.Image = append(g.Image, m)
		g.Delay = append(g.Delay, 8)
		g.Disposal = append(g.Disposal, gif.DisposalNone)
	}
	return encodeGIF(t, g)
}

// rawGIF writes a GIF by hand: a screen of w x h with a two-colour table,
// and one image descriptor per frame, each followed by a token amount of
// image data. It can claim what an encoder would never write.
func rawGIF(w, h int, frames []image.Rectangle, trailer bool) []byte {
	var b bytes.Buffer
	b.WriteString("GIF89a")
	binary.Write(&b, binary.LittleEndian, [2]uint16{uint16(w), uint16(h)})
	b.Write([]byte{0x80, 0, 0})             // global colour table of 2, background 0, aspect
	b.Write([]byte{0, 0, 0, 255, 255, 255}) // black, white
	for _, r := range frames {
		b.WriteByte(0x2c)
		binary.Write(&b, binary.LittleEndian, [4]uint16{
			uint16(r.Min.X), uint16(r.Min.Y), uint16(r.Dx()), uint16(r.Dy()),
		})
		b.WriteByte(0)                       // no local colour table
		b.Write([]byte{2, 2, 0x4c, 0x01, 0}) // LZW size 2, one sub-block, terminator
	}
	if trailer {
		b.WriteByte(0x3b)
	}
	return b.Bytes()
}

// rawPNG writes a PNG whose header claims w x h RGBA pixels, followed by
// a small IDAT and IEND, with valid checksums.
func rawPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(kind string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(kind))
		crc.Write(data)
		b.WriteString(kind)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA, deflate, no filter, not interlaced
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

// allocated returns how many bytes f allocates (on the whole heap: the
// test must not run in parallel with others).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
