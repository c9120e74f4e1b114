// Package scene renders the frames a pixel display shows: a registry of
// scenes, each declaring the display sizes it supports, the rate at which it
// wants new frames and the parameters it takes, the built-in scenes, and a
// small pixel font for text.
//
// Scenes draw into a *image.RGBA of the device's size; they hold no state of
// their own between frames, so a render depends only on its Frame.
package scene

import (
	"errors"
	"fmt"
	"image"
	"slices"
	"strings"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/picture"
)

// Size is a display size in pixels.
type Size struct {
	W int `json:"width"`
	H int `json:"height"`
}

// String formats the size as "64x64".
func (s Size) String() string { return fmt.Sprintf("%dx%d", s.W, s.H) }

// Frame is everything a scene may use to draw one frame.
type Frame struct {
	DeviceName string    // the device's display name, for the startup scene
	Version    string    // the daemon's version, for the startup scene
	Now        time.Time // wall clock for this frame, in the location to show
	Number     int       // frame number since the scene (re)started, from 0
	// Elapsed is the time since the scene (re)started: scrolling text and
	// animations move by it, so a skipped frame does not slow them.
	Elapsed time.Duration
	// Params are the scene's parameters, each declared one present.
	Params Values
	// Images are the stored images (nil: none).
	Images ImageSource
}

// Scene is one scene: what it is called, the displays it can draw on,
// how often it wants a new frame, the parameters it takes, and how it
// draws.
type Scene struct {
	// Name is what users put on activeScene, case-sensitive.
	Name string
	// Description is one line for users (bridge/info's sceneDetails).
	Description string
	// Source is the file that defines the scene; "" for a built-in one.
	Source string
	// Sizes lists the display sizes the scene can draw; empty means any
	// size of at least MinSize.
	Sizes []Size
	// MinSize is the smallest display the scene can draw on.
	MinSize Size
	// FPS is the rate at which the scene wants new frames; 0 means the scene
	// is static: one frame per (re)start.
	FPS float64
	// Rate, if set, is the frame rate for a display size and parameters
	// instead of FPS (a text scrolls only when it does not fit).
	Rate func(size Size, v Values, images ImageSource) float64
	// Animation, if set, returns the scene as an animation of frames
	// fitted to size (nil: it is not one), for a display that plays
	// animations by itself.
	Animation func(size Size, v Values, images ImageSource) *picture.Animation
	// Params declares the scene's parameters.
	Params []Param
	// Inputs are the MQTT topics a scene file reads (none for a built-in
	// scene): the daemon subscribes to them while a display shows the
	// scene and draws it again when one changes.
	Inputs []Input
	// Render draws one frame into dst, of a size the scene supports.
	Render func(dst *image.RGBA, f Frame)
}

// Input is one MQTT topic a scene reads, and the JSON field of its
// payload that holds the value ("" for the whole payload).
type Input struct {
	Name  string `json:"name"`
	Topic string `json:"topic"`
	Field string `json:"field,omitempty"`
}

// SourceName is where the scene comes from, as bridge/info says it:
// "builtin" or the file that defines it.
func (s Scene) SourceName() string {
	if s.Source == "" {
		return "builtin"
	}
	return s.Source
}

// FramesPerSecond is the rate at which the scene wants new frames on a
// display of this size with these parameters; 0: one per (re)start.
func (s Scene) FramesPerSecond(size Size, v Values, images ImageSource) float64 {
	if s.Rate != nil {
		return s.Rate(size, v, images)
	}
	return s.FPS
}

// Supports reports whether the scene can draw on a display of the given size.
func (s Scene) Supports(size Size) bool {
	if size.W < s.MinSize.W || size.H < s.MinSize.H {
		return false
	}
	return len(s.Sizes) == 0 || slices.Contains(s.Sizes, size)
}

// Registry is an immutable, ordered set of scenes.
type Registry struct {
	scenes []Scene
}

// NewRegistry returns a registry of the given scenes, in that order. It
// keeps its own copies, so changing the arguments later does not change the
// registry. If two scenes share a name, Lookup finds the first.
func NewRegistry(scenes ...Scene) *Registry {
	r := &Registry{scenes: slices.Clone(scenes)}
	for i := range r.scenes {
		r.scenes[i].Sizes = slices.Clone(r.scenes[i].Sizes)
		r.scenes[i].Params = slices.Clone(r.scenes[i].Params)
		r.scenes[i].Inputs = slices.Clone(r.scenes[i].Inputs)
	}
	return r
}

// Names lists every scene name, in registry order.
func (r *Registry) Names() []string {
	names := make([]string, len(r.scenes))
	for i, s := range r.scenes {
		names[i] = s.Name
	}
	return names
}

// For lists the names of the scenes that support size, in registry order.
func (r *Registry) For(size Size) []string {
	var names []string
	for _, s := range r.scenes {
		if s.Supports(size) {
			names = append(names, s.Name)
		}
	}
	return names
}

// Lookup returns the scene called name. The scene's Sizes and Params are
// copies, so the registry stays immutable.
func (r *Registry) Lookup(name string) (Scene, bool) {
	s, ok := r.find(name)
	s.Sizes = slices.Clone(s.Sizes)
	s.Params = slices.Clone(s.Params)
	s.Inputs = slices.Clone(s.Inputs)
	return s, ok
}

// find returns the scene called name, sharing its slices with the registry.
func (r *Registry) find(name string) (Scene, bool) {
	for _, s := range r.scenes {
		if s.Name == name {
			return s, true
		}
	}
	return Scene{}, false
}

// Check returns nil if name is a scene that supports size, and otherwise an
// error that says why and lists the scenes that would do.
func (r *Registry) Check(name string, size Size) error {
	s, ok := r.find(name)
	if !ok {
		return fmt.Errorf("unknown scene %q (known scenes: %s)", name, strings.Join(r.Names(), ", "))
	}
	if !s.Supports(size) {
		others := strings.Join(r.For(size), ", ")
		if others == "" {
			others = "none"
		}
		return fmt.Errorf("scene %q cannot draw on a %s display (scenes for %s: %s)",
			name, size, size, others)
	}
	return nil
}

// CheckFrame returns an error unless frame is a well-formed image of size
// s: what a driver checks before it encodes a frame for its display.
func (s Size) CheckFrame(frame *image.RGBA) error {
	if frame == nil {
		return errors.New("nil frame")
	}
	r := frame.Rect
	if r.Dx() != s.W || r.Dy() != s.H {
		return fmt.Errorf("frame is %dx%d, want %s", r.Dx(), r.Dy(), s)
	}
	if frame.Stride < s.W*4 || len(frame.Pix) < frame.PixOffset(r.Max.X-1, r.Max.Y-1)+4 {
		return errors.New("frame pixel buffer too short")
	}
	return nil
}
