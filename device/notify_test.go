package device_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden PNGs in testdata/")

// iconStore is an image store with "bell", a 8x8 yellow bell-ish block.
func iconStore(t *testing.T) *picture.Store {
	t.Helper()
	st, err := picture.OpenStore(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put("bell", pngOf(t, 8, 8, color.RGBA{R: 255, G: 220, A: 255})); err != nil {
		t.Fatal(err)
	}
	return st
}

// pngOf is a w x h PNG with a one-pixel frame of c around black.
func pngOf(t testing.TB, w, h int, c color.RGBA) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			if x == 0 || y == 0 || x == w-1 || y == h-1 || x == y {
				img.SetRGBA(x, y, c)
			} else {
				img.SetRGBA(x, y, color.RGBA{A: 255})
			}
		}
	}
	return testkit.PNG(t, img)
}

// TestDrawNotification_golden draws notifications over a scene's frame
// as a display shows them: text, text with an icon, an inline image, a
// long text at two moments of its scroll.
func TestDrawNotification_golden(t *testing.T) {
	images := iconStore(t)
	dataURL := "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngOf(t, 16, 16, color.RGBA{G: 255, B: 255, A: 255}))
	cases := []struct {
		name    string
		payload string
		at      time.Duration
	}{
		{"text", `Washing done`, 0},
		{"icon", `{"text":"Door","icon":"bell","background":[80,0,0],"color":"#ffcc00"}`, 0},
		{"inline-image", `{"image":"` + dataURL + `"}`, 0},
		{"image-and-text", `{"text":"Rain","image":"` + dataURL + `"}`, 0},
		{"long-2s", `{"text":"A long message that has to scroll on every display there is, even wrapped over lines","duration":1}`, 2 * time.Second},
	}
	for _, tc := range cases {
		for _, size := range []scene.Size{{W: 64, H: 64}, {W: 32, H: 8}} {
			t.Run(tc.name+"/"+size.String(), func(t *testing.T) {
				n, err := device.ParseNotification([]byte(tc.payload), images)
				if err != nil {
					t.Fatal(err)
				}
				frame := image.NewRGBA(image.Rect(0, 0, size.W, size.H))
				wave, _ := scene.Builtin().Lookup(scene.Wave)
				wave.Render(frame, scene.Frame{Number: 3}) // the scene underneath
				device.DrawNotification(frame, &n, images, tc.at)
				testkit.Golden(t, filepath.Join("testdata", fmt.Sprintf("notification-%s-%s.png", tc.name, size)), frame, *update)
			})
		}
	}
}

// TestParseNotification checks the payloads of CONTRACT §7 and that every
// bad one is refused with a reason.
func TestParseNotification(t *testing.T) {
	images := iconStore(t)
	n, err := device.ParseNotification([]byte("  Hello\n"), images)
	if err != nil || n.Text != "Hello" || n.Duration != 5*time.Second || n.Priority != device.PriorityNormal {
		t.Errorf("plain text: %+v, %v", n, err)
	}
	n, err = device.ParseNotification([]byte(`{"text":"x","color":[1,2,3],"background":"#010203","icon":"bell","duration":2.5,"hold":true,"priority":"high","id":"door"}`), images)
	if err != nil || n.Duration != 2500*time.Millisecond || !n.Hold || n.Priority != device.PriorityHigh || n.ID != "door" ||
		n.Color != (color.RGBA{R: 1, G: 2, B: 3, A: 255}) || n.Icon != "bell" {
		t.Errorf("full: %+v, %v", n, err)
	}
	huge := "data:image/png;base64," + strings.Repeat("A", picture.MaxDataURL)
	for _, tc := range []struct{ payload, want string }{
		{``, "needs a text"},
		{`{}`, "needs a text or an image"},
		{`{"text":"x","colour":"#fff"}`, `unknown key "colour"`},
		{`{"text":5}`, "text must be a JSON string"},
		{`{"text":"x","color":"red"}`, "color: want a colour"},
		{`{"text":"x","duration":0}`, "duration must be a number of seconds from 1 to 3600"},
		{`{"text":"x","duration":3601}`, "from 1 to 3600"},
		{`{"text":"x","duration":"5"}`, "from 1 to 3600"},
		{`{"text":"x","hold":"yes"}`, "hold must be true or false"},
		{`{"text":"x","priority":"urgent"}`, "priority must be normal or high"},
		{`{"text":"x","icon":"nope"}`, `no image "nope"`},
		{`{"text":"x","icon":"../../etc/passwd"}`, "icon"},
		{`{"image":"data:text/html;base64,PGI+"}`, "image"},
		{`{"image":"data:image/png;base64,AAAA"}`, "image"},
		{`{"image":"` + huge + `"}`, "image"},
		{`{"text":"` + strings.Repeat("x", 513) + `"}`, "at most 512"},
		{"\xff\xfe", "UTF-8"},
		{`{"text":"x"`, "not a JSON object"},
	} {
		_, err := device.ParseNotification([]byte(tc.payload), images)
		if err == nil || !errors.Is(err, device.ErrNotification) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60q: %v, want ErrNotification containing %q", tc.payload, err, tc.want)
		}
	}
}

// FuzzParseNotification: any payload is parsed or refused, never a panic.
func FuzzParseNotification(f *testing.F) {
	for _, seed := range []string{"hi", `{"text":"x","color":[1,2,3]}`, `{"image":"data:image/png;base64,iVBORw0KGgo="}`, `{"duration":1e300}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		device.ParseNotification([]byte(payload), nil)
	})
}

// TestDrawNotification_InlinePictureScaledOnce: a notification's inline
// picture is scaled once for the display's size, not again for every frame.
func TestDrawNotification_InlinePictureScaledOnce(t *testing.T) {
	dataURL := "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngOf(t, 16, 16, color.RGBA{G: 255, B: 255, A: 255}))
	n, err := device.ParseNotification([]byte(`{"image":"`+dataURL+`"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := image.NewRGBA(image.Rect(0, 0, 64, 64))
	device.DrawNotification(dst, &n, nil, 0)
	if got := dst.RGBAAt(0, 0); got.G < 200 || got.B < 200 || got.R > 50 {
		t.Fatalf("pixel (0,0) = %v, want the picture's cyan border", got)
	}
	first := bytes.Clone(dst.Pix)
	allocs := testing.AllocsPerRun(20, func() { device.DrawNotification(dst, &n, nil, 0) })
	if !bytes.Equal(first, dst.Pix) {
		t.Error("a later frame differs from the first")
	}
	// Scaling allocates the animation and a frame (64x64) each time.
	if allocs > 2 {
		t.Errorf("%.0f allocations a frame: the picture is scaled again for each", allocs)
	}
}
