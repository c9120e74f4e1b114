package scene_test

import (
	"image"
	"slices"
	"strings"
	"testing"

	"github.com/pidicon/pidicon-mqtt/device/scene"
)

var (
	pixoo64 = scene.Size{W: 64, H: 64}
	awtrix  = scene.Size{W: 32, H: 8}
)

func TestSize_String(t *testing.T) {
	if got := awtrix.String(); got != "32x8" {
		t.Errorf("String() = %q, want %q", got, "32x8")
	}
}

func TestBuiltin_Names(t *testing.T) {
	want := []string{"startup", "clock", "fill", "empty", "wave", "bars", "text", "image"}
	if got := scene.Builtin().Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	consts := []string{scene.Startup, scene.Clock, scene.Fill, scene.Empty, scene.Wave, scene.Bars, scene.Text, scene.Image}
	if !slices.Equal(consts, want) {
		t.Errorf("name constants = %q, want %q", consts, want)
	}
}

func TestBuiltin_FPS(t *testing.T) {
	want := map[string]float64{"startup": 0, "clock": 1, "fill": 0, "empty": 0, "wave": 5}
	r := scene.Builtin()
	for name, fps := range want {
		s, ok := r.Lookup(name)
		if !ok {
			t.Fatalf("Lookup(%q) found nothing", name)
		}
		if s.Name != name {
			t.Errorf("Lookup(%q).Name = %q", name, s.Name)
		}
		if s.FPS != fps {
			t.Errorf("%s: FPS = %v, want %v", name, s.FPS, fps)
		}
		if s.Render == nil {
			t.Errorf("%s: Render is nil", name)
		}
	}
}

func TestRegistry_For(t *testing.T) {
	mixed := scene.NewRegistry(
		scene.Scene{Name: "big", Sizes: []scene.Size{pixoo64}},
		scene.Scene{Name: "both", Sizes: []scene.Size{awtrix, pixoo64}},
		scene.Scene{Name: "strip", Sizes: []scene.Size{awtrix}},
	)
	all := []string{"startup", "clock", "fill", "empty", "wave", "bars", "text", "image"}
	strip := []string{"startup", "clock", "fill", "empty", "wave", "text", "image"}
	tests := []struct {
		name string
		reg  *scene.Registry
		size scene.Size
		want []string
	}{
		{"builtin 64x64", scene.Builtin(), pixoo64, all},
		{"builtin 32x8", scene.Builtin(), awtrix, strip},
		{"builtin 16x16", scene.Builtin(), scene.Size{W: 16, H: 16}, all},
		{"builtin 8x8", scene.Builtin(), scene.Size{W: 8, H: 8}, strip},
		{"mixed 64x64", mixed, pixoo64, []string{"big", "both"}},
		{"mixed 32x8", mixed, awtrix, []string{"both", "strip"}},
		{"empty registry", scene.NewRegistry(), pixoo64, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.reg.For(tt.size); !slices.Equal(got, tt.want) {
				t.Errorf("For(%v) = %q, want %q", tt.size, got, tt.want)
			}
		})
	}
}

func TestRegistry_Check(t *testing.T) {
	mixed := scene.NewRegistry(
		scene.Scene{Name: "big", Sizes: []scene.Size{pixoo64}},
		scene.Scene{Name: "strip", Sizes: []scene.Size{awtrix}},
	)
	tests := []struct {
		name      string
		reg       *scene.Registry
		scene     string
		size      scene.Size
		wantParts []string // nil: no error
	}{
		{"builtin clock 64x64", scene.Builtin(), "clock", pixoo64, nil},
		{"builtin clock 32x8", scene.Builtin(), "clock", awtrix, nil},
		{"builtin wave 32x8", scene.Builtin(), "wave", awtrix, nil},
		{"unknown lists every name", scene.Builtin(), "disco", pixoo64,
			[]string{`unknown scene "disco"`, "startup, clock, fill, empty, wave"}},
		{"names are case-sensitive", scene.Builtin(), "Clock", pixoo64,
			[]string{`unknown scene "Clock"`, "startup, clock, fill, empty, wave"}},
		{"empty name", scene.Builtin(), "", awtrix, []string{`unknown scene ""`}},
		{"unknown lists names for other sizes too", mixed, "x", awtrix,
			[]string{`unknown scene "x"`, "big, strip"}},
		{"unsupported size", mixed, "big", awtrix,
			[]string{`scene "big" cannot draw on a 32x8 display`, "scenes for 32x8: strip"}},
		{"bars needs height", scene.Builtin(), "bars", awtrix,
			[]string{`scene "bars" cannot draw on a 32x8 display`, "scenes for 32x8: startup, clock, fill, empty, wave, text, image"}},
		{"no scene for size", mixed, "big", scene.Size{W: 16, H: 16},
			[]string{`scene "big" cannot draw on a 16x16 display`, "scenes for 16x16: none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.reg.Check(tt.scene, tt.size)
			if tt.wantParts == nil {
				if err != nil {
					t.Fatalf("Check(%q, %v) = %v, want nil", tt.scene, tt.size, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check(%q, %v) = nil, want an error", tt.scene, tt.size)
			}
			for _, part := range tt.wantParts {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("Check(%q, %v) = %q, want it to contain %q", tt.scene, tt.size, err, part)
				}
			}
		})
	}
}

func TestRegistry_Lookup(t *testing.T) {
	r := scene.NewRegistry(scene.Scene{Name: "clock", Sizes: []scene.Size{pixoo64}, Params: []scene.Param{{Name: "p"}}})
	if _, ok := r.Lookup("nope"); ok {
		t.Error(`Lookup("nope") found a scene`)
	}
	s, ok := r.Lookup("clock")
	if !ok {
		t.Fatal(`Lookup("clock") found nothing`)
	}
	s.Sizes[0] = scene.Size{W: 1, H: 1}
	s.Params[0].Name = "changed"
	if err := r.Check("clock", pixoo64); err != nil {
		t.Errorf("changing a looked-up scene changed the registry: %v", err)
	}
	if again, _ := r.Lookup("clock"); again.Params[0].Name != "p" {
		t.Errorf("changing a looked-up scene's params changed the registry")
	}
}

func TestNewRegistry_copies(t *testing.T) {
	sizes := []scene.Size{pixoo64}
	scenes := []scene.Scene{{Name: "a", Sizes: sizes}}
	r := scene.NewRegistry(scenes...)
	scenes[0].Name = "b"
	sizes[0] = awtrix
	if got := r.Names(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Names() = %q after changing the arguments, want [a]", got)
	}
	if got := r.For(pixoo64); !slices.Equal(got, []string{"a"}) {
		t.Errorf("For(64x64) = %q after changing the arguments, want [a]", got)
	}
}

func TestScene_Supports(t *testing.T) {
	s := scene.Scene{Name: "a", Sizes: []scene.Size{awtrix}}
	if !s.Supports(awtrix) {
		t.Error("Supports(32x8) = false, want true")
	}
	if s.Supports(scene.Size{W: 8, H: 32}) {
		t.Error("Supports(8x32) = true, want false")
	}
}

// newFrame returns a frame of size s, the way a driver would allocate it.
func newFrame(s scene.Size) *image.RGBA {
	return image.NewRGBA(image.Rect(0, 0, s.W, s.H))
}

func TestSize_CheckFrame(t *testing.T) {
	size := scene.Size{W: 32, H: 8}
	short := image.NewRGBA(image.Rect(0, 0, 32, 8))
	short.Pix = short.Pix[:100]
	for _, tc := range []struct {
		name  string
		frame *image.RGBA
		ok    bool
	}{
		{"right size", image.NewRGBA(image.Rect(0, 0, 32, 8)), true},
		{"offset bounds", image.NewRGBA(image.Rect(5, 5, 37, 13)), true},
		{"wrong size", image.NewRGBA(image.Rect(0, 0, 64, 64)), false},
		{"nil", nil, false},
		{"short buffer", short, false},
	} {
		if err := size.CheckFrame(tc.frame); (err == nil) != tc.ok {
			t.Errorf("%s: CheckFrame = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
