package device

import (
	"context"
	"image"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/state"
)

// countingDriver is an in-memory display that counts the frames pushed.
type countingDriver struct {
	pushes chan struct{}
}

func (d countingDriver) Size() scene.Size                         { return scene.Size{W: 64, H: 64} }
func (d countingDriver) MaxFPS() float64                          { return 5 }
func (d countingDriver) SetBrightness(context.Context, int) error { return nil }
func (d countingDriver) SetDisplay(context.Context, bool) error   { return nil }
func (d countingDriver) Probe(context.Context) error              { return nil }
func (d countingDriver) PushFrame(context.Context, *image.RGBA) error {
	d.pushes <- struct{}{}
	return nil
}

// TestRun_DoesNotSpin runs an animation at the frame limit on the real
// clock and counts the loop's rounds: a loop that spins instead of waiting
// (a pacing bug) makes this fail at its deadline rather than hang.
func TestRun_DoesNotSpin(t *testing.T) {
	drv := countingDriver{pushes: make(chan struct{}, 100)}
	c := NewController(Options{ID: "demo", Driver: drv, Scenes: scene.Builtin(), ProbeEvery: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx, discard{}); close(done) }()
	defer func() { cancel(); <-done }()
	c.Desire(state.State{ActiveScene: scene.Wave, PlayState: state.Playing, Brightness: 50, DisplayOn: true, LoggingLevel: state.LevelError}, true)
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for range 10 { // two seconds at 5 frames a second
		select {
		case <-drv.pushes:
		case <-deadline.C:
			t.Fatalf("10 frames of a 5 fps scene not pushed within 10s; the loop ran %d rounds", c.wakeups.Load())
		}
	}
	// About 5 frames and one metrics tick a second, a few mailbox wakes.
	if n := c.wakeups.Load(); n > 100 {
		t.Errorf("the loop ran %d rounds for 10 frames: it spins", n)
	}
}

// discard is an Observer that keeps nothing.
type discard struct{}

func (discard) Availability(string, bool)               {}
func (discard) Metrics(string, Metrics)                 {}
func (discard) Frame(string, []byte)                    {}
func (discard) Fault(string, error)                     {}
func (discard) Notification(string, NotificationStatus) {}
