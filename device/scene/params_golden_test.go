package scene_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// paramGolden is a scene drawn with parameters, at a time after it started.
type paramGolden struct {
	name    string // the golden file: testdata/params-<name>-<size>.png
	scene   string
	params  string // sceneParams JSON
	elapsed time.Duration
	sizes   []scene.Size
}

var bothSizes = []scene.Size{pixoo64, awtrix}

// longText does not fit a 64x64 panel even wrapped: it scrolls there too.
const longText = "A text of many words that fills more lines than a 64 by 64 panel has, so it scrolls on every display: ÄÖÜ €"

// paramGoldens are the text scene with both fonts, the accented letters and
// scrolling positions, the image scene's fit modes and an animation's
// frames, and the clock's parameters (CONTRACT §7).
var paramGoldens = []paramGolden{
	{"text-accents", scene.Text, `{"text":"Grüße 5€ ÄÖÜ éèàçñ ß 20°C","color":[255,200,0]}`, 0, bothSizes},
	{"text-accents-1s", scene.Text, `{"text":"Grüße 5€ ÄÖÜ éèàçñ ß 20°C","color":[255,200,0]}`, time.Second, bothSizes},
	{"text-long-0s", scene.Text, `{"text":"` + longText + `"}`, 0, bothSizes},
	{"text-long-3s", scene.Text, `{"text":"` + longText + `"}`, 3 * time.Second, bothSizes},
	{"text-long-wraps-round", scene.Text, `{"text":"` + longText + `","speed":200}`, 10 * time.Second, bothSizes},
	{"text-left", scene.Text, `{"text":"Hi","align":"left","background":"#003"}`, 0, bothSizes},
	{"text-right", scene.Text, `{"text":"Hi","align":"right","color":"#0f0"}`, 0, bothSizes},
	{"text-icon", scene.Text, `{"text":"21°C","icon":"sun"}`, 0, bothSizes},
	{"text-missing-glyph", scene.Text, `{"text":"a☃b"}`, 0, bothSizes},
	{"text-scroll-off", scene.Text, `{"text":"too long to fit on a display","scroll":"off","align":"left"}`, 5 * time.Second, bothSizes},
	{"image-contain", scene.Image, `{"image":"wide","background":"#202020"}`, 0, bothSizes},
	{"image-cover", scene.Image, `{"image":"wide","fit":"cover"}`, 0, bothSizes},
	{"image-stretch", scene.Image, `{"image":"wide","fit":"stretch"}`, 0, bothSizes},
	{"image-pixel-art", scene.Image, `{"image":"sun"}`, 0, bothSizes},
	{"image-gif-0ms", scene.Image, `{"image":"anim"}`, 0, bothSizes},
	{"image-gif-150ms", scene.Image, `{"image":"anim"}`, 150 * time.Millisecond, bothSizes},
	{"image-gif-250ms", scene.Image, `{"image":"anim"}`, 250 * time.Millisecond, bothSizes},
	{"clock-12h-no-seconds", scene.Clock, `{"24h":false,"seconds":false,"color":"#ff8800"}`, 0, bothSizes},
	{"fill-red", scene.Fill, `{"color":[255,0,0,255]}`, 0, []scene.Size{awtrix}},
}

// TestParams_golden draws the scenes with their parameters checked as the
// daemon checks them, against golden images (go test -update).
func TestParams_golden(t *testing.T) {
	r := scene.Builtin()
	images := testImages(t)
	for _, g := range paramGoldens {
		for _, size := range g.sizes {
			t.Run(g.name+"/"+size.String(), func(t *testing.T) {
				s, _ := r.Lookup(g.scene)
				raw, err := state.ParseSceneParams(g.params)
				if err != nil {
					t.Fatal(err)
				}
				set, err := s.Check(raw.Map(), images)
				if err != nil {
					t.Fatal(err)
				}
				p := goldenParams()
				p.Params, p.Images, p.Elapsed = s.WithDefaults(set), images, g.elapsed
				got := newFrame(size)
				s.Render(got, p)
				testkit.Golden(t, filepath.Join("testdata", fmt.Sprintf("params-%s-%s.png", g.name, size)), got, *update)
			})
		}
	}
}

// TestCheck_refuses checks what the parameter check refuses, and that its
// errors say which parameter and why.
func TestCheck_refuses(t *testing.T) {
	r := scene.Builtin()
	images := testImages(t)
	long := strings.Repeat("é", scene.MaxTextLength+1)
	for _, tc := range []struct {
		scene, params, want string
	}{
		{scene.Fill, `{"colour":"#fff"}`, `no parameter "colour" (parameters: color)`},
		{scene.Fill, `{"color":"red"}`, `parameter "color": want a colour`},
		{scene.Fill, `{"color":[256,0,0]}`, `want a colour`},
		{scene.Fill, `{"color":[1,2]}`, `want a colour`},
		{scene.Fill, `{"color":"#12345"}`, `want a colour`},
		{scene.Text, `{}`, `needs the parameter "text"`},
		{scene.Text, `{"text":5}`, `want a JSON string`},
		{scene.Text, `{"text":"` + long + `"}`, `513 characters; at most 512`},
		{scene.Text, `{"text":"x","speed":0}`, `out of range from 1 to 200`},
		{scene.Text, `{"text":"x","speed":2.5}`, `want an integer`},
		{scene.Text, `{"text":"x","speed":"20"}`, `want a number`},
		{scene.Text, `{"text":"x","align":"middle"}`, `"middle" is not one of left, center, right`},
		{scene.Text, `{"text":"x","icon":"nope"}`, `no image "nope"`},
		{scene.Text, `{"text":"x","icon":"../etc/passwd"}`, `is not an image name`},
		{scene.Image, `{"image":"sun","fit":"fill"}`, `is not one of contain, cover, stretch`},
		{scene.Clock, `{"seconds":"yes"}`, `want true or false`},
		{scene.Clock, `{"24h":null}`, `want true or false`},
		{scene.Empty, `{"x":1}`, `parameters: none`},
	} {
		s, _ := r.Lookup(tc.scene)
		raw, err := state.ParseSceneParams(tc.params)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Check(raw.Map(), images)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v, want an error containing %q", tc.scene, tc.params, err, tc.want)
		}
	}
}

// TestColor parses the four forms of a colour and writes #rrggbb.
func TestColor(t *testing.T) {
	for in, want := range map[string]string{
		`"#FF8000"`:         "#ff8000",
		`" #abc "`:          "#aabbcc",
		`[255,128,0]`:       "#ff8000",
		`[255, 128, 0, 10]`: "#ff8000",
		`[0,0,0]`:           "#000000",
	} {
		c, err := scene.ParseColor([]byte(in))
		if err != nil {
			t.Errorf("ParseColor(%s): %v", in, err)
			continue
		}
		if got := scene.FormatValue(c); got != want {
			t.Errorf("ParseColor(%s) → %v, want %s", in, got, want)
		}
	}
}

// FuzzCheckParams feeds the parameter check of every scene anything: it
// must not panic, and whatever it accepts must be accepted again in its
// published form, unchanged (canonical).
func FuzzCheckParams(f *testing.F) {
	for _, seed := range []string{`{"color":"#fff"}`, `{"color":[1,2,3,4]}`, `{"text":"x","speed":5,"align":"left","scroll":"off"}`,
		`{"image":"sun","fit":"cover"}`, `{"seconds":false,"24h":true}`, `{"text":"é€","icon":"sun"}`} {
		f.Add(seed)
	}
	r := scene.Builtin()
	images := testImages(f)
	f.Fuzz(func(t *testing.T, params string) {
		raw, err := state.ParseSceneParams(params)
		if err != nil {
			return
		}
		for _, name := range r.Names() {
			s, _ := r.Lookup(name)
			v, err := s.Check(raw.Map(), images)
			if err != nil {
				continue
			}
			published := state.ParamsOf(v.JSON())
			again, err := s.Check(published.Map(), images)
			if err != nil {
				t.Fatalf("%s: %s accepted, its published form %s refused: %v", name, params, published, err)
			}
			if p2 := state.ParamsOf(again.JSON()); p2 != published {
				t.Fatalf("%s: published form not stable: %s then %s", name, published, p2)
			}
		}
	})
}

// FuzzParseColor: no panic, and an accepted colour writes as #rrggbb that
// reads back to the same colour (alpha aside).
func FuzzParseColor(f *testing.F) {
	for _, seed := range []string{`"#abc"`, `"#a1b2c3"`, `[1,2,3]`, `[1,2,3,4]`, `"red"`, `[1e2,0,0]`, `[-1,0,0]`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := scene.ParseColor([]byte(in))
		if err != nil {
			return
		}
		s := scene.FormatValue(c).(string)
		back, err := scene.ParseColorText(s)
		if err != nil || back.R != c.R || back.G != c.G || back.B != c.B {
			t.Fatalf("%s → %s → %v, %v", in, s, back, err)
		}
	})
}
