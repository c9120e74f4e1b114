package awtrix

import (
	"bytes"
	"context"
	"fmt"
	"net/http"

	"github.com/pidicon/pidicon-mqtt/device/httpdevice"
)

// The API paths the Client uses.
const (
	pathSettings = "/api/settings"
	pathPower    = "/api/power"
	pathCustom   = "/api/custom"
	pathSwitch   = "/api/switch"
	pathStats    = "/api/stats"
	pathReboot   = "/api/reboot"
)

// The calls as errors name them.
const (
	opSettings = "POST " + pathSettings
	opPower    = "POST " + pathPower
	opCustom   = "POST " + pathCustom
	opSwitch   = "POST " + pathSwitch
	opStats    = "GET " + pathStats
	opReboot   = "POST " + pathReboot
)

// replyOK is the firmware's answer to a command it carried out.
const replyOK = "OK"

// maxErrorText caps how much of an error reply's body is read for the
// error message.
const maxErrorText = 256

// command posts body to u and checks that the device answered "OK".
func (c *Client) command(ctx context.Context, op, u string, body []byte) error {
	reply, err := c.do(ctx, http.MethodPost, op, u, body)
	if err != nil {
		return err
	}
	if string(bytes.TrimSpace(reply)) != replyOK {
		c.Reset()
		return &httpdevice.ReplyError{
			Msg:  fmt.Sprintf("awtrix: %s: reply %s, want %q", op, httpdevice.Excerpt(reply), replyOK),
			Kind: ErrBadReply,
		}
	}
	return nil
}

// do sends one request (a POST with a JSON body if body is not nil) and
// returns a 200 reply's body, valid until the next request. Any failure
// makes the Client forget what it knows about the device (see Reset).
func (c *Client) do(ctx context.Context, method, op, u string, body []byte) ([]byte, error) {
	reply, err := c.roundTrip(ctx, method, op, u, body)
	if err != nil {
		c.Reset()
	}
	return reply, err
}

func (c *Client) roundTrip(ctx context.Context, method, op, u string, body []byte) ([]byte, error) {
	reply, err := c.api.Do(ctx, op, method, u, body)
	if err != nil {
		return nil, err
	}
	if reply.StatusCode != http.StatusOK {
		what := replyText(reply.Body)
		if what == "" {
			what = http.StatusText(reply.StatusCode)
		}
		return nil, &httpdevice.ReplyError{
			Msg:  fmt.Sprintf("awtrix: %s: device answered %d %s", op, reply.StatusCode, what),
			Kind: ErrDevice,
		}
	}
	return reply.Body, nil
}

// replyText is an error reply's body for a message: as it is when it is a
// short line of plain ASCII such as "FAILED", quoted otherwise.
func replyText(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) > 64 {
		return httpdevice.Excerpt(data)
	}
	for _, b := range data {
		if b < 0x20 || b > 0x7e {
			return httpdevice.Excerpt(data)
		}
	}
	return string(data)
}
