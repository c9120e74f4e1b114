// Package pixoo64 drives a Divoom Pixoo 64 over its local HTTP API: every
// command is a JSON object POSTed to http://<host>/post, answered by a JSON
// object whose error_code is 0 on success.
//
// Newer firmware, and the Pixoo 64 II, have been reported to take the same
// commands at http://<host>:9000/divoom_api instead (APIDivoom). By default
// (APIAuto) the Client tries the classic endpoint first and the other one
// when the first refuses the connection, answers 404 or does not answer,
// and keeps to the endpoint that answered until a request gets no answer
// there (an outage, a firmware update), when it looks again.
//
// The firmware is fragile: it answers unknown or malformed commands with a
// plain string instead of JSON, stops responding when the frame id
// (PicID) grows for a few hundred frames without a reset, and is slow. The
// Client therefore bounds every request with a timeout, caps the reply size,
// treats every reply that is not a clean error_code 0 as an error, and
// resets the frame id counter on a fixed period and after any failure.
package pixoo64

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/httpdevice"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/sim"
)

// Geometry and limits of the Pixoo 64.
const (
	// Width and Height are the panel size in pixels.
	Width, Height = 64, 64
	// MaxFPS is the highest frame rate the device keeps up with.
	MaxFPS = 5.0
	// MaxReplyBytes caps a reply body; a longer reply is an error. The
	// largest real reply (Channel/GetAllConf) is well under 1 KiB.
	MaxReplyBytes = 64 << 10
)

// Defaults for Options.
const (
	// DefaultTimeout bounds one request when Options.Timeout is zero.
	DefaultTimeout = 3 * time.Second
	// DefaultResetEvery is the PicID reset period when Options.ResetEvery
	// is zero.
	DefaultResetEvery = 32
)

// Sentinels wrapped by the Client's errors, for errors.Is. Failures to get
// an answer at all wrap the network error instead (syscall.ECONNREFUSED,
// context.DeadlineExceeded for the per-request timeout, ...).
var (
	// ErrDevice is wrapped when the device answered but refused the
	// command: a non-zero error_code or ReturnCode, the "Request data
	// illegal json" string, or an HTTP status other than 200.
	ErrDevice = errors.New("pixoo64: device reported an error")
	// ErrBadReply is wrapped when the device answered something that is not
	// a valid reply: not JSON, no error_code, missing fields, or longer
	// than MaxReplyBytes.
	ErrBadReply = errors.New("pixoo64: bad reply")
)

// API is the way a Pixoo 64's firmware takes commands: the same requests
// and replies at one of two endpoints.
type API string

// The APIs, as devices[].api spells them.
const (
	// APIAuto tries APIPost, then APIDivoom, and keeps to the one that
	// answered until a request gets no answer there.
	APIAuto API = "auto"
	// APIPost is the classic endpoint, http://host[:port]/post (port 80
	// when the host names none).
	APIPost API = "post"
	// APIDivoom is the endpoint of newer firmware and the Pixoo 64 II,
	// http://host:9000/divoom_api, or at the port the host names.
	APIDivoom API = "divoom_api"
)

// DivoomAPIPort is the port of APIDivoom when the host names none.
const DivoomAPIPort = "9000"

// APIs lists the APIs a Client speaks, the default (APIAuto) first.
func APIs() []string { return []string{string(APIAuto), string(APIPost), string(APIDivoom)} }

// Options tunes a Client. The zero value is ready to use.
type Options struct {
	// API is the endpoint commands go to; empty means APIAuto.
	API API
	// Logger is told which endpoint answers, when that changes (APIAuto);
	// nil logs nothing.
	Logger *slog.Logger
	// Timeout bounds each request, reply included; zero or less means
	// DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means a client of the Client's own
	// that ignores proxy settings (the device is on the local network).
	// Its own Timeout, if any, also applies.
	HTTPClient *http.Client
	// ResetEvery is how many frames are pushed between two
	// Draw/ResetHttpGifId commands: 1 resets before every frame. Zero or
	// less means DefaultResetEvery.
	ResetEvery int
	// Buffers lends the buffers a frame is encoded in (nil: allocated per
	// frame).
	Buffers *device.Buffers
}

// Client drives one Pixoo 64. Like every device.Driver it is used from one
// goroutine only (the device's Controller) and is not safe for concurrent
// use. It holds no frame between two pushes: the buffers a frame is
// encoded in are borrowed from Options.Buffers for the time of a push.
type Client struct {
	// endpoints are the URLs commands may go to, in the order they are
	// tried: one, or with APIAuto the classic one and then divoom_api.
	endpoints []string
	// at is the index in endpoints of the one that answered last; -1
	// while not known, when each is tried in order. found is the last
	// one logged.
	at, found int
	log       *slog.Logger
	api       *httpdevice.Client

	// channelSet reports whether the custom drawing channel is known to be
	// selected; it is cleared by any failed request and by Reset.
	channelSet bool
	ids        picIDs
	// animID is the PicID of the animation being sent (0: none), animNext
	// the PicOffset of its next frame.
	animID, animNext int

	buffers *device.Buffers
}

var (
	_ device.Driver   = (*Client)(nil)
	_ device.Animator = (*Client)(nil)
	_ device.Rebooter = (*Client)(nil)
)

// New returns a Client for the device at host: "ip", "ip:port", a host
// name, or a URL "http://ip:port" (port 80 when absent, or 9000 for
// APIDivoom). It sends nothing.
func New(host string, opts Options) (*Client, error) {
	base, err := httpdevice.BaseURL(host)
	if err != nil {
		return nil, fmt.Errorf("pixoo64: host %q: %w", host, err)
	}
	endpoints, err := endpointsOf(base, opts.API)
	if err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.ResetEvery <= 0 {
		opts.ResetEvery = DefaultResetEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		endpoints: endpoints,
		at:        -1,
		found:     -1,
		log:       opts.Logger,
		api: httpdevice.New(httpdevice.Config{
			Name:       "pixoo64",
			HTTPClient: opts.HTTPClient,
			Timeout:    opts.Timeout,
			MaxReply:   MaxReplyBytes,
			BadReply:   ErrBadReply,
		}),
		ids:     picIDs{every: opts.ResetEvery},
		buffers: opts.Buffers,
	}, nil
}

// endpointsOf returns the URLs of api for the device at base
// ("http://host[:port]").
func endpointsOf(base string, api API) ([]string, error) {
	classic := base + "/post"
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("pixoo64: host %q: %w", base, err)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), DivoomAPIPort)
	}
	divoom := u.String() + "/divoom_api"
	switch api {
	case APIAuto, "":
		return []string{classic, divoom}, nil
	case APIPost:
		return []string{classic}, nil
	case APIDivoom:
		return []string{divoom}, nil
	}
	return nil, fmt.Errorf("pixoo64: api %q is not one of %v", api, APIs())
}

// URL is the endpoint commands are POSTed to: the one that answered last,
// or, before any answered, the first that will be tried.
func (c *Client) URL() string { return c.endpoints[max(c.at, 0)] }

// Endpoints are the URLs commands may go to, in the order they are tried
// while the one that answers is not known.
func (c *Client) Endpoints() []string { return append([]string(nil), c.endpoints...) }

// Size is the panel size, 64x64.
func (c *Client) Size() scene.Size { return scene.Size{W: Width, H: Height} }

// MaxFPS is the highest frame rate the device keeps up with, 5.
func (c *Client) MaxFPS() float64 { return MaxFPS }

// Close drops the idle connections to the device. The Client stays usable.
func (c *Client) Close() { c.api.CloseIdleConnections() }

// Reset forgets what the Client knows about the device, so the next
// PushFrame selects the drawing channel and resets the frame id counter
// again. Any failed request does the same by itself; call Reset when the
// device may have restarted or been switched to another channel without an
// error being seen.
func (c *Client) Reset() {
	c.channelSet = false
	c.ids.invalidate()
	c.animID = 0
}

// SetBrightness sets the panel brightness, 0..100; other values are an
// error and send nothing. 0 is sent as 0, not raised to 1: the panel may
// look off at 0, but that is what was asked for, and turning the screen off
// is SetDisplay's job, so the brightness the device reports back always
// equals the brightness set.
func (c *Client) SetBrightness(ctx context.Context, percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("pixoo64: %s: brightness %d out of range 0..100", cmdSetBrightness, percent)
	}
	return c.command(ctx, cmdSetBrightness, struct {
		Command    string
		Brightness int
	}{cmdSetBrightness, percent}, nil)
}

// SetDisplay switches the screen on or off (Channel/OnOffScreen).
func (c *Client) SetDisplay(ctx context.Context, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return c.command(ctx, cmdOnOffScreen, struct {
		Command string
		OnOff   int
	}{cmdOnOffScreen, v}, nil)
}

// Probe asks for the device's settings (Channel/GetAllConf) and returns nil
// if it answers with error_code 0.
func (c *Client) Probe(ctx context.Context) error {
	return c.command(ctx, cmdGetAllConf, struct{ Command string }{cmdGetAllConf}, nil)
}

// Reboot restarts the device (Device/SysReboot). It answers first; it
// is then away for a while, and comes back with the screen on and the
// drawing channel and frame id counter as after power-on, which the
// Client forgets (Reset).
func (c *Client) Reboot(ctx context.Context) error {
	defer c.Reset()
	return c.command(ctx, cmdSysReboot, struct{ Command string }{cmdSysReboot}, nil)
}

// Conf is the part of the device's settings the daemon reads back.
type Conf struct {
	// Brightness is the panel brightness, 0..100.
	Brightness int
	// ScreenOn is the LightSwitch setting: whether the screen is on.
	ScreenOn bool
}

// Conf reads the device's settings (Channel/GetAllConf), for instance to
// learn the brightness and screen state after a restart. A reply without
// Brightness or LightSwitch is an error wrapping ErrBadReply.
func (c *Client) Conf(ctx context.Context) (Conf, error) {
	var r struct {
		Brightness  *int
		LightSwitch *int
	}
	if err := c.command(ctx, cmdGetAllConf, struct{ Command string }{cmdGetAllConf}, &r); err != nil {
		return Conf{}, err
	}
	if r.Brightness == nil || r.LightSwitch == nil {
		c.Reset()
		return Conf{}, &httpdevice.ReplyError{
			Msg:  fmt.Sprintf("pixoo64: %s: reply lacks Brightness or LightSwitch", cmdGetAllConf),
			Kind: ErrBadReply,
		}
	}
	return Conf{Brightness: *r.Brightness, ScreenOn: *r.LightSwitch != 0}, nil
}

// PushFrame shows frame, which must be 64x64; its alpha channel is ignored
// (image.RGBA is premultiplied, so that is the frame over black).
//
// The first push, and the first one after any failed request or a Reset,
// selects the custom drawing channel (Channel/SetIndex 3). Frame ids
// (PicID) run 1, 2, ... up to Options.ResetEvery, each run preceded by a
// Draw/ResetHttpGifId; a failure also starts a new run.
func (c *Client) PushFrame(ctx context.Context, frame *image.RGBA) error {
	if err := checkFrame(frame); err != nil {
		return fmt.Errorf("pixoo64: %s: %w", cmdSendHttpGif, err)
	}
	if err := c.selectChannel(ctx); err != nil {
		return err
	}
	id, err := c.newPicID(ctx)
	if err != nil {
		return err
	}
	if err := c.sendFrame(ctx, picture{id: id, num: 1, speedMS: 1000}, frame); err != nil {
		return err
	}
	c.ids.pushed(id)
	return nil
}

// MaxAnimationFrames is the most frames of one animation the Client sends
// (PicNum): the device's limit is reported as 59 to 60.
const MaxAnimationFrames = 59

// MaxAnimationFrames is the most frames of one animation, 59.
func (c *Client) MaxAnimationFrames() int { return MaxAnimationFrames }

// PushAnimationFrame sends frame index of an animation of count frames
// (at most MaxAnimationFrames), each shown for delay (PicSpeed): one
// PicID for all, PicNum count, PicOffset index; the device plays the
// animation by itself once the last frame is in. Frame 0 takes a new
// PicID (resetting the counter as PushFrame does); a later frame must
// follow the one before it, or the upload must start over at 0. The
// caller spaces the posts: back-to-back 16 KB posts are reported to make
// the device drop the connection.
func (c *Client) PushAnimationFrame(ctx context.Context, frame *image.RGBA, index, count int, delay time.Duration) error {
	if err := checkFrame(frame); err != nil {
		return fmt.Errorf("pixoo64: %s: %w", cmdSendHttpGif, err)
	}
	if count < 1 || count > MaxAnimationFrames || index < 0 || index >= count {
		return fmt.Errorf("pixoo64: %s: frame %d of %d: want 0 <= index < count <= %d", cmdSendHttpGif, index, count, MaxAnimationFrames)
	}
	if index == 0 {
		if err := c.selectChannel(ctx); err != nil {
			return err
		}
		id, err := c.newPicID(ctx)
		if err != nil {
			return err
		}
		c.animID, c.animNext = id, 0
	}
	if c.animID == 0 || index != c.animNext {
		return fmt.Errorf("pixoo64: %s: frame %d of an animation whose next frame is %d: start over at 0", cmdSendHttpGif, index, c.animNext)
	}
	speed := int(min(max(delay.Milliseconds(), 1), 60_000))
	if err := c.sendFrame(ctx, picture{id: c.animID, num: count, offset: index, speedMS: speed}, frame); err != nil {
		c.animID = 0
		return err
	}
	c.animNext++
	if c.animNext == count {
		c.ids.pushed(c.animID)
		c.animID = 0
	}
	return nil
}

// selectChannel selects the custom drawing channel unless it is known to
// be selected.
func (c *Client) selectChannel(ctx context.Context) error {
	if c.channelSet {
		return nil
	}
	err := c.command(ctx, cmdSetIndex, struct {
		Command     string
		SelectIndex int
	}{cmdSetIndex, drawingChannel}, nil)
	if err != nil {
		return err
	}
	c.channelSet = true
	return nil
}

// newPicID returns the PicID of the next image, resetting the device's
// counter first when the rule says so (picIDs).
func (c *Client) newPicID(ctx context.Context) (int, error) {
	id, reset := c.ids.next()
	if reset {
		if err := c.command(ctx, cmdResetHttpGifID, struct{ Command string }{cmdResetHttpGifID}, nil); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// Kind is the Divoom Pixoo 64 as a device kind: type "pixoo64", reached at
// a host, with the APIs of its firmware variants and a simulator.
func Kind() device.Kind {
	return device.Kind{
		Type:         "pixoo64",
		Size:         scene.Size{W: Width, H: Height},
		Manufacturer: "Divoom",
		Model:        "Pixoo 64",
		NeedsHost:    true,
		APIs:         APIs(),
		Open: func(o device.OpenOptions) (device.Driver, func(), error) {
			c, err := New(o.Host, Options{API: API(o.API), Logger: o.Logger, Buffers: o.Buffers})
			if err != nil {
				return nil, nil, err
			}
			return c, c.Close, nil
		},
		Simulate: func() device.Simulator { return sim.NewPixoo() },
	}
}
