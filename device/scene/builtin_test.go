package scene_test

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"path/filepath"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden PNGs in testdata/")

// goldenParams are the frame inputs the golden images are drawn with.
func goldenParams() scene.Frame {
	return scene.Frame{
		DeviceName: "demo",
		Version:    "1.0.0",
		Now:        time.Date(2026, time.November, 27, 13, 45, 7, 0, time.UTC),
	}
}

// goldenValues are the parameters set for the golden images, by scene.
var goldenValues = map[string]scene.Values{
	scene.Text:  {"text": "Hi 20°C"},
	scene.Image: {"image": "sun"},
}

// goldenFrame is goldenParams with the scene's parameters (its defaults
// and goldenValues) and a store with the test images.
func goldenFrame(t testing.TB, s scene.Scene) scene.Frame {
	p := goldenParams()
	p.Params = s.WithDefaults(goldenValues[s.Name])
	p.Images = testImages(t)
	return p
}

// testImages is a store with "sun", a 16x16 picture: a yellow disc on
// blue, drawn with whole pixels.
func testImages(t testing.TB) *picture.Store {
	t.Helper()
	st, err := picture.OpenStore(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := range 16 {
		for x := range 16 {
			c := color.RGBA{B: 160, A: 255}
			if dx, dy := x*2-15, y*2-15; dx*dx+dy*dy <= 100 {
				c = color.RGBA{R: 255, G: 210, A: 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	put := func(name string, data []byte) {
		if _, err := st.Put(name, data); err != nil {
			t.Fatal(err)
		}
	}
	put("sun", testkit.PNG(t, img))
	// "wide": 48x16, a colour ramp with a white border, to see each fit.
	wide := image.NewRGBA(image.Rect(0, 0, 48, 16))
	for y := range 16 {
		for x := range 48 {
			c := color.RGBA{R: uint8(x * 5), G: uint8(255 - x*5), B: uint8(y * 16), A: 255}
			if x == 0 || y == 0 || x == 47 || y == 15 {
				c = color.RGBA{R: 255, G: 255, B: 255, A: 255}
			}
			wide.SetRGBA(x, y, c)
		}
	}
	put("wide", testkit.PNG(t, wide))
	// "anim": a GIF of three 8x8 frames, red, green, blue, 100 ms each.
	g := &gif.GIF{}
	pal := color.Palette{color.RGBA{R: 255, A: 255}, color.RGBA{G: 255, A: 255}, color.RGBA{B: 255, A: 255}}
	for i := range 3 {
		f := image.NewPaletted(image.Rect(0, 0, 8, 8), pal)
		for j := range f.Pix {
			f.Pix[j] = uint8(i)
		}
		g.Image, g.Delay = append(g.Image, f), append(g.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	put("anim", buf.Bytes())
	return st
}

// sizes are the display sizes of the kinds the daemon has.
var sizes = []scene.Size{pixoo64, awtrix}

// sizesOf lists the display sizes of the daemon's kinds that s supports.
func sizesOf(s scene.Scene) []scene.Size {
	var out []scene.Size
	for _, size := range sizes {
		if s.Supports(size) {
			out = append(out, size)
		}
	}
	return out
}

// golden is one golden image: a scene at a size and frame.
type golden struct {
	scene string
	size  scene.Size
	frame int
}

func (g golden) String() string {
	name := g.scene + "/" + g.size.String()
	if g.frame != 0 {
		name += fmt.Sprintf("/frame%d", g.frame)
	}
	return name
}

func (g golden) file() string {
	name := g.scene + "-" + g.size.String()
	if g.frame != 0 {
		name += fmt.Sprintf("-frame%d", g.frame)
	}
	return filepath.Join("testdata", name+".png")
}

// goldens lists every built-in scene at every size it supports, at frame 0,
// and the animated scenes at a later frame too.
func goldens(t testing.TB) []golden {
	r := scene.Builtin()
	var out []golden
	for _, name := range r.Names() {
		s, _ := r.Lookup(name)
		for _, size := range sizesOf(s) {
			out = append(out, golden{name, size, 0})
			if name == scene.Wave {
				out = append(out, golden{name, size, 3})
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no golden images")
	}
	return out
}

func TestBuiltin_golden(t *testing.T) {
	r := scene.Builtin()
	for _, g := range goldens(t) {
		t.Run(g.String(), func(t *testing.T) {
			s, _ := r.Lookup(g.scene)
			p := goldenFrame(t, s)
			p.Number = g.frame
			got := newFrame(g.size)
			s.Render(got, p)
			testkit.Golden(t, g.file(), got, *update)
		})
	}
}

// paramsSet is a spread of Params to check properties of every scene with.
func paramsSet() []scene.Frame {
	base := goldenParams()
	var out []scene.Frame
	for i, name := range []string{"", "demo", "Living Room Pixoo Display", "héllo wörld #1"} {
		p := base
		p.DeviceName = name
		p.Version = []string{"", "1.0.0", "v2.3.4-rc1+dirty", "0.0.0-20261127-abcdef"}[i]
		p.Params = scene.Values{"color": color.RGBA{R: uint8(60 * i), G: 10, B: 200, A: uint8(100 * i)}}
		p.Now = base.Now.Add(time.Duration(i) * 37 * time.Hour)
		p.Number = []int{0, 1, 1 << 40, -7}[i]
		out = append(out, p)
	}
	out = append(out, scene.Frame{}) // zero time, zero everything
	return out
}

// TestBuiltin_renderProperties checks every scene at every size it supports
// with several Params: every pixel is opaque, dst is fully overwritten, and
// the same Params give the same frame.
func TestBuiltin_renderProperties(t *testing.T) {
	r := scene.Builtin()
	for _, name := range r.Names() {
		s, _ := r.Lookup(name)
		for _, size := range sizesOf(s) {
			t.Run(name+"/"+size.String(), func(t *testing.T) {
				for i, p := range paramsSet() {
					// Two frames with different leftovers must come out the
					// same, and opaque.
					a, b := newFrame(size), newFrame(size)
					for j := range b.Pix {
						b.Pix[j] = byte(j*7 + 13)
					}
					s.Render(a, p)
					s.Render(b, p)
					if !bytes.Equal(a.Pix, b.Pix) {
						t.Errorf("params %d: render depends on what dst held before", i)
					}
					for j := 3; j < len(a.Pix); j += 4 {
						if a.Pix[j] != 255 {
							x, y := j/4%size.W, j/4/size.W
							t.Errorf("params %d: pixel (%d,%d) has alpha %d", i, x, y, a.Pix[j])
							break
						}
					}
				}
			})
		}
	}
}

// TestBuiltin_offsetBounds renders into a frame whose bounds do not start at
// (0,0), as a SubImage would be: the result must match a plain frame.
func TestBuiltin_offsetBounds(t *testing.T) {
	r := scene.Builtin()
	for _, name := range r.Names() {
		s, _ := r.Lookup(name)
		p := goldenFrame(t, s)
		for _, size := range sizesOf(s) {
			plain := newFrame(size)
			s.Render(plain, p)
			big := image.NewRGBA(image.Rect(0, 0, size.W+10, size.H+10))
			sub := big.SubImage(image.Rect(5, 3, 5+size.W, 3+size.H)).(*image.RGBA)
			s.Render(sub, p)
			for y := range size.H {
				for x := range size.W {
					if got, want := sub.RGBAAt(5+x, 3+y), plain.RGBAAt(x, y); got != want {
						t.Fatalf("%s/%v: pixel (%d,%d) is %v in a sub-image, %v in a plain frame", name, size, x, y, got, want)
					}
				}
			}
			if big.RGBAAt(4, 2) != (color.RGBA{}) || big.RGBAAt(5+size.W, 3+size.H) != (color.RGBA{}) {
				t.Errorf("%s/%v drew outside dst's bounds", name, size)
			}
		}
	}
}

// TestBuiltin_oddSizes renders every scene on sizes it does not declare:
// the controller checks sizes first, but a mistake must not crash the
// daemon.
func TestBuiltin_oddSizes(t *testing.T) {
	r := scene.Builtin()
	for _, name := range r.Names() {
		s, _ := r.Lookup(name)
		for _, size := range []scene.Size{{0, 0}, {1, 1}, {0, 8}, {8, 0}, {3, 2}, {16, 16}, {128, 32}, {8, 32}} {
			for _, p := range paramsSet() {
				s.Render(newFrame(size), p)
			}
		}
	}
}

func TestFill_colour(t *testing.T) {
	s, _ := scene.Builtin().Lookup(scene.Fill)
	tests := []struct {
		fill, want color.RGBA
	}{
		{color.RGBA{R: 255, G: 96, A: 255}, color.RGBA{R: 255, G: 96, A: 255}},
		{color.RGBA{R: 1, G: 2, B: 3}, color.RGBA{R: 1, G: 2, B: 3, A: 255}},
	}
	for _, tt := range tests {
		img := newFrame(awtrix)
		s.Render(img, scene.Frame{Params: scene.Values{"color": tt.fill}})
		for y := range awtrix.H {
			for x := range awtrix.W {
				if got := img.RGBAAt(x, y); got != tt.want {
					t.Fatalf("fill %v: pixel (%d,%d) = %v, want %v", tt.fill, x, y, got, tt.want)
				}
			}
		}
	}
}

func TestWave_framesDiffer(t *testing.T) {
	s, _ := scene.Builtin().Lookup(scene.Wave)
	for _, size := range sizesOf(s) {
		prev := newFrame(size)
		s.Render(prev, scene.Frame{Number: 0})
		for frame := 1; frame <= 40; frame++ {
			cur := newFrame(size)
			s.Render(cur, scene.Frame{Number: frame})
			if bytes.Equal(cur.Pix, prev.Pix) {
				t.Errorf("%v: frame %d equals frame %d", size, frame, frame-1)
			}
			prev = cur
		}
	}
}

func TestClock_changesWithTime(t *testing.T) {
	s, _ := scene.Builtin().Lookup(scene.Clock)
	now := goldenParams().Now
	for _, size := range sizesOf(s) {
		prev := newFrame(size)
		s.Render(prev, scene.Frame{Now: now, Params: s.Defaults()})
		for sec := 1; sec <= 3; sec++ {
			cur := newFrame(size)
			s.Render(cur, scene.Frame{Now: now.Add(time.Duration(sec) * time.Second), Params: s.Defaults()})
			if bytes.Equal(cur.Pix, prev.Pix) {
				t.Errorf("%v: %ds later looks the same", size, sec)
			}
			prev = cur
		}
	}
}

func TestClock_location(t *testing.T) {
	s, _ := scene.Builtin().Lookup(scene.Clock)
	now := goldenParams().Now
	utc, other := newFrame(pixoo64), newFrame(pixoo64)
	s.Render(utc, scene.Frame{Now: now, Params: s.Defaults()})
	s.Render(other, scene.Frame{Now: now.In(time.FixedZone("UTC+5", 5*3600)), Params: s.Defaults()})
	if bytes.Equal(utc.Pix, other.Pix) {
		t.Error("the clock ignores Now's location")
	}
}

// BenchmarkRender renders every scene at every size into a reused frame, as
// a device's render loop does.
func BenchmarkRender(b *testing.B) {
	r := scene.Builtin()
	for _, name := range r.Names() {
		s, _ := r.Lookup(name)
		for _, size := range sizesOf(s) {
			b.Run(name+"/"+size.String(), func(b *testing.B) {
				dst := newFrame(size)
				p := goldenFrame(b, s)
				b.ReportAllocs()
				for b.Loop() {
					p.Number++
					p.Now = p.Now.Add(time.Second)
					s.Render(dst, p)
				}
			})
		}
	}
}
