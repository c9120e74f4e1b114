package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/userscene"
	"github.com/pidicon/pidicon-mqtt/state"
)

// renderOptions are the flags of the render command.
type renderOptions struct {
	scene   string        // a built-in scene
	file    string        // a scene file, instead of scene
	inputs  inputFlags    // the scene file's input values, name=value
	size    string        // "64x64"
	params  string        // the scene's parameters, a JSON object
	notify  string        // a notification drawn over the scene: plain text or JSON
	images  string        // a folder of images (read-only)
	at      time.Duration // time since the scene (or the notification) started
	now     string        // the wall clock, RFC 3339 ("" now)
	scale   int           // pixels per display pixel in the PNG
	grid    bool          // dark lines between the display's pixels
	out     string        // the PNG file, "-" standard output
	devName string        // the device name the startup scene shows
	// warnings receives the problems of drawing a scene file's layers
	// (nil: none are written).
	warnings io.Writer
}

// inputFlags are the repeated --input name=value flags.
type inputFlags []string

func (f *inputFlags) String() string { return strings.Join(*f, " ") }

func (f *inputFlags) Set(v string) error {
	if name, _, ok := strings.Cut(v, "="); !ok || name == "" {
		return fmt.Errorf("%q: want name=value", v)
	}
	*f = append(*f, v)
	return nil
}

// renderScene draws one frame of a scene, as a display of the given size
// would show it, to a PNG scaled up: what scene authors and the README use
// instead of hardware. It checks the parameters with the daemon's own
// rules; problems drawing a scene file's layers go to o.warnings.
func renderScene(o renderOptions, stdout io.Writer) error {
	size, err := parseSize(o.size)
	if err != nil {
		return err
	}
	if o.scale < 1 || o.scale > 64 {
		return fmt.Errorf("--scale %d: want 1 to 64", o.scale)
	}
	var images scene.ImageSource
	if o.images != "" {
		dir, err := os.MkdirTemp("", "pidicon-render-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		st, err := picture.OpenStore(dir, o.images)
		if err != nil {
			return fmt.Errorf("--images %s: %w", o.images, err)
		}
		images = st
	}
	var sc scene.Scene
	if o.file != "" {
		if sc, err = fileScene(o); err != nil {
			return err
		}
		if !sc.Supports(size) {
			return fmt.Errorf("scene %q of %s cannot draw on a %s display (sizes: %v)", sc.Name, o.file, size, sc.Sizes)
		}
	} else {
		reg := scene.Builtin()
		if err := reg.Check(o.scene, size); err != nil {
			return err
		}
		sc, _ = reg.Lookup(o.scene)
	}
	raw, err := state.ParseSceneParams(o.params)
	if err != nil {
		return fmt.Errorf("--params: %w", err)
	}
	var imgs scene.Images
	if images != nil {
		imgs = images
	}
	set, err := sc.Check(raw.Map(), imgs)
	if err != nil {
		return err
	}
	now := time.Now()
	if o.now != "" {
		if now, err = time.Parse(time.RFC3339, o.now); err != nil {
			return fmt.Errorf("--now: %w", err)
		}
	}
	frame := image.NewRGBA(image.Rect(0, 0, size.W, size.H))
	sc.Render(frame, scene.Frame{
		DeviceName: o.devName,
		Version:    buildVersion(),
		Now:        now,
		Number:     int(o.at / (200 * time.Millisecond)),
		Elapsed:    o.at,
		Params:     sc.WithDefaults(set),
		Images:     images,
	})
	if o.notify != "" {
		n, err := device.ParseNotification([]byte(o.notify), imgs)
		if err != nil {
			return fmt.Errorf("--notify: %w", err)
		}
		device.DrawNotification(frame, &n, images, o.at)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, magnify(frame, o.scale, o.grid)); err != nil {
		return err
	}
	if o.out == "-" {
		_, err = stdout.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(o.out, buf.Bytes(), 0o644)
}

// fileScene reads the scene file of --file with the values of --input: a
// number when the value is one; an input given several times has those
// values in order, the last one its value now (a sparkline's history).
func fileScene(o renderOptions) (scene.Scene, error) {
	data, err := os.ReadFile(o.file)
	if err != nil {
		return scene.Scene{}, err
	}
	f, err := userscene.Parse(o.file, data, scene.Builtin())
	if err != nil {
		return scene.Scene{}, err
	}
	inputs := userscene.NewInputs()
	for _, kv := range o.inputs {
		name, value, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(f.Inputs(), func(in scene.Input) bool { return in.Name == name })
		if i < 0 {
			var names []string
			for _, in := range f.Inputs() {
				names = append(names, in.Name)
			}
			return scene.Scene{}, fmt.Errorf("--input %s: the scene has no input %q (inputs: %s)", kv, name, strings.Join(names, ", "))
		}
		in := f.Inputs()[i]
		inputs.Set(in.Topic, in.Field, value)
	}
	return f.Scene(inputs, func(p userscene.Problem) {
		if o.warnings != nil {
			fmt.Fprintf(o.warnings, "warning: %s\n", &userscene.Error{Path: p.File, Line: p.Line, Err: p.Err})
		}
	}), nil
}

// parseSize reads "64x64".
func parseSize(s string) (scene.Size, error) {
	w, h, ok := strings.Cut(s, "x")
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil || wi < 1 || hi < 1 || wi > 512 || hi > 512 {
		return scene.Size{}, fmt.Errorf("--size %q: want WIDTHxHEIGHT, e.g. 64x64 or 32x8", s)
	}
	return scene.Size{W: wi, H: hi}, nil
}

// magnify scales frame up by a whole factor, each display pixel a square;
// with grid, a dark line between them, as LEDs look.
func magnify(frame *image.RGBA, scale int, grid bool) *image.RGBA {
	b := frame.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()*scale, b.Dy()*scale))
	gap := color.RGBA{R: 16, G: 16, B: 16, A: 255}
	for y := range out.Rect.Dy() {
		for x := range out.Rect.Dx() {
			if grid && scale >= 3 && (x%scale == scale-1 || y%scale == scale-1) {
				out.SetRGBA(x, y, gap)
				continue
			}
			c := frame.RGBAAt(b.Min.X+x/scale, b.Min.Y+y/scale)
			c.A = 255
			out.SetRGBA(x, y, c)
		}
	}
	return out
}
