package device

import (
	"context"
	"image"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// Driver talks to one physical (or simulated) display. Only the device's
// Controller calls it, from its own goroutine, so implementations need not be
// safe for concurrent use. Every method must return once ctx is done and
// should bound its own network calls with a timeout.
type Driver interface {
	// Size is the display size in pixels.
	Size() scene.Size
	// MaxFPS is the highest frame rate the device takes; the controller never
	// pushes faster.
	MaxFPS() float64
	// SetBrightness sets the panel brightness, 0..100.
	SetBrightness(ctx context.Context, percent int) error
	// SetDisplay switches the screen on or off.
	SetDisplay(ctx context.Context, on bool) error
	// PushFrame shows frame, whose bounds are Size.
	PushFrame(ctx context.Context, frame *image.RGBA) error
	// Probe is a cheap read that tells whether the device answers.
	Probe(ctx context.Context) error
}

// frameSentKey is the context key of WithFrameSent.
type frameSentKey struct{}

// WithFrameSent returns ctx carrying sent, which a driver calls with the
// time the display was handed the last byte of a frame (a request body
// written): the controller's frame limit counts the frame from then, not
// from when the display's answer came.
func WithFrameSent(ctx context.Context, sent func(time.Time)) context.Context {
	return context.WithValue(ctx, frameSentKey{}, sent)
}

// FrameSent returns the function WithFrameSent put in ctx, or nil.
func FrameSent(ctx context.Context) func(time.Time) {
	f, _ := ctx.Value(frameSentKey{}).(func(time.Time))
	return f
}
