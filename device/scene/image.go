package scene

import (
	"image"
	"image/color"
	"image/draw"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/picture"
)

// Image is the image scene's name.
const Image = "image"

// ImageSource gives scenes the stored images, fitted to a size: the image
// store (picture.Store).
type ImageSource interface {
	Images
	Scaled(name string, w, h int, fit picture.Fit, background color.RGBA) (*picture.Animation, error)
}

// imageParams are the image scene's parameters.
func imageParams() []Param {
	return []Param{
		{Name: "image", Type: TypeImage, Required: true, Description: "The image's name"},
		{Name: "fit", Type: TypeEnum, Options: []string{string(picture.Contain), string(picture.Cover), string(picture.Stretch)},
			Default: string(picture.Contain), Description: "contain: all of it, letterboxed; cover: fill, cropped; stretch: fill, distorted"},
		{Name: "background", Type: TypeColor, Default: black, Description: "The colour around a letterboxed image"},
	}
}

// renderImage is the image scene: the image fitted to the display, an
// animation's frame chosen by the time since the scene started.
func renderImage(dst *image.RGBA, f Frame) {
	bg := opaque(f.Params.Color("background"))
	fillAll(dst, bg)
	drawImage(dst, dst.Bounds(), f.Images, f.Params.String("image"), picture.Fit(f.Params.String("fit")), bg, f.Elapsed)
}

// imageFPS is 5 for an animation (the display's limit applies), 0 for a
// still image: one frame per (re)start.
func imageFPS(size Size, v Values, images ImageSource) float64 {
	if imageAnimation(size, v, images) == nil {
		return 0
	}
	return 5
}

// imageAnimation is the image scene as an animation of display-sized
// frames, nil for a still image.
func imageAnimation(size Size, v Values, images ImageSource) *picture.Animation {
	if images == nil {
		return nil
	}
	a, err := images.Scaled(v.String("image"), size.W, size.H, picture.Fit(v.String("fit")), opaque(v.Color("background")))
	if err != nil || len(a.Frames) < 2 {
		return nil
	}
	return a
}

// drawImage draws the image name fitted into r of dst; an animation's
// frame is the one shown elapsed after it started, looping. A missing
// image leaves r as it is.
func drawImage(dst *image.RGBA, r image.Rectangle, images ImageSource, name string, fit picture.Fit, bg color.RGBA, elapsed time.Duration) {
	if images == nil || name == "" || r.Empty() {
		return
	}
	a, err := images.Scaled(name, r.Dx(), r.Dy(), fit, bg)
	if err != nil || len(a.Frames) == 0 {
		return
	}
	draw.Draw(dst, r, a.Frames[FrameAt(a.Delays, elapsed)], image.Point{}, draw.Src)
}

// FrameAt is the index of the frame of an animation with these delays
// shown at elapsed, looping; 0 for a still image.
func FrameAt(delays []time.Duration, elapsed time.Duration) int {
	var total time.Duration
	for _, d := range delays {
		total += d
	}
	if len(delays) < 2 || total <= 0 {
		return 0
	}
	t := elapsed % total
	for i, d := range delays {
		if t < d {
			return i
		}
		t -= d
	}
	return len(delays) - 1
}
