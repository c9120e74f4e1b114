package device

import (
	"image"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// Buffers lends the large buffers of drawing and sending frames (the
// frames themselves, request bodies, PNG previews) to every display of a
// daemon, so that a display holds one only while it draws, sends or
// keeps a frame: ten thousand displays showing static pictures hold none,
// and the ones animating share what they use in turn. Share one between
// controllers and drivers; a nil *Buffers allocates each time. It is safe
// for concurrent use.
type Buffers struct {
	lent   atomic.Int64 // frames out (Frame minus PutFrame)
	mu     sync.Mutex
	frames map[scene.Size]*sync.Pool
	bytes  map[int]*sync.Pool // by capacity, a power of two
}

// NewBuffers returns buffers to share between the displays of a daemon.
func NewBuffers() *Buffers {
	return &Buffers{frames: make(map[scene.Size]*sync.Pool), bytes: make(map[int]*sync.Pool)}
}

// Frame returns a frame of size, all zero (transparent black).
func (b *Buffers) Frame(size scene.Size) *image.RGBA {
	if b != nil {
		b.lent.Add(1)
		if img, ok := b.framePool(size).Get().(*image.RGBA); ok {
			clear(img.Pix)
			return img
		}
	}
	return image.NewRGBA(image.Rect(0, 0, size.W, size.H))
}

// PutFrame gives img back; the caller must not use it again.
func (b *Buffers) PutFrame(img *image.RGBA) {
	if b == nil || img == nil {
		return
	}
	r := img.Bounds()
	if r.Min != (image.Point{}) || img.Stride != 4*r.Dx() {
		return // not one of Frame's
	}
	b.lent.Add(-1)
	b.framePool(scene.Size{W: r.Dx(), H: r.Dy()}).Put(img)
}

// FramesLent is the number of frames Frame lent that were not given
// back: what the displays hold.
func (b *Buffers) FramesLent() int { return int(b.lent.Load()) }

func (b *Buffers) framePool(size scene.Size) *sync.Pool {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.frames[size]
	if !ok {
		p = new(sync.Pool)
		b.frames[size] = p
	}
	return p
}

// Bytes returns an empty byte slice with room for at least n bytes (the
// next power of two).
func (b *Buffers) Bytes(n int) *[]byte {
	c := 1 << bits.Len(uint(max(n, 1)-1))
	if b != nil {
		if p, ok := b.bytesPool(c).Get().(*[]byte); ok {
			*p = (*p)[:0]
			return p
		}
	}
	s := make([]byte, 0, c)
	return &s
}

// PutBytes gives p back; the caller must not use it again. A slice that
// grew past its power of two goes to the pool of the power below.
func (b *Buffers) PutBytes(p *[]byte) {
	if b == nil || p == nil || cap(*p) == 0 {
		return
	}
	c := 1 << (bits.Len(uint(cap(*p))) - 1)
	*p = (*p)[:0:c]
	b.bytesPool(c).Put(p)
}

func (b *Buffers) bytesPool(c int) *sync.Pool {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.bytes[c]
	if !ok {
		p = new(sync.Pool)
		b.bytes[c] = p
	}
	return p
}
