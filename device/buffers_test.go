package device_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/mock"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/state"
)

// TestController_StaticPictureHoldsNoFrame: displays that show a static
// picture hold no frame once it is on the display and its preview sent
// (each held two 64x64 frames for good, 32 KB a display); displays that
// animate hold at most the frame being drawn and the one kept for the
// next preview.
func TestController_StaticPictureHoldsNoFrame(t *testing.T) {
	buffers := device.NewBuffers()
	const static, animated = 20, 3
	var recs []*recorder
	for i := range static + animated {
		sc := scene.Fill
		if i >= static {
			sc = scene.Wave
		}
		c := device.NewController(device.Options{
			ID: fmt.Sprintf("d%d", i), Driver: mock.New(scene.Size{W: 64, H: 64}), Scenes: scene.Builtin(), Buffers: buffers,
		})
		c.Desire(state.State{ActiveScene: sc, PlayState: state.Playing, Brightness: 50, DisplayOn: true, LoggingLevel: state.LevelWarning}, true)
		rec := &recorder{}
		recs = append(recs, rec)
		runController(t, c, rec)
	}
	waitFor(t, 10*time.Second, "every display's preview", func() bool {
		for _, r := range recs {
			r.mu.Lock()
			n := len(r.frames)
			r.mu.Unlock()
			if n == 0 {
				return false
			}
		}
		return true
	})
	if n := buffers.FramesLent(); n > 2*animated {
		t.Fatalf("%d frames held by %d static and %d animated displays, want at most %d", n, static, animated, 2*animated)
	}
}
