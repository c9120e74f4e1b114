package pixoo64

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/pidicon/pidicon-mqtt/device/httpdevice"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
)

// The commands the Client sends, as the Command field spells them.
const (
	cmdSetBrightness  = "Channel/SetBrightness"
	cmdOnOffScreen    = "Channel/OnOffScreen"
	cmdGetAllConf     = "Channel/GetAllConf"
	cmdSetIndex       = "Channel/SetIndex"
	cmdResetHttpGifID = "Draw/ResetHttpGifId"
	cmdSendHttpGif    = "Draw/SendHttpGif"
	cmdSysReboot      = "Device/SysReboot"
)

// drawingChannel is the SelectIndex of the custom drawing channel, the one
// that shows pushed frames.
const drawingChannel = 3

// illegalJSON is the firmware's plain-text answer to an unknown command or
// a body it cannot parse; it comes with HTTP 200 and must not pass for
// success.
const illegalJSON = "Request data illegal json"

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

// roundTrip sends one command to the endpoint that answered last, or,
// while that is not known, to each in turn until one answers (see
// roundTripAt); the one that answers is remembered, and forgotten when
// it stops answering.
func (c *Client) roundTrip(ctx context.Context, cmd string, body []byte, out any) error {
	if c.at >= 0 {
		gone, err := c.roundTripAt(ctx, c.endpoints[c.at], cmd, body, out)
		if gone {
			c.at = -1 // look again at the next command
		}
		return err
	}
	var errs []error
	for i, u := range c.endpoints {
		gone, err := c.roundTripAt(ctx, u, cmd, body, out)
		if !gone && errors.Is(err, ErrBadReply) && i < len(c.endpoints)-1 {
			// Something answered there, but not a Pixoo (a web page, say):
			// while looking for the API, try the next endpoint.
			gone = true
		}
		if !gone {
			c.at = i
			if i != c.found && len(c.endpoints) > 1 {
				c.found = i
				c.log.Info("Pixoo 64 API found", logkey.URL, u)
			}
			return err
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return &noEndpointError{cmd: cmd, urls: c.endpoints[:len(errs)], errs: errs}
}

// roundTripAt sends one command to u. gone reports that nothing answers
// the API there: the connection was refused, the request got no answer,
// or the answer was HTTP 404; another endpoint may.
func (c *Client) roundTripAt(ctx context.Context, u, cmd string, body []byte, out any) (gone bool, err error) {
	reply, err := c.api.Do(ctx, cmd, http.MethodPost, u, body)
	if err != nil {
		var re *httpdevice.ReplyError
		return !errors.As(err, &re), err
	}
	if reply.StatusCode != http.StatusOK {
		return reply.StatusCode == http.StatusNotFound, &httpdevice.ReplyError{
			Msg:  fmt.Sprintf("pixoo64: %s: device answered HTTP status %s", cmd, reply.Status),
			Kind: ErrDevice,
		}
	}
	return false, checkReply(cmd, reply.Body, out)
}

// noEndpointError is a command that no endpoint answered: each URL tried
// and its error.
type noEndpointError struct {
	cmd  string
	urls []string
	errs []error
}

func (e *noEndpointError) Error() string {
	var b strings.Builder
	prefix := "pixoo64: " + e.cmd + ": "
	b.WriteString(prefix + "no answer at any endpoint")
	for i, err := range e.errs {
		fmt.Fprintf(&b, "; %s: %s", e.urls[i], strings.TrimPrefix(err.Error(), prefix))
	}
	return b.String()
}

func (e *noEndpointError) Unwrap() []error { return e.errs }

// checkReply returns nil if data is a JSON object whose error_code (or, for
// the Device/ commands, ReturnCode) is 0, and decodes data into out if out
// is not nil.
func checkReply(cmd string, data []byte, out any) error {
	data = bytes.TrimSpace(data)
	if string(data) == illegalJSON {
		return &httpdevice.ReplyError{
			Msg:  fmt.Sprintf("pixoo64: %s: device answered %q", cmd, illegalJSON),
			Kind: ErrDevice,
		}
	}
	var head struct {
		ErrorCode  json.RawMessage `json:"error_code"`
		ReturnCode json.RawMessage `json:"ReturnCode"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return &httpdevice.ReplyError{
			Msg:  fmt.Sprintf("pixoo64: %s: malformed reply %s: %v", cmd, httpdevice.Excerpt(data), err),
			Kind: ErrBadReply,
		}
	}
	name, code := "error_code", head.ErrorCode
	if code == nil {
		name, code = "ReturnCode", head.ReturnCode
	}
	if code == nil {
		return &httpdevice.ReplyError{
			Msg:  fmt.Sprintf("pixoo64: %s: reply %s has no error_code", cmd, httpdevice.Excerpt(data)),
			Kind: ErrBadReply,
		}
	}
	switch code[0] {
	case '"':
		// {"error_code":"Request data illegal json"} is another way the
		// firmware refuses a command.
		return &httpdevice.ReplyError{
			Msg:  fmt.Sprintf("pixoo64: %s: device answered %s %s", cmd, name, code),
			Kind: ErrDevice,
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if f, err := strconv.ParseFloat(string(code), 64); err == nil && f == 0 {
			break
		}
		return &httpdevice.ReplyError{
			Msg:  fmt.Sprintf("pixoo64: %s: device answered %s %s", cmd, name, code),
			Kind: ErrDevice,
		}
	default:
		return &httpdevice.ReplyError{
			Msg:  fmt.Sprintf("pixoo64: %s: reply has %s %s, not a number", cmd, name, code),
			Kind: ErrBadReply,
		}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return &httpdevice.ReplyError{
				Msg:  fmt.Sprintf("pixoo64: %s: decode reply %s: %v", cmd, httpdevice.Excerpt(data), err),
				Kind: ErrBadReply,
			}
		}
	}
	return nil
}
