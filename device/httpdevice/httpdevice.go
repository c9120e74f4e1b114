// Package httpdevice is the HTTP plumbing shared by the drivers of network
// displays (device/pixoo64, device/awtrix): the host setting turned into a
// base URL, one request bounded by a timeout with its reply read up to a
// cap into a reused buffer, and the wording of a failure to get an answer,
// so that every driver fails the same way. What an answer means is the
// driver's business.
package httpdevice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pidicon/pidicon-mqtt/device"
)

// BaseURL turns a host setting into a device's base URL, "http://host" or
// "http://host:port". The setting is "ip", "ip:port", a bare IPv6 address,
// "[ipv6]:port", a host name with or without a port, or a URL
// "http://host[:port]" with at most "/" as its path; surrounding spaces are
// ignored. Another scheme, a user, a query, a longer path, or a port that is
// empty or outside 1..65535 is an error.
func BaseURL(host string) (string, error) {
	host = strings.TrimSpace(host)
	if host == "" {
		return "", errors.New("empty host")
	}
	if !strings.Contains(host, "://") {
		if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
			host = "[" + host + "]" // a bare IPv6 address
		}
		host = "http://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return "", err
	}
	switch {
	case u.Scheme != "http":
		return "", fmt.Errorf("scheme %q is not http", u.Scheme)
	case u.Hostname() == "":
		return "", errors.New("no host name")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		return "", errors.New("want only a host and port")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("bad port %q", p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", errors.New("empty port")
	}
	// Not "http://" + u.Host: u.Host has an IPv6 zone unescaped
	// ("[fe80::1%eth0]"), which no URL parser takes back.
	return (&url.URL{Scheme: "http", Host: u.Host}).String(), nil
}

// ReplyError is an error the device's answer caused, as opposed to a
// failure to get one; it unwraps to the driver's sentinel, such as
// pixoo64.ErrDevice or awtrix.ErrBadReply.
type ReplyError struct {
	// Msg is the whole message, starting with the driver's name and the
	// call.
	Msg string
	// Kind is the sentinel errors.Is finds.
	Kind error
}

func (e *ReplyError) Error() string { return e.Msg }
func (e *ReplyError) Unwrap() error { return e.Kind }

// Excerpt quotes the start of a reply for an error message: at most 64
// bytes, then "..." if there is more.
func Excerpt(data []byte) string {
	const max = 64
	if len(data) > max {
		return strconv.Quote(string(data[:max])) + "..."
	}
	return strconv.Quote(string(data))
}

// Config describes one device's HTTP API to New.
type Config struct {
	// Name starts every error message, such as "pixoo64".
	Name string
	// HTTPClient sends the requests; nil means a client of the Client's
	// own that ignores proxy settings (the device is on the local network).
	// Its own Timeout, if any, also applies.
	HTTPClient *http.Client
	// Timeout bounds each request, reply included. It must be positive.
	Timeout time.Duration
	// MaxReply caps the body of a 200 reply; a longer one is an error
	// wrapping BadReply.
	MaxReply int
	// BadReply is the driver's sentinel for an answer that is not a valid
	// reply.
	BadReply error
	// ErrorText is how much of the body of a reply with another status Do
	// reads, for the driver's error message; zero reads none.
	ErrorText int
}

// Client sends one device's requests. Like the driver that holds it, it is
// used from one goroutine at a time, which lets it reuse its reply buffer.
type Client struct {
	cfg   Config
	hc    *http.Client
	reply []byte // the last 200 reply's body, reused
}

// New returns a Client as cfg says. It sends nothing.
func New(cfg Config) *Client {
	hc := cfg.HTTPClient
	if hc == nil {
		// One device, one caller at a time: one kept-alive connection,
		// no proxy, no HTTP/2.
		hc = &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     30 * time.Second,
		}}
	}
	return &Client{cfg: cfg, hc: hc}
}

// CloseIdleConnections drops the idle connections to the device. The
// Client stays usable.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Reply is a device's answer to one request.
type Reply struct {
	// StatusCode and Status are the HTTP status, such as 500 and
	// "500 Internal Server Error".
	StatusCode int
	Status     string
	// Body is the body of a 200 reply, or the start of another's (at most
	// Config.ErrorText bytes). A 200 body is valid until the next Do.
	Body []byte
}

// Do sends one request to target, with body as its JSON content unless body is
// nil, and waits for the reply at most Config.Timeout. op names the call in
// errors, as in "pixoo64: Channel/GetAllConf: ...".
//
// A reply of any status is returned without error, for the driver to
// judge, except a 200 longer than Config.MaxReply: that is a *ReplyError
// wrapping Config.BadReply. A failure to get an answer wraps the network
// error (syscall.ECONNREFUSED, context.DeadlineExceeded, ...), and says
// "(timeout)" when the request's own timeout ran out, not ctx.
func (c *Client) Do(ctx context.Context, op, method, target string, body []byte) (Reply, error) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, target, nil)
	if err != nil {
		return Reply{}, fmt.Errorf("%s: %s: new request: %w", c.cfg.Name, op, err)
	}
	switch {
	case body == nil:
	case len(body) == 0:
		req.Body = http.NoBody
		req.Header.Set("Content-Type", "application/json")
	default:
		// Sent with its Content-Length (a Pixoo takes no chunked body).
		fenced := &fencedReader{r: bytes.NewReader(body), sent: device.FrameSent(ctx)}
		defer fenced.fence()
		req.Body, req.ContentLength = fenced, int64(len(body))
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return Reply{}, c.transportError(ctx, rctx, op, err)
	}
	defer resp.Body.Close()
	r := Reply{StatusCode: resp.StatusCode, Status: resp.Status}
	if resp.StatusCode != http.StatusOK {
		if c.cfg.ErrorText > 0 {
			r.Body, _ = io.ReadAll(io.LimitReader(resp.Body, int64(c.cfg.ErrorText)))
		}
		return r, nil
	}
	c.reply, err = readCapped(c.reply[:0], resp.Body, c.cfg.MaxReply)
	if err != nil {
		if errors.Is(err, errTooLong) {
			return Reply{}, &ReplyError{
				Msg:  fmt.Sprintf("%s: %s: reply longer than %d bytes", c.cfg.Name, op, c.cfg.MaxReply),
				Kind: c.cfg.BadReply,
			}
		}
		return Reply{}, c.transportError(ctx, rctx, op, fmt.Errorf("read reply: %w", err))
	}
	r.Body = c.reply
	return r, nil
}

// transportError words a failure to get an answer: ctx is the caller's
// context, rctx the one bounded by the request timeout.
func (c *Client) transportError(ctx, rctx context.Context, op string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the method and URL
	}
	if ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: %s: no answer within %v (timeout): %w", c.cfg.Name, op, c.cfg.Timeout, err)
	}
	return fmt.Errorf("%s: %s: %w", c.cfg.Name, op, err)
}

var errTooLong = errors.New("too long")

// readCapped appends r to buf up to limit bytes; more is errTooLong.
func readCapped(buf []byte, r io.Reader, limit int) ([]byte, error) {
	lr := io.LimitedReader{R: r, N: int64(limit) + 1}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return buf, errTooLong
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// fencedReader is a request body the transport can read only until Do
// returns: the transport may go on reading a body after the answer came
// (an early answer, a cancelled request), while the caller reuses the
// bytes for its next request.
//
// It also tells sent (device.FrameSent) when the transport has read the
// last byte.
type fencedReader struct {
	mu     sync.Mutex
	r      *bytes.Reader
	fenced bool
	sent   func(time.Time)
}

func (f *fencedReader) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fenced {
		return 0, errFenced
	}
	n, err := f.r.Read(p)
	if f.r.Len() == 0 && f.sent != nil {
		f.sent(time.Now())
		f.sent = nil
	}
	return n, err
}

func (f *fencedReader) Close() error { return nil }

// fence ends the reads.
func (f *fencedReader) fence() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fenced = true
}

// errFenced is what a body read after its request ended gets.
var errFenced = errors.New("request body read after the request ended")
