package device

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
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
	// Notification reports the notification on screen and the queue,
	// whenever they change.
	Notification(id string, s NotificationStatus)
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

// MaxFPS is the most frames a second any display gets (CONTRACT §7).
const MaxFPS = 5.0

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
	// Scenes are the scenes the controller can run: a *scene.Registry, or
	// a *scene.Catalog whose scenes change while it runs (call Reload).
	Scenes scene.Scenes
	// Images are the stored images scenes and notifications show (nil:
	// none).
	Images scene.ImageSource
	// MaxFPS caps the frames a second sent to the display, whatever
	// triggers them (default and at most MaxFPS; lower if the driver
	// takes fewer).
	MaxFPS float64
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
	// Buffers lends the frames drawn; share one between controllers and
	// drivers (default: the controller's own).
	Buffers *Buffers
}

// Controller owns one display: a single goroutine (Run) holds its driver,
// its desired state and its render loop, converges the hardware to the
// desired state, probes its health, runs the active scene and shows
// notifications over it, every frame through one pacing point. Desire,
// Notify and Dismiss are the ways in; none blocks on the display.
type Controller struct {
	opts Options
	size scene.Size // the driver's, read once: only Run's goroutine calls the driver
	// wakeups counts the render loop's rounds: a test tells a loop that
	// spins from one that waits by it.
	wakeups atomic.Uint64
	maxFPS  float64
	seed    maphash.Seed // of the hashes of the frames shown
	level   *slog.LevelVar
	log     *slog.Logger

	mu      sync.Mutex // guards the mailbox below
	want    state.State
	restart bool // a scene (re)start was asked since Run last looked
	has     bool
	// notes is the notification queue: showing (nil: none) and the ones
	// waiting, high priority first; notesChanged tells Run to look.
	showing      *Notification
	queue        []*Notification
	restartNote  bool // showing was replaced: show it from its start
	notesChanged bool
	reload       bool          // the scenes changed: look the active one up again
	reboots      []func(error) // reboots asked for (Reboot): each asker's done
	stopped      bool          // Run returned: no more reboots
	redraw       bool          // the scene's inputs changed: draw it again
	wake         chan struct{} // capacity 1: "the mailbox changed"

	running *run // Run's state; only Run's goroutine touches it
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
	if opts.Buffers == nil {
		opts.Buffers = NewBuffers()
	}
	maxFPS := MaxFPS
	if opts.MaxFPS > 0 {
		maxFPS = min(maxFPS, opts.MaxFPS)
	}
	if d := opts.Driver.MaxFPS(); d > 0 {
		maxFPS = min(maxFPS, d)
	}
	level := new(slog.LevelVar)
	level.Set(SlogLevel(state.LevelWarning))
	return &Controller{
		opts:   opts,
		size:   opts.Driver.Size(),
		maxFPS: maxFPS,
		seed:   maphash.MakeSeed(),
		level:  level,
		log:    slog.New(NewLevelHandler(opts.LogHandler, level)).With(logkey.Device, opts.ID),
		wake:   make(chan struct{}, 1),
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

// Scene looks up scene name.
func (c *Controller) Scene(name string) (scene.Scene, bool) { return c.opts.Scenes.Lookup(name) }

// CheckParams checks the parameters of scene name on this display and
// returns them in canonical form (colours as #rrggbb, keys sorted); an
// error says which parameter is wrong and why, or that the scene cannot
// run here.
func (c *Controller) CheckParams(name string, params state.SceneParams) (state.SceneParams, error) {
	if err := c.CheckScene(name); err != nil {
		return "", err
	}
	sc, _ := c.opts.Scenes.Lookup(name)
	v, err := sc.Check(params.Map(), c.opts.Images)
	if err != nil {
		return "", err
	}
	return state.ParamsOf(v.JSON()), nil
}

// CheckState checks the scene and its parameters of a restored state.
func (c *Controller) CheckState(st state.State) error {
	_, err := c.CheckParams(st.ActiveScene, st.SceneParams)
	return err
}

// Logger logs about this device at its own loggingLevel.
func (c *Controller) Logger() *slog.Logger { return c.log }

// Desire sets the state the hardware should be driven to. restartScene
// (re)starts the active scene even if it is the current one. The device's
// log level changes at once; the rest is applied by Run, now or, while the
// device does not answer, when it answers again. Turning the display off
// drops the notifications. Desire never blocks.
func (c *Controller) Desire(st state.State, restartScene bool) {
	c.level.Set(SlogLevel(st.LoggingLevel))
	c.mu.Lock()
	c.want = st
	c.restart = c.restart || restartScene
	c.has = true
	if !st.DisplayOn && (c.showing != nil || len(c.queue) > 0) {
		c.showing, c.queue = nil, nil
		c.notesChanged = true
	}
	c.mu.Unlock()
	c.poke()
}

func (c *Controller) poke() {
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

// Notify shows n over the active scene (CONTRACT §7): after the
// notifications queued before it, a high one before the normal ones and
// in place of a normal one on screen (which waits again). One with the id
// of a queued or shown one replaces it. It returns ErrDisplayOff while the
// display is off and ErrQueueFull when MaxQueued are there already; it
// never blocks.
func (c *Controller) Notify(n Notification) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.has && !c.want.DisplayOn {
		return ErrDisplayOff
	}
	note := &n
	switch {
	case n.ID != "" && c.showing != nil && c.showing.ID == n.ID:
		c.showing, c.restartNote = note, true
	case n.ID != "" && slices.ContainsFunc(c.queue, func(q *Notification) bool { return q.ID == n.ID }):
		i := slices.IndexFunc(c.queue, func(q *Notification) bool { return q.ID == n.ID })
		c.queue = slices.Delete(c.queue, i, i+1)
		c.enqueueLocked(note)
	default:
		count := len(c.queue)
		if c.showing != nil {
			count++
		}
		if count >= MaxQueued {
			return fmt.Errorf("%w: %d notifications wait already (at most %d, the one on screen included)", ErrQueueFull, count, MaxQueued)
		}
		c.enqueueLocked(note)
	}
	if n.Priority == PriorityHigh && c.showing != nil && c.showing.Priority != PriorityHigh {
		// A high one interrupts a normal one, which waits again in front
		// of the other normal ones.
		c.queue = slices.DeleteFunc(c.queue, func(q *Notification) bool { return q == note })
		c.enqueueFrontLocked(c.showing)
		c.showing, c.restartNote = note, true
	}
	c.promoteLocked()
	c.notesChanged = true
	c.poke()
	return nil
}

// promoteLocked puts the head of the queue on screen when none shows, so
// that the one on screen is always known (a dismissal right after another
// ends the next one).
func (c *Controller) promoteLocked() {
	if c.showing == nil && len(c.queue) > 0 {
		c.showing, c.queue = c.queue[0], c.queue[1:]
		c.restartNote = true
	}
}

// enqueueLocked queues n behind the ones of its priority.
func (c *Controller) enqueueLocked(n *Notification) {
	if n.Priority != PriorityHigh {
		c.queue = append(c.queue, n)
		return
	}
	i := slices.IndexFunc(c.queue, func(q *Notification) bool { return q.Priority != PriorityHigh })
	if i < 0 {
		i = len(c.queue)
	}
	c.queue = slices.Insert(c.queue, i, n)
}

// enqueueFrontLocked queues n in front of the others of its priority.
func (c *Controller) enqueueFrontLocked(n *Notification) {
	i := 0
	if n.Priority != PriorityHigh {
		i = slices.IndexFunc(c.queue, func(q *Notification) bool { return q.Priority != PriorityHigh })
		if i < 0 {
			i = len(c.queue)
		}
	}
	c.queue = slices.Insert(c.queue, i, n)
}

// Reload looks the active scene up again at its next frame, with its
// parameters: the scenes changed (a scene file was added, edited or
// removed). A scene that is gone shows black until it is back.
func (c *Controller) Reload() {
	c.mu.Lock()
	c.reload = true
	c.mu.Unlock()
	c.poke()
}

// takeReload reports whether Reload was called since the last call.
func (c *Controller) takeReload() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.reload
	c.reload = false
	return r
}

// Redraw draws the playing scene again at its next frame (the frame limit
// applies): the MQTT inputs it shows changed. A paused or stopped scene
// stays as it is. Redraw never blocks.
func (c *Controller) Redraw() {
	c.mu.Lock()
	c.redraw = true
	c.mu.Unlock()
	c.poke()
}

// takeRedraw reports whether Redraw was called since the last call.
func (c *Controller) takeRedraw() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.redraw
	c.redraw = false
	return r
}

// ErrNoNotification is returned by Dismiss when there is nothing to end.
var ErrNoNotification = errors.New("no such notification")

// Dismiss ends the notification on screen (id "") or removes the one with
// that id, shown or queued.
func (c *Controller) Dismiss(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case id == "" && c.showing != nil, id != "" && c.showing != nil && c.showing.ID == id:
		c.showing = nil
	case id != "" && slices.ContainsFunc(c.queue, func(q *Notification) bool { return q.ID == id }):
		c.queue = slices.DeleteFunc(c.queue, func(q *Notification) bool { return q.ID == id })
	case id == "":
		return fmt.Errorf("%w on screen", ErrNoNotification)
	default:
		return fmt.Errorf("%w with id %q", ErrNoNotification, id)
	}
	c.promoteLocked()
	c.notesChanged = true
	c.poke()
	return nil
}

// takeNotes returns the notification to show, whether it must start over
// and whether the queue changed since the last call.
func (c *Controller) takeNotes() (showing *Notification, restart, changed bool, status NotificationStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	showing, restart, changed = c.showing, c.restartNote, c.notesChanged
	c.restartNote, c.notesChanged = false, false
	return showing, restart, changed, NotificationStatus{Showing: c.showing, Queued: len(c.queue)}
}

// endNote ends the notification n if it is still the one on screen.
func (c *Controller) endNote(n *Notification) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.showing == n {
		c.showing = nil
		c.promoteLocked()
		c.notesChanged = true
	}
}
