package device

import (
	"context"
	"errors"
	"image"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/state"
)

// run holds everything only Run's goroutine touches.
type run struct {
	*Controller
	ctx context.Context
	obs Observer

	desired state.State
	has     bool

	online    bool
	known     bool // availability has been reported at least once
	applied   applied
	nextProbe time.Time
	holdUntil time.Time     // after a refused command: no commands before this
	failures  int           // failed probes in a row while offline
	reboots   []func(error) // reboots taken from the mailbox, not sent yet

	// The scene.
	gen        uint64
	sc         scene.Scene
	params     scene.Values // the scene's parameters, defaults filled in
	frameNo    int
	sceneStart time.Time   // when the scene (re)started
	input      scene.Frame // the last scene frame's input, to draw it again
	rendered   bool        // input holds a frame of this generation
	interval   time.Duration

	// The notification on screen.
	note       *Notification
	noteStart  time.Time
	noteUntil  time.Time // zero: until dismissed
	noteScroll bool      // its text scrolls: it needs a frame on every step

	// The pacing point: every frame, whatever triggers it.
	nextFrame time.Time     // zero: no frame due
	pace      pacer         // the frame limit
	lastPush  time.Time     // when the last frame went to the display
	minGap    time.Duration // 1/maxFPS

	// An animation the display plays by itself (Animator).
	anim animation

	// What the display shows: a hash of its pixels, not a copy; held is
	// the last frame pushed while its preview is still due (nil after).
	shownSum uint64
	shownGen uint64
	shownOK  bool // the frame is on the display (false after an outage)
	held     *image.RGBA

	m           Metrics
	sentMetrics Metrics
	metricsAt   time.Time // the last metrics tick
	pushesAt    uint64    // pushes at the last metrics tick, for fps
	previewAt   time.Time
	previewDue  bool
	previewSum  uint64 // hash of the pixels of the last preview sent
	previewSent bool
	noteStatus  NotificationStatus
	noteSent    bool // noteStatus was reported at least once
}

// applied is what the hardware is known to show; nil is unknown.
type applied struct {
	brightness *int
	display    *bool
}

// Run drives the device until ctx is done, telling obs what it sees. It
// returns nil on cancellation.
func (c *Controller) Run(ctx context.Context, obs Observer) error {
	r := &run{
		Controller: c,
		ctx:        ctx,
		obs:        obs,
		m:          Metrics{Status: StatusSwitching},
		minGap:     time.Duration(float64(time.Second) / c.maxFPS),
		pace:       newPacer(c.maxFPS),
	}
	// On the heap, not in Run's stack frame: drawing and sending grow the
	// goroutine's stack, and the runtime shrinks an idle goroutine's
	// stack only when a quarter of it is in use; with r in the frame it
	// stayed at 8 KB a display.
	c.running = r
	r.sentMetrics.Status = "" // so the first tick publishes
	r.metricsAt = time.Now()
	r.reportNotes(NotificationStatus{})
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		c.wakeups.Add(1)
		r.poll()
		r.step()
		if now := time.Now(); !now.Before(r.metricsAt.Add(time.Second)) {
			r.tickMetrics(now)
		}
		timer.Reset(r.untilNext())
		select {
		case <-ctx.Done():
			r.stop()
			return nil
		case <-c.wake:
			r.takeMailbox()
		case <-timer.C:
		}
	}
}

// poll takes what arrived in the mailbox while the loop was busy (a slow
// device), so that nothing is done for a state that is no longer wanted.
func (r *run) poll() {
	select {
	case <-r.wake:
		r.takeMailbox()
	default:
	}
}

// takeMailbox moves the desired state and the notifications into the loop.
func (r *run) takeMailbox() {
	r.reboots = append(r.reboots, r.Controller.takeReboots()...)
	r.takeDesired()
	r.takeNotes()
	if r.Controller.takeReload() && r.has {
		r.log.Debug("scenes changed; looking the scene up again", logkey.Scene, r.desired.ActiveScene)
		r.reloadScene()
	}
	if r.Controller.takeRedraw() && r.has && r.note == nil && r.desired.PlayState == state.Playing {
		r.frameNow()
	}
}

// takeDesired starts, pauses or stops the render loop to match the
// desired state, and applies new parameters of the running scene at its
// next frame.
func (r *run) takeDesired() {
	st, restart, has := r.Controller.takeDesired()
	if !has {
		return
	}
	first := !r.has
	prev := r.desired
	r.desired, r.has = st, true
	switch {
	case first || restart || st.ActiveScene != prev.ActiveScene:
		r.startScene()
	case st.SceneParams != prev.SceneParams:
		r.log.Debug("scene parameters changed", logkey.Scene, st.ActiveScene)
		r.reloadScene()
	}
	if !first && !restart && st.ActiveScene == prev.ActiveScene && st.PlayState != prev.PlayState {
		r.log.Debug("play state", logkey.From, prev.PlayState, logkey.To, st.PlayState)
		r.playStateChanged()
	}
}

// takeNotes follows the notification queue: a new one on screen, one
// ended or dismissed, one replaced.
func (r *run) takeNotes() {
	note, restart, changed, status := r.Controller.takeNotes()
	if !changed && note == r.note {
		return
	}
	if note != r.note || restart {
		r.note = note
		r.noteStart = time.Now()
		r.noteUntil = time.Time{}
		r.noteScroll = false
		if note != nil {
			d := note.Duration
			if note.Text != "" {
				// Laid out once: the text and the display's size do not
				// change while it shows (a replacement is a new note).
				l := scene.LayoutText(image.Rect(0, 0, r.size.W, r.size.H), note.Text, noteValues(note))
				r.noteScroll = l.Scroll
				if l.Scroll {
					d = max(d, l.ScrollPeriod(noteSpeed)) // shown at least once in full
				}
			}
			if !note.Hold {
				r.noteUntil = r.noteStart.Add(d)
			}
		}
		r.anim = animation{}
		r.frameNow()
	}
	r.reportNotes(status)
}

// reportNotes tells the observer of the notifications when they changed.
func (r *run) reportNotes(status NotificationStatus) {
	if r.noteSent && status.Showing == r.noteStatus.Showing && status.Queued == r.noteStatus.Queued {
		return
	}
	r.noteStatus, r.noteSent = status, true
	r.obs.Notification(r.opts.ID, status)
}

// reloadScene looks the running scene up again with its parameters and
// draws it anew (its animation, if any, goes up again).
func (r *run) reloadScene() {
	r.loadParams()
	r.anim = animation{}
	if r.desired.PlayState != state.Stopped {
		r.frameNow()
	}
}

// startScene begins a new generation of the active scene.
func (r *run) startScene() {
	r.gen++
	r.m.GenerationID = r.gen
	r.frameNo = 0
	r.rendered = false
	r.sceneStart = time.Now()
	r.anim = animation{}
	r.loadParams()
	r.log.Info("scene started", logkey.Scene, r.sc.Name, logkey.Generation, r.gen, logkey.PlayState, r.desired.PlayState)
	r.playStateChanged()
}

// loadParams looks the active scene up and reads its parameters, the
// device's and the scene's defaults filling in, and sets its frame rate.
// A scene that cannot run here, or whose parameters no longer fit (an
// image that was deleted), shows black or its defaults, with a log line.
func (r *run) loadParams() {
	sc, ok := r.opts.Scenes.Lookup(r.desired.ActiveScene)
	if !ok || !sc.Supports(r.Size()) {
		r.log.Error("scene cannot run here; showing black", logkey.Scene, r.desired.ActiveScene)
		sc = scene.Scene{Name: r.desired.ActiveScene, Render: func(dst *image.RGBA, _ scene.Frame) { fillBlack(dst) }}
	}
	r.sc = sc
	r.rendered = false // a paused scene draws its frame again, with these parameters
	set, err := sc.Check(r.desired.SceneParams.Map(), r.opts.Images)
	if err != nil {
		r.log.Warn("scene parameters no longer fit; using the defaults", logkey.Scene, sc.Name, logkey.Error, err)
		set = nil
	}
	r.params = sc.WithDefaults(r.opts.SceneDefaults[sc.Name])
	for k, v := range set {
		r.params[k] = v
	}
	fps := min(sc.FramesPerSecond(r.Size(), r.params, r.opts.Images), r.maxFPS)
	r.interval = 0
	if fps > 0 {
		r.interval = time.Duration(float64(time.Second) / fps)
	}
}

// playStateChanged sets the loop and status for the desired play state.
func (r *run) playStateChanged() {
	r.anim = animation{}
	switch r.desired.PlayState {
	case state.Playing:
		r.m.Status = StatusSwitching
		if r.shownGen == r.gen && r.shownOK {
			r.m.Status = StatusRunning
		}
		r.frameNow()
	case state.Paused:
		r.m.Status = StatusPaused
		r.nextFrame = time.Time{}
		if r.shownGen != r.gen || r.note != nil {
			// A scene that starts paused shows its first frame, frozen.
			r.frameNow()
		}
	case state.Stopped:
		r.m.Status = StatusStopped
		r.frameNow() // one black frame, then nothing
	}
}

// frameNow asks for a frame as soon as the pacing point lets one through.
func (r *run) frameNow() { r.nextFrame = time.Now() }

// dueAt is when the next frame may go: when it is due, but never before
// the frame limit lets it (an animation's upload: a whole frame interval
// after the last post, which a Pixoo needs), nor while commands are held.
func (r *run) dueAt() time.Time {
	if r.nextFrame.IsZero() {
		return time.Time{}
	}
	t := later(r.nextFrame, r.pace.earliest())
	if r.uploading() {
		t = later(t, r.lastPush.Add(r.minGap))
	}
	return later(t, r.holdUntil)
}

// untilNext is how long the loop may sleep before something is due.
func (r *run) untilNext() time.Duration {
	if len(r.reboots) > 0 {
		return 0 // taken from the mailbox in the middle of a step
	}
	next := r.nextProbe
	if m := r.metricsAt.Add(time.Second); m.Before(next) {
		next = m
	}
	if f := r.dueAt(); r.online && r.has && !f.IsZero() && f.Before(next) {
		next = f
	}
	if r.note != nil && !r.noteUntil.IsZero() && r.noteUntil.Before(next) {
		next = r.noteUntil
	}
	return max(time.Until(next), 0)
}

// step does whatever is due: probe, converge, end a notification, push a
// frame.
func (r *run) step() {
	r.reboot()
	now := time.Now()
	if !r.online && !now.Before(r.nextProbe) {
		r.probe(now)
	}
	if r.online && r.has && !now.Before(r.holdUntil) {
		r.converge()
	}
	r.poll() // converging may have taken a while
	if r.note != nil && !r.noteUntil.IsZero() && !time.Now().Before(r.noteUntil) {
		r.endNote(r.note)
		r.takeNotes()
		if r.note == nil {
			r.sceneBack()
		}
	}
	if due := r.dueAt(); r.online && r.has && !due.IsZero() && !time.Now().Before(due) {
		r.frame()
	}
	// A frame that went through just now says as much as a probe would:
	// a busy display is not asked for its settings on top.
	if now := time.Now(); r.online && !now.Before(r.nextProbe) {
		if now.Sub(r.m.LastSeen) < r.opts.ProbeEvery {
			r.nextProbe = r.m.LastSeen.Add(r.opts.ProbeEvery)
		} else {
			r.probe(now)
		}
	}
}

// sceneBack shows the scene again after a notification: a paused one
// its frozen frame, a stopped one black.
func (r *run) sceneBack() {
	r.anim = animation{}
	r.frameNow()
}

func (r *run) call(f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.Timeout)
	defer cancel()
	err := f(ctx)
	if err == nil {
		r.m.LastSeen = time.Now()
	}
	return err
}

// probe checks the device's health and handles the transitions.
func (r *run) probe(now time.Time) {
	err := r.call(r.opts.Driver.Probe)
	if r.ctx.Err() != nil {
		return
	}
	if err == nil {
		r.nextProbe = now.Add(r.opts.ProbeEvery)
		if !r.online || !r.known {
			if r.known {
				r.log.Warn("device answers again", logkey.AfterFailures, r.failures)
			} else {
				r.log.Info("device answers")
			}
			r.setOnline(true)
		}
		r.failures = 0
		return
	}
	r.failed(err)
}

// failed handles a failed driver call: the device is offline until a probe
// succeeds; retries back off up to RetryMax.
func (r *run) failed(err error) {
	if r.ctx.Err() != nil {
		return
	}
	r.m.Errors++
	r.failures++
	r.nextProbe = time.Now().Add(r.backoff())
	if r.online || !r.known {
		r.log.Warn("device does not answer; retrying with backoff", logkey.Error, err)
		r.obs.Fault(r.opts.ID, err)
		r.setOnline(false)
		return
	}
	if r.failures%10 == 0 {
		r.log.Debug("device still does not answer", logkey.Attempts, r.failures, logkey.Error, err)
	}
}

func (r *run) backoff() time.Duration { return r.backoffFor(r.failures) }

func (r *run) backoffFor(attempts int) time.Duration {
	d := time.Second << min(attempts-1, 10)
	return min(d, r.opts.RetryMax)
}

// resetter is a driver that keeps per-connection state on the device (a
// selected channel, a frame counter, a visible app) and must set it up
// again after the device was away, since it may have restarted.
type resetter interface{ Reset() }

func (r *run) setOnline(online bool) {
	if rs, ok := r.opts.Driver.(resetter); ok && online {
		rs.Reset()
	}
	r.online, r.known = online, true
	if online && !r.nextFrame.IsZero() {
		r.frameNow() // frames missed while away are not "skipped"
	}
	if !online {
		r.applied = applied{} // unknown until it answers again
		r.shownOK = false
		r.anim = animation{}
	}
	r.obs.Availability(r.opts.ID, online)
}

// converge drives brightness and screen to the desired state and makes
// sure the current frame is on the display.
func (r *run) converge() {
	d := r.desired
	if r.applied.brightness == nil || *r.applied.brightness != d.Brightness {
		if err := r.call(func(ctx context.Context) error { return r.opts.Driver.SetBrightness(ctx, d.Brightness) }); err != nil {
			r.commandFailed("set brightness", err)
			return
		}
		r.applied.brightness = &d.Brightness
		r.log.Debug("brightness applied", logkey.Brightness, d.Brightness)
	}
	if r.applied.display == nil || *r.applied.display != d.DisplayOn {
		if err := r.call(func(ctx context.Context) error { return r.opts.Driver.SetDisplay(ctx, d.DisplayOn) }); err != nil {
			r.commandFailed("set display", err)
			return
		}
		r.applied.display = &d.DisplayOn
		r.log.Debug("display applied", logkey.On, d.DisplayOn)
	}
	if !r.shownOK && r.shownGen == r.gen && r.gen > 0 && r.nextFrame.IsZero() {
		// Back from an outage with nothing due (paused, stopped, a static
		// scene, an uploaded animation): show the frame again.
		r.frameNow()
	}
}

// commandFailed counts a failed command; a probe then tells whether the
// device is gone or merely refused this one.
func (r *run) commandFailed(what string, err error) {
	if r.ctx.Err() != nil {
		return
	}
	r.m.Errors++
	if perr := r.call(r.opts.Driver.Probe); perr != nil {
		r.failed(err)
		return
	}
	r.log.Warn("device refused a command", logkey.Command, what, logkey.Error, err)
	r.obs.Fault(r.opts.ID, errors.Join(errors.New(what), err))
	// Try again later rather than in a tight loop.
	r.holdUntil = time.Now().Add(r.backoffFor(1))
}
