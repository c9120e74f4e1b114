package awtrix

import (
	"image"
	"strconv"

	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// The custom app body around the colours of the bitmap instruction.
const (
	appBodyHead = `{"draw":[{"db":[0,0,32,8,[`
	appBodyTail = `]]}]}`
)

// appBodyCap is the length of the longest custom app body: each colour has
// at most 8 decimal digits (0xFFFFFF is 16777215) and a comma.
const appBodyCap = len(appBodyHead) + Width*Height*9 + len(appBodyTail)

// checkFrame returns an error unless frame is a well-formed 32x8 image.
func checkFrame(frame *image.RGBA) error {
	return scene.Size{W: Width, H: Height}.CheckFrame(frame)
}

// appendAppBody appends the custom app body that draws frame (a frame
// checkFrame accepts) as one "db" bitmap instruction: 256 RGB888 integers,
// row-major from the top-left pixel. It allocates nothing once dst is
// appBodyCap long.
func appendAppBody(dst []byte, frame *image.RGBA) []byte {
	dst = append(dst, appBodyHead...)
	for y := range Height {
		i := frame.PixOffset(frame.Rect.Min.X, frame.Rect.Min.Y+y)
		row := frame.Pix[i : i+Width*4 : i+Width*4]
		for x := range Width {
			if x > 0 || y > 0 {
				dst = append(dst, ',')
			}
			rgb := uint64(row[4*x])<<16 | uint64(row[4*x+1])<<8 | uint64(row[4*x+2])
			dst = strconv.AppendUint(dst, rgb, 10)
		}
	}
	return append(dst, appBodyTail...)
}
