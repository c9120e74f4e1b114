package web_test

import (
	"bytes"
	"image/png"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// TestStream_SnapshotThenChanges: a page that opens gets the full state
// at once (every display's state, availability, bridge/info, the events
// so far), then every change made anywhere, MQTT included, within 1 s.
func TestStream_SnapshotThenChanges(t *testing.T) {
	r := startRig(t, []string{"demo", "desk"}, nil)
	c := mqtttest.Connect(t, r.mqtt)
	c.Publish(topicOf("demo", "brightness/set"), "abc", false) // an event before the page opens
	mqtttest.WaitUntil(t, 5*time.Second, "the refusal is an event", func() bool { return len(r.events.Recent()) > 0 })

	s := testkit.OpenStream(t, r.url+"/api/stream", nil)
	data, _, ok := s.WaitSince(0, 5*time.Second, func([]byte) bool { return true })
	if !ok {
		t.Fatal("no snapshot")
	}
	snap := decode(t, data)
	if snap.Type != "snapshot" || snap.Base != base || !snap.Ready {
		t.Fatalf("first message: type %q base %q ready %v, want a ready snapshot of %s", snap.Type, snap.Base, snap.Ready, base)
	}
	got := make(map[string]string)
	for _, tp := range snap.Topics {
		got[tp.Topic] = string(tp.Payload)
	}
	for _, want := range []string{"bridge/info", "bridge/state", "demo/state", "demo/availability", "desk/state", "desk/availability"} {
		if _, ok := got[base+"/"+want]; !ok {
			t.Errorf("the snapshot lacks %s/%s; it has %v", base, want, keys(got))
		}
	}
	if _, ok := got[base+"/demo/brightness"]; ok {
		t.Error("the snapshot repeats the field topics (the state topic holds them)")
	}
	if got[base+"/demo/availability"] != `"online"` {
		t.Errorf("demo/availability = %s, want \"online\"", got[base+"/demo/availability"])
	}
	if !strings.Contains(got[base+"/bridge/info"], `"sceneDetails"`) {
		t.Errorf("bridge/info has no sceneDetails: %s", got[base+"/bridge/info"])
	}
	if len(snap.Events) == 0 || !strings.Contains(snap.Events[len(snap.Events)-1].Error, "brightness") {
		t.Errorf("the snapshot's events %+v lack the refused brightness", snap.Events)
	}

	// A change over MQTT reaches the page.
	mark := s.Mark()
	start := time.Now()
	c.Publish(topicOf("demo", "brightness/set"), "40", false)
	waitState(t, s, mark, time.Second, "demo", func(st state.State) bool { return st.Brightness == 40 })
	t.Logf("MQTT set to page: %v", time.Since(start))

	// A refusal reaches the page as an event, once.
	mark = s.Mark()
	c.Publish(topicOf("demo", "playState/set"), "dancing", false)
	data, at, ok := s.WaitSince(mark, time.Second, func(d []byte) bool { return decode(t, d).Type == "event" })
	if !ok {
		t.Fatal("no event for the refused playState")
	}
	if e := decode(t, data).Event; e.Device != "demo" || !strings.Contains(e.Error, "playState") {
		t.Errorf("event %+v, want demo's refused playState", e)
	}
	if _, _, again := s.WaitSince(at+1, 200*time.Millisecond, func(d []byte) bool { return decode(t, d).Type == "event" }); again {
		t.Error("the event came twice")
	}
}

// TestCommand: the page's commands go through the bridge's checks as MQTT
// commands do; the retained state follows, and a refusal comes back with
// its reason (and as an event).
func TestCommand(t *testing.T) {
	r := startRig(t, []string{"demo"}, nil)
	c := mqtttest.Connect(t, r.mqtt)
	c.Subscribe(base + "/#")

	if code, body := r.command(topicOf("demo", "brightness/set"), "40"); code != http.StatusOK {
		t.Fatalf("brightness 40: %d %s", code, body)
	}
	c.WaitState(time.Second, base, "demo", func(st state.State) bool { return st.Brightness == 40 })

	// A scene with a parameter, in the pidicon shape and as a JSON set.
	if code, body := r.command(topicOf("demo", "activeScene/set"), map[string]any{"scene": "text", "text": "Hi", "speed": 50}); code != http.StatusOK {
		t.Fatalf("text scene: %d %s", code, body)
	}
	c.WaitState(time.Second, base, "demo", func(st state.State) bool {
		return st.ActiveScene == "text" && strings.Contains(string(st.SceneParams), `"speed":50`)
	})
	if code, body := r.command(topicOf("demo", "set"), map[string]any{"activeScene": "fill", "sceneParams": map[string]any{"color": "#00ff00"}}); code != http.StatusOK {
		t.Fatalf("fill scene: %d %s", code, body)
	}
	c.WaitState(time.Second, base, "demo", func(st state.State) bool {
		return st.ActiveScene == "fill" && strings.Contains(string(st.SceneParams), `#00ff00`)
	})

	mark := len(r.events.Recent())
	code, body := r.command(topicOf("demo", "set"), map[string]any{"activeScene": "text", "sceneParams": map[string]any{"text": "x", "speed": 999}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "speed") {
		t.Errorf("speed 999: %d %s, want 422 naming speed", code, body)
	}
	if ev := r.events.Recent(); len(ev) != mark+1 || ev[mark].Topic != topicOf("demo", "set") {
		t.Errorf("events after the refusal: %+v, want one for %s", ev[mark:], topicOf("demo", "set"))
	}
	c.WaitState(time.Second, base, "demo", func(st state.State) bool { return st.ActiveScene == "fill" }) // nothing applied

	for _, tc := range []struct {
		name, topic string
		payload     any
		want        int
		text        string
	}{
		{"unknown device", topicOf("nope", "brightness/set"), "1", http.StatusUnprocessableEntity, "unknown device"},
		{"not a command topic", topicOf("demo", "state"), "{}", http.StatusUnprocessableEntity, "not a command topic"},
		{"another base topic", "other/demo/brightness/set", "1", http.StatusBadRequest, "pidicon/"},
		{"unknown scene", topicOf("demo", "activeScene/set"), "nope", http.StatusUnprocessableEntity, "clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := r.command(tc.topic, tc.payload)
			if code != tc.want || !strings.Contains(body, tc.text) {
				t.Errorf("%d %s, want %d with %q", code, body, tc.want, tc.text)
			}
		})
	}
}

// TestCommand_CrossOrigin: a state change from another site is refused,
// whichever way the browser says so, and only JSON is taken.
func TestCommand_CrossOrigin(t *testing.T) {
	r := startRig(t, []string{"demo"}, nil)
	body := []byte(`{"topic":"pidicon/demo/brightness/set","payload":"5"}`)
	for _, tc := range []struct {
		name        string
		contentType string
		header      []string
		want        int
	}{
		{"another site", "application/json", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"another origin, old browser", "application/json", []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"same site, another port", "application/json", []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		{"a form", "application/x-www-form-urlencoded", []string{"Sec-Fetch-Site", "same-origin"}, http.StatusUnsupportedMediaType},
		{"text/plain", "text/plain", []string{"Sec-Fetch-Site", "same-origin"}, http.StatusUnsupportedMediaType},
		{"the page", "application/json", []string{"Sec-Fetch-Site", "same-origin", "Origin", r.url}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, text := r.post("/api/command", tc.contentType, body, tc.header...)
			if code != tc.want {
				t.Errorf("%d %s, want %d", code, text, tc.want)
			}
		})
	}
	code, text := r.post("/api/image/logo", "image/png", testkit.PNG(t, testkit.Frame(8, 8)), "Sec-Fetch-Site", "cross-site")
	if code != http.StatusForbidden {
		t.Errorf("image from another site: %d %s, want 403", code, text)
	}
}

// TestHeaders: the page and its API come with headers that keep them to
// themselves: a policy without inline script, no sniffing, no framing, no
// referrer.
func TestHeaders(t *testing.T) {
	r := startRig(t, []string{"demo"}, nil)
	for _, path := range []string{"/", "/app.js", "/style.css", "/api/frame/demo.png"} {
		resp, err := http.Get(r.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", path, k, h.Get(k), v)
			}
		}
		if resp.StatusCode != http.StatusOK && path != "/api/frame/demo.png" {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
	resp, err := http.Get(r.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script>`), regexp.MustCompile(`<style`), regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`), regexp.MustCompile(`https?://`),
	} {
		if loc := bad.FindIndex(page); loc != nil {
			t.Errorf("the page holds %q: inline code or style, or something fetched from elsewhere", page[loc[0]:loc[1]])
		}
	}
}

// TestImage: an upload from the page is stored as over MQTT (and listed
// in bridge/info); what is not an image, or too large, is refused with the
// reason.
func TestImage(t *testing.T) {
	r := startRig(t, []string{"demo"}, nil)
	c := mqtttest.Connect(t, r.mqtt)
	c.Subscribe(base + "/bridge/info")
	same := []string{"Sec-Fetch-Site", "same-origin"}
	if code, body := r.post("/api/image/logo", "image/png", testkit.PNG(t, testkit.Frame(16, 16)), same...); code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, body)
	}
	c.WaitFor(time.Second, "bridge/info lists logo", func(m mqtttest.Msg) bool { return strings.Contains(m.Text(), `"name":"logo"`) })
	if code, body := r.post("/api/image/notes", "image/png", []byte("not an image"), same...); code != http.StatusUnprocessableEntity {
		t.Errorf("not an image: %d %s, want 422", code, body)
	}
	big := bytes.Repeat([]byte{0}, 1<<20+1)
	if code, body := r.post("/api/image/big", "image/png", big, same...); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "1 MiB") {
		t.Errorf("too large: %d %s, want 413 saying 1 MiB", code, body)
	}
	if code, body := r.post("/api/image/Bad%20Name", "image/png", testkit.PNG(t, testkit.Frame(4, 4)), same...); code != http.StatusUnprocessableEntity {
		t.Errorf("bad name: %d %s, want 422", code, body)
	}
	if code, body := r.post("/api/image/empty", "image/png", nil, same...); code != http.StatusBadRequest {
		t.Errorf("no file: %d %s, want 400", code, body)
	}
}

// TestFrame: /api/frame/<id> is the frame the daemon publishes on MQTT,
// and the stream announces each new one.
func TestFrame(t *testing.T) {
	r := startRig(t, []string{"demo"}, nil)
	c := mqtttest.Connect(t, r.mqtt)
	c.Subscribe(topicOf("demo", "frame"))
	s := testkit.OpenStream(t, r.url+"/api/stream", nil)
	mark := s.Mark()
	if code, body := r.command(topicOf("demo", "set"), map[string]any{"activeScene": "fill", "sceneParams": map[string]any{"color": "#123456"}}); code != http.StatusOK {
		t.Fatalf("fill: %d %s", code, body)
	}
	m := c.WaitFor(3*time.Second, "a #123456 frame", func(m mqtttest.Msg) bool { return isFill(m.Payload, 0x12, 0x34, 0x56) })
	data, _, ok := s.WaitSince(mark, 3*time.Second, func(d []byte) bool { return decode(t, d).Type == "frame" })
	if !ok {
		t.Fatal("the stream announced no frame")
	}
	if f := decode(t, data); f.Device != "demo" || f.Version == 0 {
		t.Errorf("frame message %s", data)
	}
	mqtttest.WaitUntil(t, 3*time.Second, "/api/frame/demo.png is the retained frame", func() bool {
		resp, err := http.Get(r.url + "/api/frame/demo.png")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Content-Type") == "image/png" && bytes.Equal(b, m.Payload)
	})
	resp, err := http.Get(r.url + "/api/frame/nope.png")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("frame of an unknown display: %s", resp.Status)
	}
}

// TestClose: Close ends the open streams at once (the HTTP server's
// shutdown does not wait for them), and later pages are told the daemon
// is stopping.
func TestClose(t *testing.T) {
	r := startRig(t, []string{"demo"}, nil)
	testkit.FollowStream(t, r.url+"/api/stream", nil, func([]byte) {})
	mqtttest.WaitUntil(t, 5*time.Second, "the page is open", func() bool { return r.web.Stats().Pages == 1 })
	r.web.Close()
	mqtttest.WaitUntil(t, 2*time.Second, "the stream ends", func() bool { return r.web.Stats().Pages == 0 })
	resp, err := http.Get(r.url + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a stream after Close: %s, want 503", resp.Status)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// isFill reports whether a PNG is one colour.
func isFill(p []byte, r, g, b uint8) bool {
	img, err := png.Decode(bytes.NewReader(p))
	if err != nil {
		return false
	}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if uint8(cr>>8) != r || uint8(cg>>8) != g || uint8(cb>>8) != b {
				return false
			}
		}
	}
	return true
}
