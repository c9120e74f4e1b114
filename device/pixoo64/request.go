package pixoo64

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/pidicon/pidicon-mqtt/device/httpdevice"
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
	reply, err := c.api.Do(ctx, cmd, http.MethodPost, c.url, body)
	if err != nil {
		return err
	}
	if reply.StatusCode != http.StatusOK {
		return &httpdevice.ReplyError{
			Msg:  fmt.Sprintf("pixoo64: %s: device answered HTTP status %s", cmd, reply.Status),
			Kind: ErrDevice,
		}
	}
	return checkReply(cmd, reply.Body, out)
}

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
