package pixoo64

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// The commands the Client sends, as the Command field spells them.
const (
	cmdSetBrightness  = "Channel/SetBrightness"
	cmdOnOffScreen    = "Channel/OnOffScreen"
	cmdGetAllConf     = "Channel/GetAllConf"
	cmdSetIndex       = "Channel/SetIndex"
	cmdResetHttpGifID = "Draw/ResetHttpGifId"
	cmdSendHttpGif    = "Draw/SendHttpGif"
)

// drawingChannel is the SelectIndex of the custom drawing channel, the one
// that shows pushed frames.
const drawingChannel = 3

// illegalJSON is the firmware's plain-text answer to an unknown command or
// a body it cannot parse; it comes with HTTP 200 and must not pass for
// success.
const illegalJSON = "Request data illegal json"

// replyError is an error the device's answer caused; it unwraps to
// ErrDevice or ErrBadReply.
type replyError struct {
	msg  string
	kind error
}

func (e *replyError) Error() string { return e.msg }
func (e *replyError) Unwrap() error { return e.kind }

// command encodes body as JSON and posts it as cmd.
func (c *Client) command(ctx context.Context, cmd string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("pixoo64: %s: encode: %w", cmd, err)
	}
	return c.post(ctx, cmd, b, out)
}

// post sends one command and checks the reply; if out is not nil, the reply
// is also decoded into it. Any failure makes the Client forget the channel
// and frame id state (see Reset): after an error, nothing is known about
// the device.
func (c *Client) post(ctx context.Context, cmd string, body []byte, out any) error {
	err := c.roundTrip(ctx, cmd, body, out)
	if err != nil {
		c.Reset()
	}
	return err
}

func (c *Client) roundTrip(ctx context.Context, cmd string, body []byte, out any) error {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("pixoo64: %s: new request: %w", cmd, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, rctx, cmd, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &replyError{
			msg:  fmt.Sprintf("pixoo64: %s: device answered HTTP status %s", cmd, resp.Status),
			kind: ErrDevice,
		}
	}
	c.reply, err = readCapped(c.reply[:0], resp.Body, MaxReplyBytes)
	if err != nil {
		if errors.Is(err, errTooLong) {
			return &replyError{
				msg:  fmt.Sprintf("pixoo64: %s: reply longer than %d bytes", cmd, MaxReplyBytes),
				kind: ErrBadReply,
			}
		}
		return c.transportError(ctx, rctx, cmd, fmt.Errorf("read reply: %w", err))
	}
	return checkReply(cmd, c.reply, out)
}

// transportError words a failure to get an answer: ctx is the caller's
// context, rctx the one bounded by the request timeout.
func (c *Client) transportError(ctx, rctx context.Context, cmd string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the method and URL
	}
	if ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("pixoo64: %s: no answer within %v (timeout): %w", cmd, c.timeout, err)
	}
	return fmt.Errorf("pixoo64: %s: %w", cmd, err)
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

// checkReply returns nil if data is a JSON object whose error_code (or, for
// the Device/ commands, ReturnCode) is 0, and decodes data into out if out
// is not nil.
func checkReply(cmd string, data []byte, out any) error {
	data = bytes.TrimSpace(data)
	if string(data) == illegalJSON {
		return &replyError{
			msg:  fmt.Sprintf("pixoo64: %s: device answered %q", cmd, illegalJSON),
			kind: ErrDevice,
		}
	}
	var head struct {
		ErrorCode  json.RawMessage `json:"error_code"`
		ReturnCode json.RawMessage `json:"ReturnCode"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return &replyError{
			msg:  fmt.Sprintf("pixoo64: %s: malformed reply %s: %v", cmd, excerpt(data), err),
			kind: ErrBadReply,
		}
	}
	name, code := "error_code", head.ErrorCode
	if code == nil {
		name, code = "ReturnCode", head.ReturnCode
	}
	if code == nil {
		return &replyError{
			msg:  fmt.Sprintf("pixoo64: %s: reply %s has no error_code", cmd, excerpt(data)),
			kind: ErrBadReply,
		}
	}
	switch code[0] {
	case '"':
		// {"error_code":"Request data illegal json"} is another way the
		// firmware refuses a command.
		return &replyError{
			msg:  fmt.Sprintf("pixoo64: %s: device answered %s %s", cmd, name, code),
			kind: ErrDevice,
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if f, err := strconv.ParseFloat(string(code), 64); err == nil && f == 0 {
			break
		}
		return &replyError{
			msg:  fmt.Sprintf("pixoo64: %s: device answered %s %s", cmd, name, code),
			kind: ErrDevice,
		}
	default:
		return &replyError{
			msg:  fmt.Sprintf("pixoo64: %s: reply has %s %s, not a number", cmd, name, code),
			kind: ErrBadReply,
		}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return &replyError{
				msg:  fmt.Sprintf("pixoo64: %s: decode reply %s: %v", cmd, excerpt(data), err),
				kind: ErrBadReply,
			}
		}
	}
	return nil
}

// excerpt quotes the start of a reply for an error message.
func excerpt(data []byte) string {
	const max = 64
	if len(data) > max {
		return strconv.Quote(string(data[:max])) + "..."
	}
	return strconv.Quote(string(data))
}
