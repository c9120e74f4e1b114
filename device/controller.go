package device

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"image"
	"image/png"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/state"
)

// Observer is told what a Controller sees. Its methods are called from the
// controller's goroutine and must return quickly (queue, don't block).
type Observer interface {
	// Availability reports whether the device answers.
	Availability(id string, online bool)
	// Metrics reports the controller's counters, at most once a second and
	// only when they changed.
	Metrics(id string, m Metrics)
	// Frame reports the frame on the display now, as PNG, at most once a
	// second and only when it changed.
	Frame(id string, png []byte)
	// Fault reports a device fault, once per transition (not per retry).
	Fault(id string, err error)
}

// Status is where the render loop is.
type Status string

// The statuses of the render loop.
const (
	StatusSwitching Status = "switching" // a scene (re)started; its first frame is not shown yet
	StatusRunning   Status = "running"   // playing: frames are being shown
	StatusPaused    Status = "paused"    // the loop is frozen on its last frame
	StatusStopped   Status = "stopped"   // the loop ended; the display shows black
)

// Metrics are a controller's transient counters, published but never
// persisted.
type Metrics struct {
	Status       Status    `json:"status"`
	GenerationID uint64    `json:"generationId"`
	Pushes       uint64    `json:"pushes"`
	Skipped      uint64    `json:"skipped"`
	Errors       uint64    `json:"errors"`
	FPS          float64   `json:"fps"`
	LastSeen     time.Time `json:"-"`
}

// MarshalJSON writes lastSeen as an RFC 3339 timestamp, or null before the
// device ever answered.
func (m Metrics) MarshalJSON() ([]byte, error) {
	type plain Metrics
	var last *string
	if !m.LastSeen.IsZero() {
		s := state.FormatTime(m.LastSeen)
		last = &s
	}
	return json.Marshal(struct {
		plain
		LastSeen *string `json:"lastSeen"`
	}{plain(m), last})
}

// Options configure a Controller.
type Options struct {
	// ID is the device id, used in logs and reports.
	ID string
	// Name is the device's display name, shown by the startup scene.
	Name string
	// Version is the daemon's version, shown by the startup scene.
	Version string
	// SceneDefaults are the device's own defaults of scene parameters,
	// by scene name (the fill scene's colour from the config): they stand
	// in for the scene's defaults. The controller passes them on without
	// knowing what they mean.
	SceneDefaults map[string]scene.Values
	// Location is the time zone of the clock scene (default time.Local).
	Location *time.Location
	// Driver talks to the display; only the controller's goroutine uses it.
	Driver Driver
	// Scenes are the scenes the controller can run.
	Scenes *scene.Registry
	// LogHandler receives the device's logs, filtered by its loggingLevel;
	// it must let debug records through.
	LogHandler slog.Handler
	// ProbeEvery is the health check period while the device answers
	// (default 5s).
	ProbeEvery time.Duration
	// RetryMax caps the backoff between attempts while it does not
	// (default 30s; the first retry comes after a second).
	RetryMax time.Duration
	// Timeout bounds each driver call (default 5s); the driver has its own
	// shorter per-request timeouts.
	Timeout time.Duration
	// Previews encodes the frame previews; share one between controllers
	// (default: one of the controller's own).
	Previews *Previews
}

// Controller owns one display: a single goroutine (Run) holds its driver,
// its desired state and its render loop, converges the hardware to the
// desired state, probes its health and runs the active scene. Desire is the
// only way in and never blocks.
type Controller struct {
	opts  Options
	size  scene.Size // the driver's, read once: only Run's goroutine calls the driver
	level *slog.LevelVar
	log   *slog.Logger

	mu      sync.Mutex // guards the mailbox below
	want    state.State
	restart bool // a scene (re)start was asked since Run last looked
	has     bool
	wake    chan struct{} // capacity 1: "the mailbox changed"
}

// NewController returns a controller; call Run to start it.
func NewController(opts Options) *Controller {
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.ProbeEvery <= 0 {
		opts.ProbeEvery = 5 * time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 30 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.LogHandler == nil {
		opts.LogHandler = slog.DiscardHandler
	}
	if opts.Previews == nil {
		opts.Previews = NewPreviews()
	}
	level := new(slog.LevelVar)
	level.Set(SlogLevel(state.LevelWarning))
	return &Controller{
		opts:  opts,
		size:  opts.Driver.Size(),
		level: level,
		log:   slog.New(NewLevelHandler(opts.LogHandler, level)).With(logkey.Device, opts.ID),
		wake:  make(chan struct{}, 1),
	}
}

// ID is the device id.
func (c *Controller) ID() string { return c.opts.ID }

// Size is the display size.
func (c *Controller) Size() scene.Size { return c.size }

// Scenes lists the scenes this display can show.
func (c *Controller) Scenes() []string { return c.opts.Scenes.For(c.Size()) }

// CheckScene returns nil if this display can show scene name, and otherwise
// an error that says why.
func (c *Controller) CheckScene(name string) error { return c.opts.Scenes.Check(name, c.Size()) }

// Logger logs about this device at its own loggingLevel.
func (c *Controller) Logger() *slog.Logger { return c.log }

// Desire sets the state the hardware should be driven to. restartScene
// (re)starts the active scene even if it is the current one. The device's
// log level changes at once; the rest is applied by Run, now or, while the
// device does not answer, when it answers again. Desire never blocks.
func (c *Controller) Desire(st state.State, restartScene bool) {
	c.level.Set(SlogLevel(st.LoggingLevel))
	c.mu.Lock()
	c.want = st
	c.restart = c.restart || restartScene
	c.has = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Controller) takeDesired() (state.State, bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.restart
	c.restart = false
	return c.want, r, c.has
}

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
	holdUntil time.Time // after a refused command: no commands before this
	failures  int       // failed probes in a row while offline

	gen        uint64
	sc         scene.Scene
	params     scene.Values // the scene's parameters, defaults filled in
	frameNo    int
	nextFrame  time.Time // zero: no frame due
	interval   time.Duration
	buf, shown *image.RGBA
	shownGen   uint64
	shownOK    bool // shown is on the display (false after an outage)

	m           Metrics
	sentMetrics Metrics
	metricsAt   time.Time // the last metrics tick
	pushesAt    uint64    // pushes at the last metrics tick, for fps
	previewAt   time.Time
	previewDue  bool
	previewSum  uint64 // hash of the pixels of the last preview sent
	previewSent bool
	pngBuf      bytes.Buffer
}

// Previews encodes frame previews as PNG for any number of controllers at
// once: fast compression (a preview is a few KB either way) and one shared
// pool of the encoder's buffers, which hold a compressor of about a
// megabyte; one per device would cost that much per device.
type Previews struct {
	enc png.Encoder
}

// NewPreviews returns a preview encoder to share between controllers.
func NewPreviews() *Previews {
	return &Previews{enc: png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngPool{}}}
}

// Encode writes img as PNG to w. It is safe for concurrent use.
func (p *Previews) Encode(w io.Writer, img image.Image) error { return p.enc.Encode(w, img) }

// pngPool lends encoder buffers; what is not in use is freed by the GC.
type pngPool struct{ pool sync.Pool }

func (p *pngPool) Get() *png.EncoderBuffer {
	b, _ := p.pool.Get().(*png.EncoderBuffer)
	return b
}

func (p *pngPool) Put(b *png.EncoderBuffer) { p.pool.Put(b) }

// applied is what the hardware is known to show; nil is unknown.
type applied struct {
	brightness *int
	display    *bool
}

// Run drives the device until ctx is done, telling obs what it sees. It
// returns nil on cancellation.
func (c *Controller) Run(ctx context.Context, obs Observer) error {
	size := c.Size()
	r := &run{
		Controller: c,
		ctx:        ctx,
		obs:        obs,
		buf:        image.NewRGBA(image.Rect(0, 0, size.W, size.H)),
		shown:      image.NewRGBA(image.Rect(0, 0, size.W, size.H)),
		m:          Metrics{Status: StatusSwitching},
	}
	r.sentMetrics.Status = "" // so the first tick publishes
	r.metricsAt = time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		r.poll()
		r.step()
		if now := time.Now(); !now.Before(r.metricsAt.Add(time.Second)) {
			r.tickMetrics(now)
		}
		timer.Reset(r.untilNext())
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
			r.takeDesired()
		case <-timer.C:
		}
	}
}

// poll takes a desired state that arrived while the loop was busy (a slow
// device), so that nothing is done for a state that is no longer wanted.
func (r *run) poll() {
	select {
	case <-r.wake:
		r.takeDesired()
	default:
	}
}

// takeDesired moves the mailbox into the loop and starts, pauses or stops
// the render loop to match.
func (r *run) takeDesired() {
	st, restart, has := r.Controller.takeDesired()
	if !has {
		return
	}
	first := !r.has
	prev := r.desired
	r.desired, r.has = st, true
	if first || restart || st.ActiveScene != prev.ActiveScene {
		r.startScene()
	}
	if !first && !restart && st.ActiveScene == prev.ActiveScene && st.PlayState != prev.PlayState {
		r.log.Debug("play state", logkey.From, prev.PlayState, logkey.To, st.PlayState)
		r.playStateChanged()
	}
}

// startScene begins a new generation of the active scene.
func (r *run) startScene() {
	r.gen++
	r.m.GenerationID = r.gen
	r.frameNo = 0
	sc, ok := r.opts.Scenes.Lookup(r.desired.ActiveScene)
	if !ok || !sc.Supports(r.Size()) {
		r.log.Error("scene cannot run here; showing black", logkey.Scene, r.desired.ActiveScene)
		sc = scene.Scene{Name: r.desired.ActiveScene, Render: func(dst *image.RGBA, _ scene.Frame) { fillBlack(dst) }}
	}
	r.sc = sc
	r.params = sc.WithDefaults(r.opts.SceneDefaults[sc.Name])
	fps := sc.FPS
	if maxFPS := r.opts.Driver.MaxFPS(); maxFPS > 0 && (fps == 0 || fps > maxFPS) && sc.FPS > 0 {
		fps = maxFPS
	}
	r.interval = 0
	if fps > 0 {
		r.interval = time.Duration(float64(time.Second) / fps)
	}
	r.log.Info("scene started", logkey.Scene, sc.Name, logkey.Generation, r.gen, logkey.PlayState, r.desired.PlayState)
	r.playStateChanged()
}

// playStateChanged sets the loop and status for the desired play state.
func (r *run) playStateChanged() {
	switch r.desired.PlayState {
	case state.Playing:
		r.m.Status = StatusSwitching
		if r.shownGen == r.gen && r.shownOK {
			r.m.Status = StatusRunning
		}
		r.nextFrame = time.Now()
	case state.Paused:
		r.m.Status = StatusPaused
		r.nextFrame = time.Time{}
		if r.shownGen != r.gen {
			// A scene that starts paused shows its first frame, frozen.
			r.nextFrame = time.Now()
		}
	case state.Stopped:
		r.m.Status = StatusStopped
		r.nextFrame = time.Now() // one black frame, then nothing
	}
}

// untilNext is how long the loop may sleep before something is due.
func (r *run) untilNext() time.Duration {
	next := r.nextProbe
	if m := r.metricsAt.Add(time.Second); m.Before(next) {
		next = m
	}
	if r.online && r.has && !r.nextFrame.IsZero() {
		f := r.nextFrame
		if f.Before(r.holdUntil) {
			f = r.holdUntil
		}
		if f.Before(next) {
			next = f
		}
	}
	return max(time.Until(next), 0)
}

// step does whatever is due: probe, converge, push a frame.
func (r *run) step() {
	now := time.Now()
	if !r.online && !now.Before(r.nextProbe) {
		r.probe(now)
	}
	if r.online && r.has && !now.Before(r.holdUntil) {
		r.converge()
	}
	r.poll() // converging may have taken a while
	if r.online && r.has && !r.nextFrame.IsZero() && !time.Now().Before(r.nextFrame) && !now.Before(r.holdUntil) {
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
		r.nextFrame = time.Now() // frames missed while away are not "skipped"
	}
	if !online {
		r.applied = applied{} // unknown until it answers again
		r.shownOK = false
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
		// Back from an outage with the loop paused or stopped: show the
		// last frame again.
		r.push(r.shown, false)
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

// frame renders and pushes the frame that is due, and schedules the next.
func (r *run) frame() {
	due := r.nextFrame
	switch r.desired.PlayState {
	case state.Stopped:
		fillBlack(r.buf)
		r.nextFrame = time.Time{}
	case state.Playing, state.Paused:
		r.sc.Render(r.buf, scene.Frame{
			DeviceName: r.opts.Name,
			Version:    r.opts.Version,
			Now:        time.Now().In(r.opts.Location),
			Number:     r.frameNo,
			Params:     r.params,
		})
		r.frameNo++
		r.nextFrame = time.Time{}
		if r.desired.PlayState == state.Playing && r.interval > 0 {
			r.nextFrame = due.Add(r.interval)
		}
	default:
		r.nextFrame = time.Time{}
		return
	}
	gen := r.gen
	if !r.push(r.buf, true) {
		return
	}
	if r.desired.PlayState == state.Playing && gen == r.gen {
		r.m.Status = StatusRunning
	}
	// Frames whose time passed while the device was busy are dropped, not
	// queued.
	if !r.nextFrame.IsZero() {
		if late := time.Since(r.nextFrame); late >= r.interval {
			missed := uint64(late / r.interval)
			r.m.Skipped += missed
			r.nextFrame = r.nextFrame.Add(time.Duration(missed) * r.interval)
		}
	}
}

// push shows frame on the device, unless it is already there; it reports
// whether the display now shows it.
func (r *run) push(frame *image.RGBA, skipSame bool) bool {
	if skipSame && r.shownOK && r.shownGen == r.gen && bytes.Equal(frame.Pix, r.shown.Pix) {
		return true
	}
	if err := r.call(func(ctx context.Context) error { return r.opts.Driver.PushFrame(ctx, frame) }); err != nil {
		r.commandFailed("push frame", err)
		return false
	}
	r.m.Pushes++
	if frame != r.shown {
		r.buf, r.shown = r.shown, r.buf
	}
	r.shownGen, r.shownOK = r.gen, true
	r.previewDue = true
	r.maybePreview(time.Now())
	return true
}

// maybePreview reports the shown frame as PNG, at most once a second.
func (r *run) maybePreview(now time.Time) {
	if !r.previewDue || now.Sub(r.previewAt) < time.Second {
		return
	}
	r.previewDue = false
	sum := pixelsHash(r.shown.Pix)
	if r.previewSent && sum == r.previewSum {
		return // the same picture as the last preview: nothing to send
	}
	r.pngBuf.Reset()
	if err := r.opts.Previews.Encode(&r.pngBuf, r.shown); err != nil {
		r.log.Error("encode frame preview", logkey.Error, err)
		return
	}
	r.previewAt = now
	r.previewSum, r.previewSent = sum, true
	// A copy: the observer keeps it, and pngBuf is reused.
	r.obs.Frame(r.opts.ID, bytes.Clone(r.pngBuf.Bytes()))
}

// tickMetrics publishes the metrics if they changed, and a pending
// preview; it runs about once a second, however slow the device.
func (r *run) tickMetrics(now time.Time) {
	secs := now.Sub(r.metricsAt).Seconds()
	r.m.FPS = math.Round(float64(r.m.Pushes-r.pushesAt)/secs*10) / 10
	r.metricsAt, r.pushesAt = now, r.m.Pushes
	r.maybePreview(now)
	if r.m != r.sentMetrics {
		r.sentMetrics = r.m
		r.obs.Metrics(r.opts.ID, r.m)
	}
}

// pixelsHash is a 64-bit FNV-1a hash of a frame's pixels: enough to tell
// whether a preview changed without keeping a copy of the frame.
func pixelsHash(pix []byte) uint64 {
	h := fnv.New64a()
	h.Write(pix)
	return h.Sum64()
}

func fillBlack(dst *image.RGBA) {
	for i := 0; i < len(dst.Pix); i += 4 {
		dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = 0, 0, 0, 255
	}
}
