package device_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/sim"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is an Observer that keeps everything it is told.
type recorder struct {
	mu      sync.Mutex
	avail   []bool
	metrics []device.Metrics
	frames  [][]byte
	faults  []error
	notes   []device.NotificationStatus
}

func (r *recorder) Notification(_ string, s device.NotificationStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, s)
}

// lastNote is the notification status reported last.
func (r *recorder) lastNote() device.NotificationStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.notes) == 0 {
		return device.NotificationStatus{}
	}
	return r.notes[len(r.notes)-1]
}

func (r *recorder) Availability(_ string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.avail = append(r.avail, on)
}

func (r *recorder) Metrics(_ string, m device.Metrics) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics = append(r.metrics, m)
}

func (r *recorder) Frame(_ string, png []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, png)
}

func (r *recorder) Fault(_ string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, err)
}

func (r *recorder) snapshot() (avail []bool, faults int, metrics []device.Metrics) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.avail...), len(r.faults), append([]device.Metrics(nil), r.metrics...)
}

func desired(brightness int, on bool, scene string, play state.PlayState) state.State {
	return state.State{ActiveScene: scene, PlayState: play, Brightness: brightness, DisplayOn: on, LoggingLevel: state.LevelDebug}
}

// waitFor polls cond until it holds or fails the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
		<-tick.C
	}
}

// realDevice is a simulated Pixoo on a loopback port with the real driver.
func realDevice(t testing.TB) (*sim.Pixoo, *sim.Server, *pixoo64.Client) {
	t.Helper()
	p, srv := testkit.StartPixoo(t)
	drv, err := pixoo64.New(srv.Addr(), pixoo64.Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drv.Close)
	return p, srv, drv
}

// runController runs c until the test ends.
func runController(t *testing.T, c *device.Controller, obs device.Observer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx, obs); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func newController(id string, drv device.Driver, logs slog.Handler) *device.Controller {
	return device.NewController(device.Options{
		ID: id, Name: id, Version: "test", SceneDefaults: map[string]scene.Values{scene.Fill: {"color": color.RGBA{R: 255, A: 255}}}, Driver: drv, Scenes: scene.Builtin(),
		LogHandler: logs, ProbeEvery: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond, Timeout: time.Second,
	})
}

func TestController_AppliesDesiredState(t *testing.T) {
	p, _, drv := realDevice(t)
	c := newController("demo", drv, nil)
	rec := &recorder{}
	runController(t, c, rec)
	c.Desire(desired(40, false, "fill", state.Playing), false)
	waitFor(t, 5*time.Second, "brightness 40, screen off, a red frame", func() bool {
		f := p.Frame()
		return p.Brightness() == 40 && !p.ScreenOn() && f.RGBAAt(10, 10) == color.RGBA{R: 255, A: 255}
	})
	if avail, _, _ := rec.snapshot(); len(avail) == 0 || !avail[0] {
		t.Errorf("availability %v, want online first", avail)
	}
}

// TestController_Outage takes the device off the network, changes the
// desired state while it is away, and brings it back: availability goes
// offline once (one fault, not one per retry) and online again, and the
// device ends up with the last desired values and the current frame.
func TestController_Outage(t *testing.T) {
	p, srv, drv := realDevice(t)
	c := newController("demo", drv, nil)
	rec := &recorder{}
	runController(t, c, rec)
	c.Desire(desired(30, true, "fill", state.Playing), false)
	waitFor(t, 5*time.Second, "brightness 30", func() bool { return p.Brightness() == 30 })

	if err := srv.Down(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "offline", func() bool {
		avail, _, _ := rec.snapshot()
		return len(avail) > 0 && !avail[len(avail)-1]
	})
	c.Desire(desired(20, false, "empty", state.Playing), false) // while away
	// Several retries pass while it is down.
	waitFor(t, 5*time.Second, "retries while down", func() bool {
		_, _, m := rec.snapshot()
		return len(m) > 0 && m[len(m)-1].Errors >= 3
	})
	p.PowerCycle() // it was unplugged: screen on, no frame
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "online with the last desired values", func() bool {
		avail, _, _ := rec.snapshot()
		f := p.Frame()
		return avail[len(avail)-1] && p.Brightness() == 20 && !p.ScreenOn() && f != nil && f.RGBAAt(3, 3) == color.RGBA{A: 255}
	})
	avail, faults, _ := rec.snapshot()
	if want := []bool{true, false, true}; !equalBools(avail, want) {
		t.Errorf("availability %v, want %v", avail, want)
	}
	if faults != 1 {
		t.Errorf("%d faults reported for one outage, want 1", faults)
	}
}

// TestController_HangingDeviceDoesNotBlockOthers hangs one device (it
// accepts connections but never answers) and checks that another, with its
// own controller, keeps following its desired state.
func TestController_HangingDeviceDoesNotBlockOthers(t *testing.T) {
	hung, _, hungDrv := realDevice(t)
	ok, _, okDrv := realDevice(t)
	a := newController("hung", hungDrv, nil)
	b := newController("ok", okDrv, nil)
	runController(t, a, &recorder{})
	runController(t, b, &recorder{})
	a.Desire(desired(10, true, "fill", state.Playing), false)
	waitFor(t, 5*time.Second, "the first device set up", func() bool { return hung.Brightness() == 10 })
	hung.SetFault(sim.FaultHang)
	a.Desire(desired(11, true, "wave", state.Playing), false)
	for i := range 5 {
		want := 50 + i
		b.Desire(desired(want, true, "clock", state.Playing), false)
		waitFor(t, 2*time.Second, "the other device follows", func() bool { return ok.Brightness() == want })
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// pushLog is a Driver that records every frame pushed, with the fake time
// the push started, around the real driver.
type pushLog struct {
	device.Driver
	mu     sync.Mutex
	pushes []push
}

type push struct {
	at    time.Time
	frame *image.RGBA
}

// mark is the number of pushes so far.
func (l *pushLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pushes)
}

// after returns the pushes after mark.
func (l *pushLog) after(mark int) []push {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]push(nil), l.pushes[mark:]...)
}

func (l *pushLog) PushFrame(ctx context.Context, f *image.RGBA) error {
	cp := image.NewRGBA(f.Rect)
	copy(cp.Pix, f.Pix)
	l.mu.Lock()
	l.pushes = append(l.pushes, push{time.Now(), cp})
	l.mu.Unlock()
	return l.Driver.PushFrame(ctx, f)
}

func (l *pushLog) since(t time.Time) []push {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []push
	for _, p := range l.pushes {
		if !p.at.Before(t) {
			out = append(out, p)
		}
	}
	return out
}

// bubbleDevice is a simulated Pixoo reached through testkit.HandlerTransport,
// for use inside a synctest bubble.
func bubbleDevice(t *testing.T) (*sim.Pixoo, *pushLog) {
	p := sim.NewPixoo()
	drv, err := pixoo64.New("127.0.0.1:80", pixoo64.Options{HTTPClient: &http.Client{Transport: testkit.HandlerTransport{Handler: p}}})
	if err != nil {
		t.Fatal(err)
	}
	return p, &pushLog{Driver: drv}
}

func solid(f *image.RGBA, c color.RGBA) bool {
	for i := 0; i < len(f.Pix); i += 4 {
		if f.Pix[i] != c.R || f.Pix[i+1] != c.G || f.Pix[i+2] != c.B {
			return false
		}
	}
	return true
}

// TestController_Playback runs the playback state machine on a fake clock:
// pause stops the pushes and keeps the frame, resume goes on, stop pushes
// one black frame and nothing more, and a scene switch during a slow push
// never lets a frame of the old scene through.
func TestController_Playback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, log := bubbleDevice(t)
		c := newController("demo", log, nil)
		rec := &recorder{}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.Run(ctx, rec); close(done) }()
		defer func() { cancel(); <-done }()

		c.Desire(desired(50, true, "wave", state.Playing), false)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := len(log.since(time.Time{})); n < 9 || n > 11 {
			t.Errorf("%d pushes in 2s of a 5 fps scene, want about 10", n)
		}

		// Pause: no pushes, the last frame stays.
		c.Desire(desired(50, true, "wave", state.Paused), false)
		synctest.Wait()
		paused := log.mark()
		last := p.Frame()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := len(log.after(paused)); n != 0 {
			t.Errorf("%d pushes while paused", n)
		}
		if !bytes.Equal(p.Frame().Pix, last.Pix) {
			t.Error("the frame changed while paused")
		}

		// Resume.
		c.Desire(desired(50, true, "wave", state.Playing), false)
		resumed := time.Now()
		time.Sleep(time.Second)
		synctest.Wait()
		if n := len(log.since(resumed)); n < 4 {
			t.Errorf("%d pushes in 1s after resume", n)
		}

		// Stop: exactly one black frame.
		synctest.Wait()
		stopped := log.mark()
		c.Desire(desired(50, true, "wave", state.Stopped), false)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		after := log.after(stopped)
		if len(after) != 1 || !solid(after[0].frame, color.RGBA{}) {
			t.Errorf("%d pushes after stop (want one black frame)", len(after))
		}
		if !solid(p.Frame(), color.RGBA{}) {
			t.Error("the display does not show black after stop")
		}

		// A switch during a slow push: frames of the old scene may finish
		// the push under way, but none starts after the switch.
		c.Desire(desired(50, true, "wave", state.Playing), true)
		time.Sleep(time.Second)
		p.SetLatency(700 * time.Millisecond)
		time.Sleep(350 * time.Millisecond) // in the middle of a push
		c.Desire(desired(50, true, "fill", state.Playing), true)
		switched := time.Now()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		red := color.RGBA{R: 255, A: 255}
		for _, ps := range log.since(switched) {
			if !solid(ps.frame, red) {
				t.Fatalf("a frame of the old scene was pushed %v after the switch", ps.at.Sub(switched))
			}
		}
		if !solid(p.Frame(), red) {
			t.Error("the display does not show the new scene")
		}
		_, _, metrics := rec.snapshot()
		m := metrics[len(metrics)-1]
		if m.GenerationID < 3 || m.Status != device.StatusRunning {
			t.Errorf("metrics %+v, want generation >= 3 and running", m)
		}
	})
}

// TestController_SlowDeviceSkipsFrames checks that frames are dropped and
// counted, never queued, when the device is slower than the scene.
func TestController_SlowDeviceSkipsFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, log := bubbleDevice(t)
		p.SetLatency(450 * time.Millisecond) // a push takes 0.45s, a frame is due every 0.2s
		c := device.NewController(device.Options{
			ID: "demo", Driver: log, Scenes: scene.Builtin(), ProbeEvery: time.Minute, Timeout: 5 * time.Second,
		})
		rec := &recorder{}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.Run(ctx, rec); close(done) }()
		defer func() { cancel(); <-done }()
		c.Desire(desired(50, true, "wave", state.Playing), false)
		time.Sleep(20 * time.Second)
		synctest.Wait()
		_, _, metrics := rec.snapshot()
		m := metrics[len(metrics)-1]
		if m.Skipped == 0 {
			t.Errorf("metrics %+v: no frame counted as skipped", m)
		}
		pushes := len(log.since(time.Time{}))
		if pushes > 45 {
			t.Errorf("%d pushes in 20s to a device that takes 0.45s a push: frames were queued", pushes)
		}
		if got := int(m.Pushes + m.Skipped); got < 90 || got > 105 {
			t.Errorf("pushes+skipped = %d after 20s at 5 fps, want about 100", got)
		}
	})
}

// TestController_LoggingLevelPerDevice sets one device silent and another
// to info, through one output handler: only the second one's logs appear.
func TestController_LoggingLevelPerDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out testkit.Buffer
		h := slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})
		_, la := bubbleDevice(t)
		_, lb := bubbleDevice(t)
		a := newController("quiet", la, h)
		b := newController("chatty", lb, h)
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() { a.Run(ctx, &recorder{}) })
		wg.Go(func() { b.Run(ctx, &recorder{}) })
		defer func() { cancel(); wg.Wait() }()

		sa := desired(50, true, "clock", state.Playing)
		sa.LoggingLevel = state.LevelSilent
		sb := desired(50, true, "clock", state.Playing)
		sb.LoggingLevel = state.LevelInfo
		a.Desire(sa, true)
		b.Desire(sb, true)
		a.Logger().Error("an error about quiet")
		b.Logger().Debug("a debug line about chatty")
		time.Sleep(time.Second)
		synctest.Wait()
		logs := out.String()
		if strings.Contains(logs, "device=quiet") {
			t.Errorf("a silent device logged:\n%s", logs)
		}
		if !strings.Contains(logs, "device=chatty") || !strings.Contains(logs, "scene started") {
			t.Errorf("the info device did not log its scene start:\n%s", logs)
		}
		if strings.Contains(logs, "a debug line about chatty") {
			t.Errorf("a debug line passed an info device:\n%s", logs)
		}
	})
}

// TestController_ScenePaused starts a scene paused (a state file that says
// paused, or {"activeScene":"fill","playState":"paused"}): its first frame
// is shown, once, and stays.
func TestController_ScenePaused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, log := bubbleDevice(t)
		c := newController("demo", log, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.Run(ctx, &recorder{}); close(done) }()
		defer func() { cancel(); <-done }()
		red := color.RGBA{R: 255, A: 255}

		c.Desire(desired(50, true, "fill", state.Paused), false)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if n := log.mark(); n != 1 || !solid(p.Frame(), red) {
			t.Errorf("%d pushes, red shown %v; want the fill frame once", n, solid(p.Frame(), red))
		}

		// Playing another scene, then switching to a paused one in one go.
		c.Desire(desired(50, true, "wave", state.Playing), true)
		time.Sleep(time.Second)
		synctest.Wait()
		c.Desire(desired(50, true, "empty", state.Paused), true)
		time.Sleep(time.Second)
		synctest.Wait()
		mark := log.mark()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if !solid(p.Frame(), color.RGBA{}) || len(log.after(mark)) != 0 {
			t.Errorf("after switching to a paused empty scene: black %v, %d more pushes", solid(p.Frame(), color.RGBA{}), len(log.after(mark)))
		}
	})
}
