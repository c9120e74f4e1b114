package device_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/sim"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// runInBubble runs c in the test's synctest bubble until the test ends.
func runInBubble(t *testing.T, c *device.Controller, obs device.Observer) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { c.Run(ctx, obs); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// fillIn is the desired state of the fill scene in colour hex.
func fillIn(hex string) state.State {
	st := desired(50, true, scene.Fill, state.Playing)
	st.SceneParams = state.SceneParams(`{"color":"` + hex + `"}`)
	return st
}

// maxPerSecond is the most pushes in any one-second window.
func maxPerSecond(pushes []push) int {
	most := 0
	for i := range pushes {
		n := 0
		for _, p := range pushes[i:] {
			if p.at.Sub(pushes[i].at) < time.Second {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

// TestController_PacingBurst switches scenes and parameters 20 times in a
// second, with a notification and a brightness change in between: at most
// 5 frames reach the display in any second (CONTRACT §7, one pacing point
// per display), and the last scene is the one shown.
func TestController_PacingBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, log := bubbleDevice(t)
		c := newController("demo", log, nil)
		runInBubble(t, c, &recorder{})
		c.Desire(fillIn("#000000"), true)
		time.Sleep(time.Second)
		synctest.Wait()
		start := log.mark()
		for i := range 20 {
			st := fillIn(fmt.Sprintf("#%02x0000", 10+i))
			if i%3 == 0 {
				st.ActiveScene, st.SceneParams = scene.Wave, state.NoParams
			}
			if i == 19 {
				st = fillIn("#ff0000")
			}
			st.Brightness = 40 + i
			c.Desire(st, i%2 == 0)
			if i == 7 {
				if err := c.Notify(device.Notification{Text: "hi", Color: color.RGBA{G: 255, A: 255}, Duration: 300 * time.Millisecond, Priority: device.PriorityNormal}); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		pushes := log.after(start)
		if n := maxPerSecond(pushes); n > 5 {
			t.Errorf("%d frames in one second, want at most 5", n)
		}
		if len(pushes) == 0 {
			t.Fatal("no frame pushed")
		}
		red := color.RGBA{R: 255, A: 255}
		if last := pushes[len(pushes)-1].frame; !solid(last, red) {
			t.Errorf("the last frame pushed is not the last scene (red)")
		}
		if !solid(p.Frame(), red) {
			t.Error("the display does not show the last scene")
		}
	})
}

// TestController_ParamsWithoutRestart changes the running scene's
// parameters: the next frame shows them, the generation stays.
func TestController_ParamsWithoutRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, log := bubbleDevice(t)
		c := newController("demo", log, nil)
		rec := &recorder{}
		runInBubble(t, c, rec)
		c.Desire(fillIn("#00ff00"), true)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		_, _, before := rec.snapshot()
		c.Desire(fillIn("#0000ff"), false)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if !solid(p.Frame(), color.RGBA{B: 255, A: 255}) {
			t.Error("the display does not show the new colour")
		}
		_, _, after := rec.snapshot()
		if g0, g1 := before[len(before)-1].GenerationID, after[len(after)-1].GenerationID; g0 != g1 {
			t.Errorf("generation %d → %d: a parameter change restarted the scene", g0, g1)
		}
		// A parameter that no longer fits (an image that is gone) falls back
		// to the defaults rather than stopping the display.
		c.Desire(fillIn("not a colour"), false)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if !solid(p.Frame(), color.RGBA{R: 255, A: 255}) {
			t.Error("bad parameters did not fall back to the device's default colour")
		}
	})
}

// note is a notification of text with the given options.
func note(text string, opts ...func(*device.Notification)) device.Notification {
	n := device.Notification{Text: text, Color: color.RGBA{R: 255, G: 255, B: 255, A: 255}, Background: color.RGBA{B: 200, A: 255},
		Duration: 5 * time.Second, Priority: device.PriorityNormal}
	for _, o := range opts {
		o(&n)
	}
	return n
}

func withID(id string) func(*device.Notification) { return func(n *device.Notification) { n.ID = id } }
func high(n *device.Notification)                 { n.Priority = device.PriorityHigh }
func hold(n *device.Notification)                 { n.Hold = true }
func lasting(d time.Duration) func(*device.Notification) {
	return func(n *device.Notification) { n.Duration = d }
}

// showing is the text of the notification on screen, "" for none.
func showing(r *recorder) string {
	if s := r.lastNote().Showing; s != nil {
		return s.Text
	}
	return ""
}

// TestController_Notifications runs the queue of CONTRACT §7 on a fake
// clock: order, priority, replacement by id, dismissal, hold, the limit,
// and a display that is off; the scene goes on underneath and is shown
// again when the notifications end.
func TestController_Notifications(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, log := bubbleDevice(t)
		c := newController("demo", log, nil)
		rec := &recorder{}
		runInBubble(t, c, rec)
		green := color.RGBA{G: 255, A: 255}
		c.Desire(fillIn("#00ff00"), true)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := rec.lastNote(); got.Showing != nil || got.Queued != 0 {
			t.Fatalf("status before any notification: %+v", got)
		}

		for _, n := range []device.Notification{note("one"), note("two"), note("three", withID("x"))} {
			if err := c.Notify(n); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		if got := showing(rec); got != "one" || rec.lastNote().Queued != 2 {
			t.Errorf("showing %q with %d queued, want one with 2", got, rec.lastNote().Queued)
		}
		if solid(p.Frame(), green) {
			t.Error("the notification is not drawn over the scene")
		}
		// A high one interrupts a normal one; the interrupted one comes back
		// before the other normal ones.
		if err := c.Notify(note("urgent", high)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := showing(rec); got != "urgent" || rec.lastNote().Queued != 3 {
			t.Errorf("showing %q with %d queued, want urgent with 3", got, rec.lastNote().Queued)
		}
		// Replace the queued "three" by id; dismiss the one on screen.
		if err := c.Notify(note("three again", withID("x"))); err != nil {
			t.Fatal(err)
		}
		if err := c.Dismiss(""); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := showing(rec); got != "one" {
			t.Errorf("after dismissing urgent, showing %q, want one", got)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := showing(rec); got != "two" {
			t.Errorf("after one's 5 s, showing %q, want two", got)
		}
		if err := c.Dismiss("x"); err != nil {
			t.Fatal(err)
		}
		if err := c.Dismiss("nope"); !errors.Is(err, device.ErrNoNotification) {
			t.Errorf("dismissing an unknown id: %v", err)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := rec.lastNote(); got.Showing != nil || got.Queued != 0 {
			t.Errorf("after all ended: %+v", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if !solid(p.Frame(), green) {
			t.Error("the scene is not shown again after the notifications")
		}

		// hold: stays until dismissed.
		if err := c.Notify(note("held", hold, lasting(time.Second))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := showing(rec); got != "held" {
			t.Errorf("a held notification ended by itself: showing %q", got)
		}
		c.Dismiss("")
		synctest.Wait()

		// At most MaxQueued, the one on screen included.
		var err error
		for i := 0; err == nil && i <= device.MaxQueued; i++ {
			err = c.Notify(note(fmt.Sprint(i), hold))
		}
		if !errors.Is(err, device.ErrQueueFull) {
			t.Errorf("notification %d: %v, want the queue full", device.MaxQueued+1, err)
		}
		// Turning the display off drops them, and refuses new ones.
		off := fillIn("#00ff00")
		off.DisplayOn = false
		c.Desire(off, false)
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		if got := rec.lastNote(); got.Showing != nil || got.Queued != 0 {
			t.Errorf("with the display off: %+v", got)
		}
		if err := c.Notify(note("dark")); !errors.Is(err, device.ErrDisplayOff) {
			t.Errorf("a notification while off: %v, want ErrDisplayOff", err)
		}
	})
}

// TestController_ScrollingNotificationShownInFull: a text wider than the
// display stays at least one full scroll, longer than its duration.
func TestController_ScrollingNotificationShownInFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, log := bubbleDevice(t)
		c := newController("demo", log, nil)
		rec := &recorder{}
		runInBubble(t, c, rec)
		c.Desire(fillIn("#00ff00"), true)
		time.Sleep(time.Second)
		long := "a notification far too long to fit on one line of the display"
		if err := c.Notify(note(long, lasting(time.Second))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := showing(rec); got != long {
			t.Errorf("after 5 s of a 1 s notification whose text needs %s to scroll, showing %q", scrollTime(long), got)
		}
		time.Sleep(scrollTime(long))
		synctest.Wait()
		if got := showing(rec); got != "" {
			t.Errorf("still showing %q after a full scroll", got)
		}
	})
}

// scrollTime is how long text takes to scroll once on a 64x64 display.
func scrollTime(text string) time.Duration {
	l := scene.LayoutText(image.Rect(0, 0, 64, 64), text, scene.Values{"scroll": "auto"})
	return l.ScrollPeriod(20)
}

// animatedImages is an image store with "anim", a GIF of frames frames of
// 20 ms (shown at most 5 a second).
func animatedImages(t *testing.T, frames int) *picture.Store {
	t.Helper()
	st, err := picture.OpenStore(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	g := &gif.GIF{}
	pal := color.Palette{color.Black, color.White, color.RGBA{R: 255, A: 255}}
	for i := range frames {
		img := image.NewPaletted(image.Rect(0, 0, 16, 16), pal)
		for x := range 16 {
			img.SetColorIndex(x, i%16, 1)
		}
		img.SetColorIndex(i%16, 0, 2)
		g.Image = append(g.Image, img)
		g.Delay = append(g.Delay, 2)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put("anim", buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	return st
}

// timedTransport records when each frame post (Draw/SendHttpGif) goes
// out.
type timedTransport struct {
	http.RoundTripper
	sent chan time.Time
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(body, []byte(`"Draw/SendHttpGif"`)) {
		t.sent <- time.Now()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return t.RoundTripper.RoundTrip(r)
}

// TestController_AnimationUpload shows an animated GIF on a Pixoo: the
// animation goes up once as one multi-frame upload (one PicID, at most 59
// frames), its posts at least 200 ms apart, and then the device plays it
// by itself: no more frames.
func TestController_AnimationUpload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := sim.NewPixoo()
		defer p.Close()
		sent := make(chan time.Time, 1000)
		drv, err := pixoo64.New("127.0.0.1:80", pixoo64.Options{HTTPClient: &http.Client{
			Transport: timedTransport{testkit.HandlerTransport{Handler: p}, sent}}})
		if err != nil {
			t.Fatal(err)
		}
		c := device.NewController(device.Options{ID: "demo", Driver: drv, Scenes: scene.Builtin(),
			Images: animatedImages(t, 80), ProbeEvery: time.Hour})
		runInBubble(t, c, &recorder{})
		st := desired(50, true, scene.Image, state.Playing)
		st.SceneParams = `{"image":"anim"}`
		c.Desire(st, true)
		time.Sleep(time.Minute)
		synctest.Wait()
		frames, speed := p.Animation()
		if len(frames) != pixoo64.MaxAnimationFrames {
			t.Fatalf("the device plays %d frames, want %d (80 evenly reduced)", len(frames), pixoo64.MaxAnimationFrames)
		}
		if speed < 200 {
			t.Errorf("frames shown %d ms each, faster than the display's limit", speed)
		}
		uploads := p.Pushes()
		var times []time.Time
		for len(sent) > 0 {
			times = append(times, <-sent)
		}
		if len(times) != pixoo64.MaxAnimationFrames {
			t.Errorf("%d Draw/SendHttpGif posts, want one per frame: %d", len(times), pixoo64.MaxAnimationFrames)
		}
		for i := 1; i < len(times); i++ {
			if gap := times[i].Sub(times[i-1]); gap < 200*time.Millisecond {
				t.Fatalf("posts %d and %d of the upload %v apart, want at least 200ms", i-1, i, gap)
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if p.Pushes() != uploads {
			t.Errorf("%d more frames after the upload: the device plays the animation by itself", p.Pushes()-uploads)
		}
	})
}

// TestController_SlowPushesKeepTheRate: a display that takes 40 ms to
// answer each frame still gets the animated scene's 5 frames a second,
// and never more than 5 in any second. Frames keep to their schedule, and
// the limit counts a frame from when its last byte went to the display,
// not from the answer. (Spaced from the last push, every delay added up:
// 45 frames; counted from the answer, each second lost 40 ms: 48.)
func TestController_SlowPushesKeepTheRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, log := bubbleDevice(t)
		p.SetLatency(40 * time.Millisecond)
		c := newController("demo", log, nil)
		runInBubble(t, c, &recorder{})
		c.Desire(desired(50, true, scene.Wave, state.Playing), true)
		time.Sleep(time.Second)
		synctest.Wait()
		start := log.mark()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		pushes := log.after(start)
		if len(pushes) < 49 {
			t.Errorf("%d frames in 10 s, want 50 (at least 49)", len(pushes))
		}
		if n := maxPerSecond(pushes); n > 5 {
			t.Errorf("%d frames in one second, want at most 5", n)
		}
	})
}
