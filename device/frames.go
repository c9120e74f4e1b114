package device

import (
	"bytes"
	"context"
	"hash/fnv"
	"hash/maphash"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"sync"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/state"
)

// noteSpeed is how fast a notification's text scrolls, in pixels a second.
const noteSpeed = 20

// noteImage is the name under which a notification's inline image is
// drawn.
const noteImage = "data:"

// frame renders the frame that is due, pushes it through the pacing point
// and schedules the next. What is drawn: the notification on screen, else
// black when stopped, else the scene (its frozen frame when paused). The
// frame is lent by Buffers for the time it is drawn and pushed.
func (r *run) frame() {
	due := r.nextFrame
	r.nextFrame = time.Time{}
	now := time.Now()
	scheduled := false
	if r.animating() {
		if !r.anim.sent {
			r.uploadAnimationFrame()
		}
		return
	}
	buf := r.opts.Buffers.Frame(r.size)
	switch {
	case r.note != nil:
		r.drawNote(buf, now)
		if r.noteScroll {
			r.nextFrame = nextOnGrid(due, r.minGap, now)
		}
	case r.desired.PlayState == state.Stopped:
		fillBlack(buf)
	case r.desired.PlayState == state.Paused && r.rendered:
		r.sc.Render(buf, r.input)
	default:
		r.input = scene.Frame{
			DeviceName: r.opts.Name,
			Version:    r.opts.Version,
			Now:        now.In(r.opts.Location),
			Number:     r.frameNo,
			Elapsed:    now.Sub(r.sceneStart),
			Params:     r.params,
			Images:     r.opts.Images,
		}
		r.sc.Render(buf, r.input)
		r.rendered = true
		r.frameNo++
		if r.desired.PlayState == state.Playing && r.interval > 0 {
			r.nextFrame, scheduled = due.Add(r.interval), true
			if r.frameNo == 1 {
				r.nextFrame = r.nextFrame.Add(r.phase())
			}
		}
	}
	gen := r.gen
	if !r.push(buf, true) {
		return
	}
	if r.note == nil && r.desired.PlayState == state.Playing && gen == r.gen {
		r.m.Status = StatusRunning
	}
	// Frames whose time passed while the device was busy are dropped, not
	// queued.
	if scheduled {
		if late := time.Since(r.nextFrame); late >= r.interval {
			missed := uint64(late / r.interval)
			r.m.Skipped += missed
			r.nextFrame = r.nextFrame.Add(time.Duration(missed) * r.interval)
		}
	}
}

// push shows frame on the device, unless it is already there (the hash of
// its pixels is the shown one's); it reports whether the display now
// shows it. It takes frame over: frame is kept for its preview, or given
// back to Buffers.
func (r *run) push(frame *image.RGBA, skipSame bool) bool {
	sum := pixelsHash(r.seed, frame.Pix)
	if skipSame && r.shownOK && r.shownGen == r.gen && sum == r.shownSum {
		r.opts.Buffers.PutFrame(frame)
		return true
	}
	r.lastPush = time.Now()
	var sent time.Time
	err := r.call(func(ctx context.Context) error {
		return r.opts.Driver.PushFrame(WithFrameSent(ctx, func(t time.Time) { sent = t }), frame)
	})
	r.pace.pushed(sentOr(sent, time.Now()))
	if err != nil {
		r.opts.Buffers.PutFrame(frame)
		r.commandFailed("push frame", err)
		return false
	}
	r.m.Pushes++
	r.shown(frame, sum)
	return true
}

// shown records that the display shows frame (whose pixels hash to sum),
// and sends its preview, or keeps frame until the preview is due.
func (r *run) shown(frame *image.RGBA, sum uint64) {
	r.shownSum, r.shownGen, r.shownOK = sum, r.gen, true
	if r.held != frame {
		r.opts.Buffers.PutFrame(r.held)
	}
	r.held = frame
	r.previewDue = true
	r.maybePreview(time.Now())
}

// noteValues are the text scene's parameters that draw notification n.
func noteValues(n *Notification) scene.Values {
	icon := n.Icon
	if n.Text != "" && (n.Image != "" || n.Picture != nil) {
		icon = n.Image
		if n.Picture != nil {
			icon = noteImage
		}
	}
	v := scene.Values{
		"color":      n.Color,
		"background": n.Background,
		"scroll":     "auto",
		"speed":      noteSpeed,
		"align":      "center",
	}
	if icon != "" {
		v["icon"] = icon
	}
	return v
}

// drawNote draws the notification on screen.
func (r *run) drawNote(dst *image.RGBA, now time.Time) {
	DrawNotification(dst, r.note, r.opts.Images, now.Sub(r.noteStart))
}

// DrawNotification draws n over the whole of dst, elapsed after it
// appeared: its text (with its icon, or its image as the icon), or its
// image alone.
func DrawNotification(dst *image.RGBA, n *Notification, stored scene.ImageSource, elapsed time.Duration) {
	images := noteImages{ImageSource: stored, pic: n.Picture, scaled: n.scaled}
	b := dst.Bounds()
	if n.Text == "" {
		bg := n.Background
		bg.A = 255
		draw.Draw(dst, dst.Bounds(), &image.Uniform{C: bg}, image.Point{}, draw.Src)
		name := n.Image
		if n.Picture != nil {
			name = noteImage
		}
		if a, err := images.Scaled(name, b.Dx(), b.Dy(), picture.Contain, bg); err == nil && len(a.Frames) > 0 {
			f := a.Frames[scene.FrameAt(a.Delays, elapsed)]
			draw.Draw(dst, b, f, image.Point{}, draw.Src)
		}
		return
	}
	scene.RenderText(dst, n.Text, noteValues(n), images, elapsed)
}

// noteImages is the image store with a notification's inline image under
// the name noteImage.
type noteImages struct {
	scene.ImageSource
	pic    *picture.Picture
	scaled *scaledPicture // or nil
}

func (n noteImages) Has(name string) bool {
	if name == noteImage {
		return n.pic != nil
	}
	return n.ImageSource != nil && n.ImageSource.Has(name)
}

func (n noteImages) Scaled(name string, w, h int, fit picture.Fit, bg color.RGBA) (*picture.Animation, error) {
	if name == noteImage && n.pic != nil {
		if n.scaled != nil {
			return n.scaled.get(n.pic, w, h, fit, bg)
		}
		return n.pic.Scaled(w, h, fit, bg)
	}
	if n.ImageSource == nil {
		return nil, picture.ErrNotFound
	}
	return n.ImageSource.Scaled(name, w, h, fit, bg)
}

// scaledPicture keeps the last scaling of a picture. Safe for concurrent
// use.
type scaledPicture struct {
	mu   sync.Mutex
	key  scaling
	anim *picture.Animation
}

// scaling is one way to scale a picture.
type scaling struct {
	w, h int
	fit  picture.Fit
	bg   color.RGBA
}

// get is p scaled so, from the last scaling if it was the same.
func (s *scaledPicture) get(p *picture.Picture, w, h int, fit picture.Fit, bg color.RGBA) (*picture.Animation, error) {
	key := scaling{w, h, fit, bg}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.anim != nil && s.key == key {
		return s.anim, nil
	}
	a, err := p.Scaled(w, h, fit, bg)
	if err != nil {
		return nil, err
	}
	s.key, s.anim = key, a
	return a, nil
}

// Animator is a Driver that can hand the display a whole animation, which
// the display then plays by itself (a Pixoo 64's multi-frame upload):
// one request per frame instead of one per frame shown, forever.
type Animator interface {
	// MaxAnimationFrames is the most frames one animation may have.
	MaxAnimationFrames() int
	// PushAnimationFrame sends frame index of an animation of count
	// frames, each shown for delay; index 0 starts a new animation, and the
	// display plays it once the last frame is in.
	PushAnimationFrame(ctx context.Context, frame *image.RGBA, index, count int, delay time.Duration) error
}

// animation is an animation being handed to an Animator.
type animation struct {
	checked bool // the scene was asked for an animation
	frames  []*image.RGBA
	delays  []time.Duration
	next    int  // the next frame to send
	sent    bool // every frame was sent (and dropped): the display plays it
}

// phase is where in the frame interval this display's frames fall after
// the first frame of a scene: its own place, from its id, so that
// displays that start together do not all draw and send in the same
// millisecond (a thousand of them queued for the CPUs, each frame late).
func (r *run) phase() time.Duration {
	h := fnv.New32a()
	h.Write([]byte(r.opts.ID))
	return time.Duration(uint64(h.Sum32()) % uint64(r.interval))
}

// sentOr is when a frame was handed to the display: sent, as the driver
// told it (WithFrameSent), or else when the driver returned.
func sentOr(sent, returned time.Time) time.Time {
	if sent.IsZero() {
		return returned
	}
	return sent
}

// uploading reports whether an animation is being handed to the display.
func (r *run) uploading() bool {
	return r.anim.checked && !r.anim.sent && len(r.anim.frames) > 1
}

// nextOnGrid is the frame after due on a grid of interval: due+interval,
// or now when that has passed by a whole interval (frames are dropped,
// not caught up).
func nextOnGrid(due time.Time, interval time.Duration, now time.Time) time.Time {
	next := due.Add(interval)
	if due.IsZero() || now.Sub(next) >= interval {
		return now
	}
	return next
}

// animating reports whether the scene is an animation the display plays
// by itself, and loads it the first time it is asked.
func (r *run) animating() bool {
	ani, ok := r.opts.Driver.(Animator)
	if !ok || r.sc.Animation == nil || r.desired.PlayState != state.Playing {
		return false
	}
	if !r.anim.checked {
		r.anim = animation{checked: true}
		if a := r.sc.Animation(r.size, r.params, r.opts.Images); a != nil && len(a.Frames) > 1 {
			r.anim.frames, r.anim.delays = fewerFrames(a.Frames, a.Delays, ani.MaxAnimationFrames())
		}
	}
	return r.anim.sent || len(r.anim.frames) > 1
}

// uploadAnimationFrame sends the next frame of the animation, one per
// pacing slot; after the last, nothing is due until something changes.
func (r *run) uploadAnimationFrame() {
	ani := r.opts.Driver.(Animator)
	i, count := r.anim.next, len(r.anim.frames)
	delay := max(r.anim.delays[i], r.minGap) // never faster than the display's limit
	r.lastPush = time.Now()
	var sent time.Time
	err := r.call(func(ctx context.Context) error {
		return ani.PushAnimationFrame(WithFrameSent(ctx, func(t time.Time) { sent = t }), r.anim.frames[i], i, count, delay)
	})
	r.pace.pushed(sentOr(sent, time.Now()))
	if err != nil {
		r.anim.next = 0 // start over
		r.frameNow()
		r.commandFailed("push animation", err)
		return
	}
	r.m.Pushes++
	if r.anim.next++; r.anim.next < count {
		r.frameNow()
		return
	}
	r.log.Debug("animation handed to the display", logkey.Count, count)
	first := r.opts.Buffers.Frame(r.size)
	copy(first.Pix, r.anim.frames[0].Pix)
	// The display plays the animation by itself: its frames are not
	// needed until it has to be sent again.
	r.anim.frames, r.anim.delays, r.anim.sent = nil, nil, true
	r.m.Status = StatusRunning
	r.shown(first, pixelsHash(r.seed, first.Pix))
}

// fewerFrames returns at most n frames of an animation, evenly chosen,
// each shown for the time of the frames it stands for.
func fewerFrames(frames []*image.RGBA, delays []time.Duration, n int) ([]*image.RGBA, []time.Duration) {
	if n <= 0 || len(frames) <= n {
		return frames, delays
	}
	outF := make([]*image.RGBA, n)
	outD := make([]time.Duration, n)
	for i := range len(frames) {
		j := i * n / len(frames)
		if outF[j] == nil {
			outF[j] = frames[i]
		}
		outD[j] += delays[i]
	}
	return outF, outD
}

// maybePreview reports the frame held for it as PNG, at most once a
// second, and gives the frame back.
func (r *run) maybePreview(now time.Time) {
	if !r.previewDue || r.held == nil || now.Sub(r.previewAt) < time.Second {
		return
	}
	r.previewDue = false
	frame := r.held
	r.held = nil
	defer r.opts.Buffers.PutFrame(frame)
	if r.previewSent && r.shownSum == r.previewSum {
		return // the same picture as the last preview: nothing to send
	}
	buf := r.opts.Buffers.Bytes(4 << 10)
	defer r.opts.Buffers.PutBytes(buf)
	w := bytes.NewBuffer(*buf)
	if err := r.opts.Previews.Encode(w, frame); err != nil {
		r.log.Error("encode frame preview", logkey.Error, err)
		return
	}
	*buf = w.Bytes()
	r.previewAt = now
	r.previewSum, r.previewSent = r.shownSum, true
	// A copy: the observer keeps it, and buf goes back to Buffers.
	r.obs.Frame(r.opts.ID, bytes.Clone(*buf))
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

// pixelsHash is a 64-bit hash of a frame's pixels: enough to tell whether
// the display or a preview already shows a frame without keeping a copy
// of it.
func pixelsHash(seed maphash.Seed, pix []byte) uint64 { return maphash.Bytes(seed, pix) }

func fillBlack(dst *image.RGBA) {
	for i := 0; i < len(dst.Pix); i += 4 {
		dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = 0, 0, 0, 255
	}
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
