package awtrix

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// The API paths the Client uses.
const (
	pathSettings = "/api/settings"
	pathPower    = "/api/power"
	pathCustom   = "/api/custom"
	pathSwitch   = "/api/switch"
	pathStats    = "/api/stats"
)

// The calls as errors name them.
const (
	opSettings = "POST " + pathSettings
	opPower    = "POST " + pathPower
	opCustom   = "POST " + pathCustom
	opSwitch   = "POST " + pathSwitch
	opStats    = "GET " + pathStats
)

// replyOK is the firmware's answer to a command it carried out.
const replyOK = "OK"

// maxErrorText caps how much of an error reply's body is read for the
// error message.
const maxErrorText = 256

// replyError is an error the device's answer caused; it unwraps to
// ErrDevice or ErrBadReply.
type replyError struct {
	msg  string
	kind error
}

func (e *replyError) Error() string { return e.msg }
func (e *replyError) Unwrap() error { return e.kind }

// command posts body to u and checks that the device answered "OK".
func (c *Client) command(ctx context.Context, op, u string, body []byte) error {
	if err := c.do(ctx, http.MethodPost, op, u, body); err != nil {
		return err
	}
	if string(bytes.TrimSpace(c.reply)) != replyOK {
		c.Reset()
		return &replyError{
			msg:  fmt.Sprintf("awtrix: %s: reply %s, want %q", op, excerpt(c.reply), replyOK),
			kind: ErrBadReply,
		}
	}
	return nil
}

// do sends one request (a POST with a JSON body if body is not nil) and
// leaves a 200 reply's body in c.reply. Any failure makes the Client forget
// what it knows about the device (see Reset).
func (c *Client) do(ctx context.Context, method, op, u string, body []byte) error {
	err := c.roundTrip(ctx, method, op, u, body)
	if err != nil {
		c.Reset()
	}
	return err
}

func (c *Client) roundTrip(ctx context.Context, method, op, u string, body []byte) error {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(rctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("awtrix: %s: new request: %w", op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, rctx, op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		text, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorText))
		what := replyText(text)
		if what == "" {
			what = http.StatusText(resp.StatusCode)
		}
		return &replyError{
			msg:  fmt.Sprintf("awtrix: %s: device answered %d %s", op, resp.StatusCode, what),
			kind: ErrDevice,
		}
	}
	c.reply, err = readCapped(c.reply[:0], resp.Body, MaxReplyBytes)
	if err != nil {
		if errors.Is(err, errTooLong) {
			return &replyError{
				msg:  fmt.Sprintf("awtrix: %s: reply longer than %d bytes", op, MaxReplyBytes),
				kind: ErrBadReply,
			}
		}
		return c.transportError(ctx, rctx, op, fmt.Errorf("read reply: %w", err))
	}
	return nil
}

// transportError words a failure to get an answer: ctx is the caller's
// context, rctx the one bounded by the request timeout.
func (c *Client) transportError(ctx, rctx context.Context, op string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the method and URL
	}
	if ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("awtrix: %s: no answer within %v (timeout): %w", op, c.timeout, err)
	}
	return fmt.Errorf("awtrix: %s: %w", op, err)
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

// replyText is an error reply's body for a message: as it is when it is a
// short line of plain ASCII such as "FAILED", quoted otherwise.
func replyText(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) > 64 {
		return excerpt(data)
	}
	for _, b := range data {
		if b < 0x20 || b > 0x7e {
			return excerpt(data)
		}
	}
	return string(data)
}

// excerpt quotes the start of a reply for an error message.
func excerpt(data []byte) string {
	const max = 64
	if len(data) > max {
		return strconv.Quote(string(data[:max])) + "..."
	}
	return strconv.Quote(string(data))
}
