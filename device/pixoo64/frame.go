package pixoo64

import (
	"context"
	"encoding/base64"
	"image"
	"strconv"

	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// frameBytes is the size of one frame as raw RGB888.
const frameBytes = Width * Height * 3

// The Draw/SendHttpGif body around its numbers and the PicData.
const (
	frameBodyHead = `{"Command":"` + cmdSendHttpGif + `","PicNum":`
	frameBodyTail = `"}`
)

// frameBodyCap is the length of the longest Draw/SendHttpGif body: the
// PicData is (frameBytes+2)/3*4 characters of padded base64, the numbers
// and their keys at most 120 characters.
const frameBodyCap = len(frameBodyHead) + 120 + (frameBytes+2)/3*4 + len(frameBodyTail)

// picture is where a frame goes: its PicID, the animation's frame count
// (PicNum) and its place in it (PicOffset), and how long it shows
// (PicSpeed, ms). A single frame is PicNum 1, PicOffset 0.
type picture struct {
	id, num, offset, speedMS int
}

// checkFrame returns an error unless frame is a well-formed 64x64 image.
func checkFrame(frame *image.RGBA) error {
	return scene.Size{W: Width, H: Height}.CheckFrame(frame)
}

// sendFrame sends frame as pic in a Draw/SendHttpGif, encoded in a buffer
// borrowed for the time of the request.
func (c *Client) sendFrame(ctx context.Context, pic picture, frame *image.RGBA) error {
	buf := c.buffers.Bytes(frameBytes + frameBodyCap)
	defer c.buffers.PutBytes(buf)
	rgb := (*buf)[:frameBytes]
	body := appendFrameBody((*buf)[frameBytes:frameBytes], rgb, pic, frame)
	return c.post(ctx, cmdSendHttpGif, body, nil)
}

// appendFrameBody appends the Draw/SendHttpGif body that sends frame (a
// frame checkFrame accepts) as pic. PicData is the base64 of the frame as
// RGB888, row-major: pixel (x, y) at byte (y*64+x)*3. It converts through
// rgb (frameBytes long), so it allocates nothing once dst is large enough.
func appendFrameBody(dst, rgb []byte, pic picture, frame *image.RGBA) []byte {
	for y := range Height {
		i := frame.PixOffset(frame.Rect.Min.X, frame.Rect.Min.Y+y)
		row := frame.Pix[i : i+Width*4 : i+Width*4]
		out := rgb[y*Width*3 : (y+1)*Width*3 : (y+1)*Width*3]
		for x := range Width {
			out[3*x] = row[4*x]
			out[3*x+1] = row[4*x+1]
			out[3*x+2] = row[4*x+2]
		}
	}
	dst = append(dst, frameBodyHead...)
	dst = strconv.AppendInt(dst, int64(pic.num), 10)
	dst = append(dst, `,"PicWidth":64,"PicOffset":`...)
	dst = strconv.AppendInt(dst, int64(pic.offset), 10)
	dst = append(dst, `,"PicID":`...)
	dst = strconv.AppendInt(dst, int64(pic.id), 10)
	dst = append(dst, `,"PicSpeed":`...)
	dst = strconv.AppendInt(dst, int64(pic.speedMS), 10)
	dst = append(dst, `,"PicData":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, rgb)
	return append(dst, frameBodyTail...)
}

// picIDs is the frame id rule, kept in one place. The device wants PicID to
// increase from frame to frame, starting at 1 after a Draw/ResetHttpGifId,
// and its firmware stops responding after a few hundred frames without a
// reset. So the counter is reset before the first frame, then every `every`
// frames (ids 1..every, then a reset and 1 again), and after any failure,
// when the device's counter is unknown.
type picIDs struct {
	every int  // frames between two resets, >= 1
	last  int  // the PicID of the last frame the device took
	valid bool // whether last is known to match the device's counter
}

// next returns the PicID for the next frame and whether the device's
// counter must be reset before that frame is sent.
func (p *picIDs) next() (id int, reset bool) {
	if !p.valid || p.last >= p.every {
		return 1, true
	}
	return p.last + 1, false
}

// pushed records that the device took the frame with PicID id.
func (p *picIDs) pushed(id int) {
	p.last = id
	p.valid = true
}

// invalidate forgets the device's counter: the next frame resets it.
func (p *picIDs) invalidate() {
	p.valid = false
	p.last = 0
}
