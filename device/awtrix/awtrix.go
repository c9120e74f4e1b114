// Package awtrix drives a 32x8 pixel clock running the AWTRIX 3 firmware
// (the Ulanzi TC001 and similar) over its local HTTP API under
// http://<host>/api. Successful commands are answered HTTP 200 with the
// plain body "OK"; GET /api/stats answers a JSON object.
//
// # Showing frames
//
// The firmware has no raw frame endpoint, so the Client shows frames
// through a custom app (POST /api/custom?name=<app>, Options.AppName) whose
// only content is one bitmap drawing instruction covering the whole panel:
//
//	{"draw":[{"db":[0,0,32,8,[c0,c1,...,c255]]}]}
//
// The colours are RGB888 integers (0xRRGGBB, so red is 16711680), row by
// row from the top-left pixel. This is the "db" instruction of the
// firmware's drawing instructions (docs/api.md of Blueforcer/awtrix3,
// "Drawing Instructions"; the colour format is spelled out in that
// repository's issue #394, and its DisplayManager::processDrawInstructions
// reads the colours as unsigned RGB888 integers, row-major). The firmware
// has no full-frame "bitmap" key on custom apps, and one "dp" instruction
// per pixel does not fit its JSON parser (issue #439), so "db" it is: 256
// colours take about 4 KiB of the 8 KiB JSON document the firmware parses
// an app, and again its draw array, into.
// The app is not saved to flash ("save" is not sent), so frame updates do
// not wear the flash; after a reboot the next frame creates it again.
//
// Creating an app does not show it: the Client makes it the visible app
// with POST /api/switch {"name":<app>}, but only when needed (the first
// frame, and the first frame after any failed request, after Reset, or
// after Stats or Probe saw the device's uptime go back, that is, a reboot),
// not on every frame, because a switch starts a transition animation.
// The clock's own app rotation (the ATRANS setting, on by default) still
// moves on to its other apps after ATIME seconds; the Client does not fight
// it. Users who want the daemon's scene on the panel all the time turn
// ATRANS off on the clock (or hide the other apps).
//
// # Brightness
//
// The firmware's brightness (BRI) runs 0..255, the daemon's 0..100; the
// Client sends round(percent*255/100). Automatic brightness (ABRI) overrides
// BRI while it is on, so SetBrightness turns it off in the same request:
// the daemon owns the brightness, and a value the clock silently ignores
// would be a lie in the published state. The firmware keeps both settings
// in flash, so brightness changes should stay rare (they do: they come from
// users, not from the render loop).
//
// # Failures
//
// Every request is bounded by Options.Timeout and its reply is capped at
// MaxReplyBytes. Any HTTP status other than 200 (the firmware answers 500
// "ErrorParsingJson" or "FAILED", and 404 "FileNotFound") is an error
// wrapping ErrDevice; a 200 whose body is not "OK" (or, for stats, not a
// JSON object) wraps ErrBadReply.
package awtrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"net/http"
	"net/url"
	"time"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/httpdevice"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/sim"
)

// Geometry and limits of an AWTRIX 3 clock.
const (
	// Width and Height are the panel size in pixels.
	Width, Height = 32, 8
	// MaxFPS is the highest frame rate the Client pushes at. Each frame is
	// one HTTP request of about 2.3 KiB that the clock's single-threaded
	// web server parses as JSON, and the firmware parses the draw array
	// again on every refresh of the panel; 5 frames a second leaves it
	// time for its own work (buttons, MQTT, transitions), like the Pixoo.
	MaxFPS = 5.0
	// MaxReplyBytes caps a reply body; a longer reply is an error. The
	// largest real reply (GET /api/stats) is well under 1 KiB.
	MaxReplyBytes = 64 << 10
)

// Defaults for Options.
const (
	// DefaultTimeout bounds one request when Options.Timeout is zero.
	DefaultTimeout = 3 * time.Second
	// DefaultAppName is the custom app frames are drawn in when
	// Options.AppName is empty.
	DefaultAppName = "pidicon"
)

// maxAppName is the longest AppName New accepts.
const maxAppName = 32

// Sentinels wrapped by the Client's errors, for errors.Is. Failures to get
// an answer at all wrap the network error instead (syscall.ECONNREFUSED,
// context.DeadlineExceeded for the per-request timeout, ...).
var (
	// ErrDevice is wrapped when the device answered with an HTTP status
	// other than 200, such as 500 "ErrorParsingJson", 500 "FAILED" or 404
	// "FileNotFound".
	ErrDevice = errors.New("awtrix: device reported an error")
	// ErrBadReply is wrapped when the device answered 200 with something
	// that is not a valid reply: not "OK" for a command, not a JSON object
	// (or one without bri and matrix) for stats, or longer than
	// MaxReplyBytes.
	ErrBadReply = errors.New("awtrix: bad reply")
)

// Options tunes a Client. The zero value is ready to use.
type Options struct {
	// Timeout bounds each request, reply included; zero or less means
	// DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means a client of the Client's own
	// that ignores proxy settings (the device is on the local network).
	// Its own Timeout, if any, also applies.
	HTTPClient *http.Client
	// AppName is the name of the custom app frames are drawn in: 1 to 32
	// letters, digits, '_' or '-'; empty means DefaultAppName. The
	// firmware deletes every app whose name starts with a deleted app's
	// name, so it should not be a prefix of another app's name.
	AppName string
}

// Client drives one AWTRIX 3 clock. Like every device.Driver it is used
// from one goroutine only (the device's Controller) and is not safe for
// concurrent use; that lets it reuse its buffers between frames.
type Client struct {
	base string // http://host[:port]
	api  *httpdevice.Client
	app  string

	customURL  string // base/api/custom?name=<app>
	switchBody []byte // {"name":"<app>"}

	// switched reports whether the app is known to be the visible one; it
	// is cleared by any failed request, by Reset and by a reboot seen in
	// the stats.
	switched bool
	// uptime is the device's uptime in the last stats read, -1 if unknown.
	uptime int64

	body []byte // the custom app body, reused
}

var (
	_ device.Driver   = (*Client)(nil)
	_ device.Rebooter = (*Client)(nil)
)

// New returns a Client for the clock at host: "ip", "ip:port", a host
// name, or a URL "http://ip:port" (port 80 when absent). It sends nothing.
func New(host string, opts Options) (*Client, error) {
	base, err := httpdevice.BaseURL(host)
	if err != nil {
		return nil, fmt.Errorf("awtrix: host %q: %w", host, err)
	}
	if opts.AppName == "" {
		opts.AppName = DefaultAppName
	}
	if err := checkAppName(opts.AppName); err != nil {
		return nil, fmt.Errorf("awtrix: app name %q: %w", opts.AppName, err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	switchBody, err := json.Marshal(struct {
		Name string `json:"name"`
	}{opts.AppName})
	if err != nil {
		return nil, fmt.Errorf("awtrix: encode switch body: %w", err)
	}
	return &Client{
		base: base,
		api: httpdevice.New(httpdevice.Config{
			Name:       "awtrix",
			HTTPClient: opts.HTTPClient,
			Timeout:    opts.Timeout,
			MaxReply:   MaxReplyBytes,
			BadReply:   ErrBadReply,
			ErrorText:  maxErrorText,
		}),
		app:        opts.AppName,
		customURL:  base + pathCustom + "?name=" + url.QueryEscape(opts.AppName),
		switchBody: switchBody,
		uptime:     -1,
		body:       make([]byte, 0, appBodyCap),
	}, nil
}

// checkAppName returns an error unless name is a valid AppName.
func checkAppName(name string) error {
	if len(name) > maxAppName {
		return fmt.Errorf("longer than %d characters", maxAppName)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("character %q is not a letter, digit, '_' or '-'", r)
		}
	}
	return nil
}

// URL is the device's base URL, such as "http://192.168.1.20".
func (c *Client) URL() string { return c.base }

// AppName is the custom app frames are drawn in.
func (c *Client) AppName() string { return c.app }

// Size is the panel size, 32x8.
func (c *Client) Size() scene.Size { return scene.Size{W: Width, H: Height} }

// MaxFPS is the highest frame rate the Client pushes at, 5.
func (c *Client) MaxFPS() float64 { return MaxFPS }

// Close drops the idle connections to the device. The Client stays usable.
func (c *Client) Close() { c.api.CloseIdleConnections() }

// Reset forgets what the Client knows about the device, so the next
// PushFrame makes the app the visible one again. Any failed request does
// the same by itself; call Reset when the device may have restarted or
// been switched to another app without an error being seen.
func (c *Client) Reset() {
	c.switched = false
	c.uptime = -1
}

// Brightness converts the daemon's brightness, 0..100, to the firmware's
// BRI, 0..255, rounding half up: 0→0, 1→3, 50→128, 100→255.
func Brightness(percent int) int { return (percent*255 + 50) / 100 }

// Percent converts the firmware's BRI, 0..255 (as Stats reports it), to the
// daemon's brightness, 0..100, rounding to the nearest; it undoes
// Brightness: Percent(Brightness(p)) == p for every p in 0..100. Values
// outside 0..255 are clamped.
func Percent(bri int) int {
	bri = min(max(bri, 0), 255)
	return (bri*100 + 127) / 255
}

// SetBrightness sets the panel brightness, 0..100; other values are an
// error and send nothing. It posts {"BRI":n,"ABRI":false} to
// /api/settings, n = Brightness(percent): auto-brightness would override
// BRI, so it is switched off. 0 is sent as 0, which leaves the panel dark;
// turning the screen off is SetDisplay's job.
func (c *Client) SetBrightness(ctx context.Context, percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("awtrix: %s: brightness %d out of range 0..100", opSettings, percent)
	}
	body := fmt.Appendf(nil, `{"BRI":%d,"ABRI":false}`, Brightness(percent))
	return c.command(ctx, opSettings, c.base+pathSettings, body)
}

// SetDisplay switches the matrix on or off (POST /api/power).
func (c *Client) SetDisplay(ctx context.Context, on bool) error {
	body := []byte(`{"power":false}`)
	if on {
		body = []byte(`{"power":true}`)
	}
	return c.command(ctx, opPower, c.base+pathPower, body)
}

// PushFrame shows frame, which must be 32x8; its alpha channel is ignored
// (image.RGBA is premultiplied, so that is the frame over black).
//
// It updates the custom app with a bitmap of the whole frame and, on the
// first push and the first one after any failure, Reset or reboot, makes
// it the visible app (see the package documentation).
func (c *Client) PushFrame(ctx context.Context, frame *image.RGBA) error {
	if err := checkFrame(frame); err != nil {
		return fmt.Errorf("awtrix: %s: %w", opCustom, err)
	}
	c.body = appendAppBody(c.body[:0], frame)
	if err := c.command(ctx, opCustom, c.customURL, c.body); err != nil {
		return err
	}
	if c.switched {
		return nil
	}
	if err := c.command(ctx, opSwitch, c.base+pathSwitch, c.switchBody); err != nil {
		return err
	}
	c.switched = true
	return nil
}

// Reboot restarts the clock (POST /api/reboot). It answers "OK" first; it
// is then away for a while and comes back without the custom app (not
// saved to flash), which the next PushFrame creates and shows again.
func (c *Client) Reboot(ctx context.Context) error {
	defer c.Reset()
	return c.command(ctx, opReboot, c.base+pathReboot, nil)
}

// Probe reads the device's stats (GET /api/stats) and returns nil if it
// answers 200 with a JSON object. It is more lenient than Stats, which
// also needs bri and matrix, so that a firmware version with other stats
// still counts as up.
func (c *Client) Probe(ctx context.Context) error {
	_, err := c.stats(ctx)
	return err
}

// Stats is the part of GET /api/stats the daemon reads. Fields the reply
// lacks, or has in an unexpected form, are left zero, except Brightness
// and Matrix, which Stats requires.
type Stats struct {
	// Brightness is the panel brightness as the firmware keeps it,
	// 0..255 (the bri field); Percent converts it to 0..100.
	Brightness int
	// Matrix reports whether the matrix is switched on (matrix).
	Matrix bool
	// App is the app on the panel now (app), such as "Time" or the
	// Client's AppName.
	App string
	// Uptime is how long the device has been running (uptime, in
	// seconds).
	Uptime time.Duration
	// Version is the firmware version (version).
	Version string
	// Lux is the ambient light in lux (lux).
	Lux float64
	// Battery is the battery charge in percent (bat).
	Battery int
	// WiFiSignal is the Wi-Fi signal strength in dBm (wifi_signal).
	WiFiSignal int
	// UID is the device's unique id (uid), such as "awtrix_1a2b3c".
	UID string
	// IPAddress is the device's own IP address (ip_address).
	IPAddress string
}

// Stats reads the device's stats (GET /api/stats), for instance to learn
// the brightness and matrix state after a restart. A reply that is not a
// JSON object, or lacks a numeric bri or a boolean matrix, is an error
// wrapping ErrBadReply.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	raw, err := c.stats(ctx)
	if err != nil {
		return Stats{}, err
	}
	bri, okBri := number(raw["bri"])
	var matrix *bool
	okMatrix := json.Unmarshal(raw["matrix"], &matrix) == nil && matrix != nil
	if !okBri || !okMatrix {
		c.Reset()
		return Stats{}, &httpdevice.ReplyError{
			Msg:  fmt.Sprintf("awtrix: %s: reply lacks a numeric bri or a boolean matrix", opStats),
			Kind: ErrBadReply,
		}
	}
	s := Stats{Brightness: int(bri), Matrix: *matrix}
	s.App = str(raw["app"])
	if up, ok := number(raw["uptime"]); ok && up >= 0 {
		s.Uptime = time.Duration(up * float64(time.Second))
	}
	s.Version = str(raw["version"])
	s.Lux, _ = number(raw["lux"])
	bat, _ := number(raw["bat"])
	s.Battery = int(bat)
	sig, _ := number(raw["wifi_signal"])
	s.WiFiSignal = int(sig)
	s.UID = str(raw["uid"])
	s.IPAddress = str(raw["ip_address"])
	return s, nil
}

// stats gets /api/stats, checks that it is a JSON object and notes a
// reboot (the uptime going back) as a reason to switch to the app again.
func (c *Client) stats(ctx context.Context) (map[string]json.RawMessage, error) {
	reply, err := c.do(ctx, http.MethodGet, opStats, c.base+pathStats, nil)
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(reply, &raw); err != nil || raw == nil {
		c.Reset()
		msg := fmt.Sprintf("awtrix: %s: reply %s is not a JSON object", opStats, httpdevice.Excerpt(reply))
		if err != nil {
			msg += ": " + err.Error()
		}
		return nil, &httpdevice.ReplyError{Msg: msg, Kind: ErrBadReply}
	}
	if up, ok := number(raw["uptime"]); ok && up >= 0 {
		if int64(up) < c.uptime {
			c.switched = false // rebooted: the app is gone or hidden
		}
		c.uptime = int64(up)
	}
	return raw, nil
}

// number decodes a JSON number; ok is false for anything else.
func number(v json.RawMessage) (f float64, ok bool) {
	if len(v) == 0 || v[0] == 'n' {
		return 0, false
	}
	return f, json.Unmarshal(v, &f) == nil
}

// str decodes a JSON string; anything else gives "".
func str(v json.RawMessage) string {
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}

// Kind is an AWTRIX 3 clock as a device kind: type "awtrix", reached at a
// host, with a simulator.
func Kind() device.Kind {
	return device.Kind{
		Type:         "awtrix",
		Size:         scene.Size{W: Width, H: Height},
		Manufacturer: "AWTRIX",
		Model:        "AWTRIX 3 clock",
		NeedsHost:    true,
		Open: func(o device.OpenOptions) (device.Driver, func(), error) {
			c, err := New(o.Host, Options{})
			if err != nil {
				return nil, nil, err
			}
			return c, c.Close, nil
		},
		Simulate: func() device.Simulator { return sim.NewAwtrix() },
	}
}
