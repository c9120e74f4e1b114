package main_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the web page's screenshots to docs/img")

// webDaemon is the daemon with two simulated displays, its web page on a
// free port, and an MQTT client watching everything.
type webDaemon struct {
	t       *testing.T
	config  string
	page    string // the page's URL
	mqtt    string // the broker's URL
	proc    *proc
	watcher *mqtttest.Client
}

func startWebDaemon(t *testing.T) *webDaemon {
	t.Helper()
	dir := t.TempDir()
	port, httpPort := freePort(t), freePort(t)
	w := &webDaemon{
		t:    t,
		page: fmt.Sprintf("http://127.0.0.1:%d/", httpPort),
		mqtt: fmt.Sprintf("tcp://127.0.0.1:%d", port),
		config: writeConfig(t, dir, fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
http: {listen: "127.0.0.1:%d"}
state: {path: %q, debounce: 100ms, max_delay: 1s}
devices:
  - {id: demo, name: Living room, type: sim}
  - {id: desk, name: Desk clock, type: sim-awtrix, startup_scene: clock}
`, port, httpPort, filepath.Join(dir, "state.json"))),
	}
	w.start(t)
	return w
}

// start runs the daemon (until w's test ends) and waits until its state
// is on MQTT.
func (w *webDaemon) start(t *testing.T) {
	t.Helper()
	w.proc = startProc(w.t, w.config)
	mqtttest.WaitAccepting(t, 10*time.Second, w.mqtt)
	w.watch(t)
	w.watcher.WaitState(10*time.Second, "pidicon", "desk", func(state.State) bool { return true })
}

// watch makes the watcher a client of t: a wait that fails must stop t,
// not the parent of a subtest.
func (w *webDaemon) watch(t *testing.T) {
	w.watcher = mqtttest.Connect(t, w.mqtt)
	w.watcher.Subscribe("pidicon/#")
}

// TestWebPage drives the daemon's real page in a real headless browser,
// one browser for all of it: what the page shows, what it sends, and how
// it follows the daemon.
func TestWebPage(t *testing.T) {
	browser := startBrowser(t)
	w := startWebDaemon(t)

	t.Run("Live", func(t *testing.T) {
		w.watch(t)
		testPageLive(t, browser, w)
	})
	t.Run("Screenshots", func(t *testing.T) {
		w.watch(t)
		testPageScreenshots(t, browser, w)
	})
}

// testPageLive: the page opens with every display and its state; controls
// change the retained state; a change over MQTT shows on two pages within
// a second; a refused command shows why and the form returns to the real
// state; the frame canvas holds the display's pixels, scaled without blur;
// the page survives a restart of the daemon without a reload.
func testPageLive(t *testing.T, browser context.Context, w *webDaemon) {
	one := openTab(t, browser, w.page)
	one.waitFor(10*time.Second, "the page is live with both displays",
		`document.querySelector('#link').dataset.state === 'live' && !!document.querySelector('#d-demo-brightness') && !!document.querySelector('#d-desk-brightness')`)
	st := w.watcher.WaitState(time.Second, "pidicon", "demo", func(state.State) bool { return true })
	if got := eval[string](one, `document.querySelector('#d-demo-brightness').value`); got != fmt.Sprint(st.Brightness) {
		t.Errorf("the page shows brightness %s, the daemon has %d", got, st.Brightness)
	}
	if got := eval[string](one, `document.querySelector('#d-demo-scene').value`); got != st.ActiveScene {
		t.Errorf("the page shows scene %q, the daemon has %q", got, st.ActiveScene)
	}
	if got := eval[string](one, `document.querySelector('[data-device=desk] [data-role=meta]').textContent`); !strings.Contains(got, "32×8") {
		t.Errorf("desk's line %q does not give its size 32×8", got)
	}
	unlabelled := eval[[]string](one, `[...document.querySelectorAll('input, select, button, textarea')]
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
		.map(e => e.id || e.outerHTML.slice(0, 80))`)
	if len(unlabelled) > 0 {
		t.Errorf("controls without a label: %v", unlabelled)
	}

	// Brightness with the keyboard: End, then two steps down.
	one.do(chromedp.Focus(chromedp.ID("d-demo-brightness")), chromedp.KeyEvent(kb.End))
	w.watcher.WaitState(pageActionWait, "pidicon", "demo", func(s state.State) bool { return s.Brightness == 100 })
	one.do(chromedp.KeyEvent(kb.ArrowLeft), chromedp.KeyEvent(kb.ArrowLeft))
	w.watcher.WaitState(pageActionWait, "pidicon", "demo", func(s state.State) bool { return s.Brightness == 98 })
	// Keys in a burst: the state of each step comes back while the next
	// keys are pressed, and must not move the slider back under them.
	for range 5 {
		one.do(chromedp.KeyEvent(kb.Home), chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight))
		w.watcher.WaitState(pageActionWait, "pidicon", "demo", func(s state.State) bool { return s.Brightness == 3 })
		one.do(chromedp.KeyEvent(kb.End), chromedp.KeyEvent(kb.ArrowLeft), chromedp.KeyEvent(kb.ArrowLeft), chromedp.KeyEvent(kb.ArrowLeft))
		w.watcher.WaitState(pageActionWait, "pidicon", "demo", func(s state.State) bool { return s.Brightness == 97 })
	}

	// And with the mouse: a click near the slider's left end.
	at := eval[[]float64](one, `(() => {
		const e = document.querySelector('#d-demo-brightness');
		e.scrollIntoView({block: 'center'});
		const r = e.getBoundingClientRect();
		return [r.left + 3, r.top + r.height / 2];
	})()`)
	one.do(chromedp.MouseClickXY(at[0], at[1]))
	w.watcher.WaitState(pageActionWait, "pidicon", "demo", func(s state.State) bool { return s.Brightness <= 5 })
	one.waitFor(time.Second, "the slider stays where it was released", `Number(document.querySelector('#d-demo-brightness').value) <= 5`)

	// Playback, screen and logging level.
	one.do(chromedp.Click(chromedp.CSS(`[data-device=demo] [data-play=paused]`)))
	w.watcher.WaitState(pageActionWait, "pidicon", "demo", func(s state.State) bool { return s.PlayState == state.Paused })
	one.waitFor(time.Second, "Pause is shown pressed", `document.querySelector('[data-device=demo] [data-play=paused]').getAttribute('aria-pressed') === 'true'`)
	one.do(chromedp.Click(chromedp.CSS(`[data-device=demo] [data-play=playing]`)), chromedp.Click(chromedp.ID("d-demo-display-on")))
	w.watcher.WaitState(pageActionWait, "pidicon", "demo", func(s state.State) bool { return s.PlayState == state.Playing && !s.DisplayOn })
	one.do(chromedp.Click(chromedp.ID("d-demo-display-on")))
	eval[bool](one, `(() => {
		const s = document.querySelector('#d-demo-logging');
		s.value = 'debug';
		s.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})()`)
	w.watcher.WaitState(pageActionWait, "pidicon", "demo", func(s state.State) bool { return s.DisplayOn && s.LoggingLevel == state.LevelDebug })
	one.waitFor(3*time.Second, "the metrics are shown", `document.querySelector('#d-demo-metrics').textContent.includes('frames pushed')`)

	// A notification from the page, shown while it is on screen, then
	// dismissed.
	one.do(chromedp.SendKeys(chromedp.ID("d-demo-notify-text"), "Hi there"), chromedp.Click(chromedp.CSS("#d-demo-notify-form button[type=submit]")))
	w.watcher.WaitFor(2*time.Second, "the notification is on screen", func(m mqtttest.Msg) bool {
		return m.Topic == "pidicon/demo/notification" && strings.Contains(m.Text(), "Hi there")
	})
	one.waitFor(2*time.Second, "the page shows the notification", `document.querySelector('#d-demo-notification').textContent.includes('Hi there')`)
	one.do(chromedp.Click(chromedp.ID("d-demo-dismiss")))
	one.waitFor(2*time.Second, "the notification is gone", `document.querySelector('#d-demo-notification').textContent === 'None showing.'`)

	// A scene with a parameter from the form.
	eval[bool](one, `(() => {
		const s = document.querySelector('#d-demo-scene');
		s.value = 'fill';
		s.dispatchEvent(new Event('change', {bubbles: true}));
		const c = document.querySelector('#d-demo-p-color');
		c.value = '#00ff00';
		c.dispatchEvent(new Event('input', {bubbles: true}));
		return true;
	})()`)
	one.do(chromedp.Click(chromedp.ID("d-demo-scene-apply")))
	w.watcher.WaitState(pageActionWait, "pidicon", "demo", func(s state.State) bool {
		return s.ActiveScene == "fill" && string(s.SceneParams) == `{"color":"#00ff00"}`
	})

	// An image from the page's upload form: its pixels on the canvas.
	pattern := testkit.Frame(64, 64)
	file := filepath.Join(t.TempDir(), "Pattern.png")
	writePNG(t, file, pattern)
	one.do(chromedp.SetUploadFiles(chromedp.ID("d-demo-image-file"), []string{file}))
	one.waitFor(2*time.Second, "the image's name comes from the file", `document.querySelector('#d-demo-image-name').value === 'pattern'`)
	one.do(chromedp.Click(chromedp.CSS("#d-demo-image-form button[type=submit]")))
	w.watcher.WaitState(5*time.Second, "pidicon", "demo", func(s state.State) bool {
		return s.ActiveScene == "image" && string(s.SceneParams) == `{"image":"pattern"}`
	})
	checkFrame(t, one, w, pattern)

	// Two pages; a change over MQTT shows on both within a second.
	two := openTab(t, browser, w.page)
	two.waitFor(10*time.Second, "the second page is live", `document.querySelector('#link').dataset.state === 'live' && !!document.querySelector('#d-demo-brightness')`)
	for _, tb := range []*tab{one, two} {
		eval[bool](tb, `window.pidiconTestMarker = true`) // gone if the page reloads
	}
	seeOnBoth := func(client *mqtttest.Client, v int) {
		t.Helper()
		start := time.Now()
		client.Publish("pidicon/demo/brightness/set", fmt.Sprint(v), false)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		took := make([]time.Duration, 2)
		for i, tb := range []*tab{one, two} {
			wg.Go(func() {
				errs[i] = tb.poll(time.Second, fmt.Sprintf(`document.querySelector('#d-demo-brightness-value').textContent === '%d'`, v))
				took[i] = time.Since(start)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("page %d does not show brightness %d within 1s of the MQTT set: %v", i+1, v, err)
			}
		}
		t.Logf("brightness %d over MQTT shown by the pages after %v and %v", v, took[0].Round(time.Millisecond), took[1].Round(time.Millisecond))
	}
	seeOnBoth(w.watcher, 23)

	// A refused command: the reason next to the form, which goes back to
	// the daemon's state; the event in the list.
	eval[bool](one, `(() => {
		const s = document.querySelector('#d-demo-scene');
		s.value = 'text';
		s.dispatchEvent(new Event('change', {bubbles: true}));
		for (const [id, v] of [['#d-demo-p-text', 'Hello'], ['#d-demo-p-speed', '999']]) {
			const e = document.querySelector(id);
			e.value = v;
			e.dispatchEvent(new Event('input', {bubbles: true}));
		}
		return true;
	})()`)
	one.do(chromedp.Click(chromedp.ID("d-demo-scene-apply")))
	one.waitFor(2*time.Second, "the refusal shows next to the scene form", `document.querySelector('#d-demo-scene-error').textContent.includes('speed')`)
	if got := eval[string](one, `document.querySelector('#d-demo-scene').value`); got != "image" {
		t.Errorf("after the refusal the scene control shows %q, want the daemon's image", got)
	}
	one.waitFor(2*time.Second, "the refusal is in the events", `document.querySelector('#events li').textContent.includes('speed')`)
	w.watcher.WaitState(time.Second, "pidicon", "demo", func(s state.State) bool { return s.ActiveScene == "image" })

	// The daemon stops: both pages say so; it starts again: both recover
	// by themselves, without a reload, and follow changes again.
	if code := w.proc.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for _, tb := range []*tab{one, two} {
		tb.waitFor(5*time.Second, "the page says it lost the daemon", `document.querySelector('#link').dataset.state === 'lost'`)
	}
	w.start(t)
	for _, tb := range []*tab{one, two} {
		tb.waitFor(10*time.Second, "the page is live again, with the restored state",
			`document.querySelector('#link').dataset.state === 'live' && document.querySelector('#d-demo-brightness-value').textContent === '23'`)
		if !eval[bool](tb, `window.pidiconTestMarker === true`) {
			t.Error("the page was reloaded")
		}
	}
	seeOnBoth(w.watcher, 61)
}

// checkFrame: the canvas holds the display's frame, pixel for pixel (read
// back from the canvas), and the browser shows each of its pixels as a
// square of one colour (no smoothing between them).
func checkFrame(t *testing.T, tb *tab, w *webDaemon, want *image.RGBA) {
	t.Helper()
	var frame image.Image
	mqtttest.WaitUntil(t, 5*time.Second, "the retained frame shows the image", func() bool {
		m, ok := w.watcher.Last("pidicon/demo/frame")
		if !ok {
			return false
		}
		img, err := png.Decode(bytes.NewReader(m.Payload))
		if err != nil || !samePixels(img, want) {
			return false
		}
		frame = img
		return true
	})
	mqtttest.WaitUntil(t, 5*time.Second, "the canvas holds the display's frame", func() bool {
		return samePixels(canvasPixels(t, tb, "d-demo-frame"), frame)
	})

	// As shown: each display pixel a square block of its own colour.
	scale := eval[int](tb, `document.querySelector('#d-demo-frame').getBoundingClientRect().width / 64`)
	if scale < 2 || eval[float64](tb, `document.querySelector('#d-demo-frame').getBoundingClientRect().width`) != float64(64*scale) {
		t.Fatalf("the canvas is scaled by %d: want a whole number of at least 2", scale)
	}
	// The header stays on top when the page scrolls: out of the way.
	eval[bool](tb, `(document.querySelector('.top').style.position = 'static') === 'static'`)
	shot := decodePNG(t, screenshot(t, tb, chromedp.ID("d-demo-frame")))
	eval[bool](tb, `(document.querySelector('.top').style.position = '') === ''`)
	b := shot.Bounds()
	if b.Dx() != 64*scale || b.Dy() != 64*scale {
		t.Fatalf("screenshot of the canvas is %v, want %dx%d", b, 64*scale, 64*scale)
	}
	for y := range 64 * scale {
		for x := range 64 * scale {
			got := color.RGBAModel.Convert(shot.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA)
			wantPx := want.RGBAAt(want.Rect.Min.X+x/scale, want.Rect.Min.Y+y/scale)
			if !near(got, wantPx) {
				t.Fatalf("shown pixel (%d,%d) of display pixel (%d,%d) is %v, want %v: blurred or misplaced", x, y, x/scale, y/scale, got, wantPx)
			}
		}
	}
}

// canvasPixels reads a canvas's pixels back from the browser.
func canvasPixels(t *testing.T, tb *tab, id string) image.Image {
	t.Helper()
	var px struct {
		W, H int
		Data string
	}
	px = eval[struct {
		W, H int
		Data string
	}](tb, fmt.Sprintf(`(() => {
		const c = document.getElementById(%q);
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let s = '';
		for (const b of d) s += String.fromCharCode(b);
		return {W: c.width, H: c.height, Data: btoa(s)};
	})()`, id))
	raw, err := base64.StdEncoding.DecodeString(px.Data)
	if err != nil || len(raw) != px.W*px.H*4 {
		t.Fatalf("canvas pixels: %d bytes for %dx%d, %v", len(raw), px.W, px.H, err)
	}
	return &image.RGBA{Pix: raw, Stride: px.W * 4, Rect: image.Rect(0, 0, px.W, px.H)}
}

func screenshot(t *testing.T, tb *tab, sel chromedp.ID) []byte {
	t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.Screenshot(sel))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return png
}

// testPageScreenshots: the page at desktop and phone widths (no sideways
// scrolling on the phone); with -update-screenshots the pictures go to
// docs/img for the README.
func testPageScreenshots(t *testing.T, browser context.Context, w *webDaemon) {
	c := mqtttest.Connect(t, w.mqtt)
	c.Publish("pidicon/demo/set", `{"activeScene":"clock","sceneParams":{"color":"#ffb000"},"brightness":80}`, false)
	c.Publish("pidicon/desk/set", `{"activeScene":"text","sceneParams":{"text":"Hello","color":"#40d0ff"}}`, false)
	c.Publish("pidicon/desk/brightness/set", "150", false) // a refusal, to show in the events
	tb := openTab(t, browser, w.page)
	// The frames of the new scenes: a pixel of each one's colour.
	tb.waitFor(10*time.Second, "both canvases show the new scenes", `(() => {
		const has = (id, r, g, b) => {
			const c = document.getElementById(id);
			if (!c) return false;
			const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			for (let i = 0; i < d.length; i += 4) if (d[i] === r && d[i + 1] === g && d[i + 2] === b) return true;
			return false;
		};
		return has('d-demo-frame', 0xff, 0xb0, 0x00) && has('d-desk-frame', 0x40, 0xd0, 0xff);
	})()`)
	for _, view := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"desktop", 1280, 900, false},
		{"phone", 390, 844, true},
	} {
		opts := []chromedp.EmulateViewportOption{}
		if view.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateScale(1))
		}
		tb.do(chromedp.EmulateViewport(view.width, view.height, opts...))
		tb.waitFor(10*time.Second, "the page shows both displays' frames and the refusal",
			`document.querySelector('#link').dataset.state === 'live' && document.querySelectorAll('.display[data-frame]').length === 2 &&
			 document.querySelector('#d-desk-scene').value === 'text' && document.querySelector('#events li') !== null`)
		if wide := eval[bool](tb, `document.documentElement.scrollWidth > window.innerWidth`); wide {
			t.Errorf("%s: the page is wider than the screen (%d px)", view.name, view.width)
		}
		// The whole page on a desktop; what a phone shows at first.
		take := chromedp.FullScreenshot(100)
		if view.mobile {
			take = chromedp.CaptureScreenshot()
		}
		ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
		shot, err := chromedp.Run(ctx, take)
		cancel()
		if err != nil {
			t.Fatalf("%s screenshot: %v", view.name, err)
		}
		img := decodePNG(t, shot)
		if img.Bounds().Dx() != int(view.width) {
			t.Errorf("%s screenshot is %d px wide, want %d", view.name, img.Bounds().Dx(), view.width)
		}
		if *updateScreenshots {
			path := filepath.Join("..", "..", "docs", "img", "web-"+view.name+".png")
			if err := os.WriteFile(path, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", path)
		}
	}
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode PNG: %v", err)
	}
	return img
}

// samePixels reports whether two images have the same size and pixels.
func samePixels(a, b image.Image) bool {
	ab, bb := a.Bounds(), b.Bounds()
	if ab.Dx() != bb.Dx() || ab.Dy() != bb.Dy() {
		return false
	}
	for y := range ab.Dy() {
		for x := range ab.Dx() {
			ca := color.RGBAModel.Convert(a.At(ab.Min.X+x, ab.Min.Y+y))
			cb := color.RGBAModel.Convert(b.At(bb.Min.X+x, bb.Min.Y+y))
			if ca != cb {
				return false
			}
		}
	}
	return true
}

// near reports whether two colours differ by at most 2 per channel (the
// browser's compositing may round).
func near(a, b color.RGBA) bool {
	d := func(x, y uint8) bool { return x-y <= 2 || y-x <= 2 }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}

// pageActionWait bounds a control used on the page until the daemon has
// the change: a browser, the page's request and the daemon, all under the
// race detector on a busy machine.
const pageActionWait = 5 * time.Second
