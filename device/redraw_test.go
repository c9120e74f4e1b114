package device_test

import (
	"context"
	"image"
	"image/color"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/state"
)

// TestController_Redraw: a static scene whose data changed is drawn again
// on Redraw, through the pacing point (at most 5 frames a second however
// many Redraws); a paused scene is not.
func TestController_Redraw(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, log := bubbleDevice(t)
		var red atomic.Uint32
		probe := scene.Scene{Name: "probe", Render: func(dst *image.RGBA, _ scene.Frame) {
			c := color.RGBA{R: uint8(red.Load()), A: 255}
			for i := 0; i < len(dst.Pix); i += 4 {
				dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = c.R, c.G, c.B, c.A
			}
		}}
		c := device.NewController(device.Options{ID: "demo", Driver: log, Scenes: scene.NewRegistry(probe), ProbeEvery: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.Run(ctx, &recorder{}); close(done) }()
		defer func() { cancel(); <-done }()

		c.Desire(desired(50, true, "probe", state.Playing), false)
		time.Sleep(time.Second)
		synctest.Wait()
		start := log.mark()
		red.Store(200)
		c.Redraw()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if got := p.Frame().RGBAAt(0, 0); got.R != 200 {
			t.Fatalf("after Redraw the display shows %v, want red 200", got)
		}
		if n := len(log.after(start)); n != 1 {
			t.Errorf("%d pushes for one Redraw, want 1", n)
		}

		// 50 changes in a second: at most 5 frames, the last one shown.
		burst := log.mark()
		for i := range 50 {
			red.Store(uint32(i))
			c.Redraw()
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := len(log.after(burst)); n < 2 || n > 6 {
			t.Errorf("%d pushes for 50 Redraws in 1s, want at most 5 (and 1 after)", n)
		}
		if got := p.Frame().RGBAAt(0, 0); got.R != 49 {
			t.Errorf("after the burst the display shows %v, want the last value", got)
		}

		c.Desire(desired(50, true, "probe", state.Paused), false)
		time.Sleep(time.Second)
		synctest.Wait()
		paused := log.mark()
		red.Store(7)
		c.Redraw()
		time.Sleep(time.Second)
		synctest.Wait()
		if n := len(log.after(paused)); n != 0 {
			t.Errorf("%d pushes on Redraw while paused", n)
		}
	})
}
