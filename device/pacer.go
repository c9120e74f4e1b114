package device

import (
	"math"
	"time"
)

// pacer is a display's frame limit (CONTRACT §7): at most n frames in any
// window of n/maxFPS (five in any second at 5 fps; n is at least 2), and
// never two closer than half a frame interval. It counts frames in a
// window rather than spacing each from the one before: a frame that went
// out late (a busy core, a slow answer) does not push back the ones after
// it, which keep to their schedule. (Spaced from the last push, every
// delay added up: 1,000 displays at 5 fps delivered 4.7.) A frame is
// counted from when its last byte was handed to the display (the driver
// tells, device.WithFrameSent; else when it returned): the display gets
// each frame before that, so no second holds more than n of them at the
// display either, while the time the display takes to answer (tens of
// milliseconds for a Pixoo) does not slow the rate.
type pacer struct {
	sent   []time.Time // the last n frames, a ring; zero: none yet
	next   int         // where the next frame goes in sent
	window time.Duration
	minGap time.Duration
}

func newPacer(maxFPS float64) pacer {
	n := max(2, int(math.Ceil(maxFPS)))
	interval := time.Duration(float64(time.Second) / maxFPS)
	return pacer{sent: make([]time.Time, n), window: time.Duration(n) * interval, minGap: interval / 2}
}

// earliest is when the next frame may go.
func (p *pacer) earliest() time.Time {
	last := p.sent[(p.next+len(p.sent)-1)%len(p.sent)]
	t := last.Add(p.minGap)
	if oldest := p.sent[p.next]; !oldest.IsZero() {
		t = later(t, oldest.Add(p.window))
	}
	return t
}

// pushed records a frame whose last byte was handed to the display at t.
func (p *pacer) pushed(t time.Time) {
	p.sent[p.next] = t
	p.next = (p.next + 1) % len(p.sent)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
