// Package mock is a display that exists only in memory: every command
// succeeds at once and is remembered. It stands in for hardware where the
// HTTP round trip is not what is being measured (load tests with thousands
// of devices) and is the "mock" device type.
package mock

import (
	"context"
	"image"
	"sync"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// Display is an in-memory display. Its methods are safe for concurrent use,
// so a test can read it while its controller drives it.
type Display struct {
	size scene.Size

	mu         sync.Mutex
	brightness int
	on         bool
	pushes     int
}

var _ device.Driver = (*Display)(nil)

// New returns a display of the given size, brightness 100 and screen on.
func New(size scene.Size) *Display {
	return &Display{size: size, brightness: 100, on: true}
}

// Size is the display size.
func (d *Display) Size() scene.Size { return d.size }

// MaxFPS is the frame rate limit: 5, like a Pixoo.
func (d *Display) MaxFPS() float64 { return 5 }

// SetBrightness remembers the brightness.
func (d *Display) SetBrightness(_ context.Context, percent int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.brightness = percent
	return nil
}

// SetDisplay remembers whether the screen is on.
func (d *Display) SetDisplay(_ context.Context, on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.on = on
	return nil
}

// PushFrame counts the frame; the pixels are not kept, so that thousands of
// mock displays stay light.
func (d *Display) PushFrame(_ context.Context, _ *image.RGBA) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pushes++
	return nil
}

// Probe always succeeds.
func (d *Display) Probe(context.Context) error { return nil }

// Brightness is the last brightness set.
func (d *Display) Brightness() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.brightness
}

// On reports whether the screen is on.
func (d *Display) On() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.on
}

// Pushes counts the frames pushed.
func (d *Display) Pushes() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pushes
}

// Kind is the in-memory display as a device kind: type "mock", 64x64,
// inside the daemon.
func Kind() device.Kind {
	size := scene.Size{W: 64, H: 64}
	return device.Kind{
		Type:         "mock",
		Size:         size,
		Manufacturer: "pidicon-mqtt",
		Model:        "Display (mock)",
		Open:         func(device.OpenOptions) (device.Driver, func(), error) { return New(size), func() {}, nil },
	}
}
