package awtrix_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pidicon/pidicon-mqtt/device/awtrix"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// request is one request a fakeDevice got.
type request = testkit.Request

// fakeDevice is an AWTRIX stand-in that records every request verbatim
// and answers as reply says (okReply until setReply).
type fakeDevice struct {
	*testkit.Recorder
	url string
}

func newFakeDevice(t *testing.T) *fakeDevice {
	t.Helper()
	r := testkit.NewRecorder(t, okReply)
	return &fakeDevice{Recorder: r, url: r.URL}
}

// statsJSON is a GET /api/stats reply of a real clock.
const statsJSON = `{"bat":97,"bat_raw":664,"type":0,"lux":23,"ldr_raw":112,"ram":146504,"bri":128,` +
	`"temp":24.3,"hum":38,"uptime":4711,"wifi_signal":-61,"messages":3,"version":"0.98",` +
	`"indicator1":false,"indicator2":false,"indicator3":false,"app":"pidicon",` +
	`"uid":"awtrix_1a2b3c","matrix":true,"ip_address":"192.168.1.20"}`

// okReply answers like a healthy clock: stats for GET /api/stats, "OK"
// for every POST.
func okReply(r request, w http.ResponseWriter) {
	if r.Method == http.MethodGet && r.Path == "/api/stats" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(statsJSON))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("OK"))
}

// setReply changes the answer to the following requests; nil is okReply.
func (d *fakeDevice) setReply(f func(r request, w http.ResponseWriter)) {
	if f == nil {
		f = okReply
	}
	d.SetReply(f)
}

// take returns the requests received since the last call.
func (d *fakeDevice) take() []request { return d.Take() }

// calls returns the call of each request.
func calls(reqs []request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.Call()
	}
	return out
}

// decode decodes a JSON body with numbers as json.Number.
func decode(t *testing.T, body string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body %q is not JSON: %v", body, err)
	}
	return v
}

func newClient(t *testing.T, host string, opts awtrix.Options) *awtrix.Client {
	t.Helper()
	c, err := awtrix.New(host, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", host, err)
	}
	t.Cleanup(c.Close)
	return c
}

// testFrame returns a 32x8 frame with a distinct colour per pixel.
func testFrame() *image.RGBA { return testkit.Frame(32, 8) }

// wantColors is the bitmap of frame as the "db" instruction carries it.
func wantColors(frame *image.RGBA) []any {
	var out []any
	b := frame.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := frame.RGBAAt(x, y)
			out = append(out, json.Number(fmt.Sprint(int(c.R)<<16|int(c.G)<<8|int(c.B))))
		}
	}
	return out
}

func TestNew_Hosts(t *testing.T) {
	good := []struct{ host, url string }{
		{"192.168.1.10", "http://192.168.1.10"},
		{"192.168.1.10:8080", "http://192.168.1.10:8080"},
		{"http://192.168.1.10:8080", "http://192.168.1.10:8080"},
		{"http://192.168.1.10/", "http://192.168.1.10"},
		{"HTTP://awtrix.local", "http://awtrix.local"},
		{" awtrix.local ", "http://awtrix.local"},
		{"::1", "http://[::1]"},
		{"[::1]:8080", "http://[::1]:8080"},
	}
	for _, tt := range good {
		c, err := awtrix.New(tt.host, awtrix.Options{})
		if err != nil {
			t.Errorf("New(%q): %v", tt.host, err)
			continue
		}
		if got := c.URL(); got != tt.url {
			t.Errorf("New(%q).URL() = %q, want %q", tt.host, got, tt.url)
		}
	}
	for _, host := range []string{
		"", "https://1.2.3.4", "ftp://1.2.3.4", "http://", "1.2.3.4:0", "1.2.3.4:99999",
		"1.2.3.4:", "1.2.3.4:http", "http://1.2.3.4/api", "http://u:p@1.2.3.4", "1.2.3.4?x=1",
	} {
		if _, err := awtrix.New(host, awtrix.Options{}); err == nil {
			t.Errorf("New(%q) succeeded, want an error", host)
		}
	}
}

func TestNew_AppName(t *testing.T) {
	c := newClient(t, "127.0.0.1", awtrix.Options{})
	if got := c.AppName(); got != "pidicon" {
		t.Errorf("default AppName() = %q, want pidicon", got)
	}
	for _, name := range []string{"a", "scene_2", "Living-Room", strings.Repeat("x", 32)} {
		c, err := awtrix.New("127.0.0.1", awtrix.Options{AppName: name})
		if err != nil {
			t.Errorf("AppName %q: %v", name, err)
		} else if c.AppName() != name {
			t.Errorf("AppName() = %q, want %q", c.AppName(), name)
		}
	}
	for _, name := range []string{"two words", "a/b", "a&b=c", "é", "x\n", strings.Repeat("x", 33)} {
		if _, err := awtrix.New("127.0.0.1", awtrix.Options{AppName: name}); err == nil {
			t.Errorf("AppName %q accepted, want an error", name)
		}
	}
}

func TestClient_Geometry(t *testing.T) {
	c := newClient(t, "127.0.0.1", awtrix.Options{})
	if got, want := c.Size(), (scene.Size{W: 32, H: 8}); got != want {
		t.Errorf("Size() = %v, want %v", got, want)
	}
	if got := c.MaxFPS(); got != 5 {
		t.Errorf("MaxFPS() = %v, want 5", got)
	}
}

func TestBrightness(t *testing.T) {
	for _, tt := range []struct{ percent, bri int }{
		{0, 0}, {1, 3}, {2, 5}, {10, 26}, {25, 64}, {50, 128}, {75, 191}, {99, 252}, {100, 255},
	} {
		if got := awtrix.Brightness(tt.percent); got != tt.bri {
			t.Errorf("Brightness(%d) = %d, want %d", tt.percent, got, tt.bri)
		}
	}
	for p := range 101 {
		if got := awtrix.Percent(awtrix.Brightness(p)); got != p {
			t.Errorf("Percent(Brightness(%d)) = %d", p, got)
		}
	}
	for _, tt := range []struct{ bri, percent int }{{-5, 0}, {0, 0}, {1, 0}, {2, 1}, {120, 47}, {255, 100}, {300, 100}} {
		if got := awtrix.Percent(tt.bri); got != tt.percent {
			t.Errorf("Percent(%d) = %d, want %d", tt.bri, got, tt.percent)
		}
	}
}

func TestClient_SetBrightness(t *testing.T) {
	for _, tt := range []struct{ percent, bri int }{{0, 0}, {1, 3}, {50, 128}, {100, 255}} {
		t.Run(fmt.Sprint(tt.percent), func(t *testing.T) {
			d := newFakeDevice(t)
			c := newClient(t, d.url, awtrix.Options{})
			if err := c.SetBrightness(t.Context(), tt.percent); err != nil {
				t.Fatal(err)
			}
			got := d.take()
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			r := got[0]
			if r.Call() != "POST /api/settings" || r.ContentType != "application/json" {
				t.Errorf("request %s with Content-Type %q, want POST /api/settings, application/json", r.Call(), r.ContentType)
			}
			if want := fmt.Sprintf(`{"BRI":%d,"ABRI":false}`, tt.bri); r.Body != want {
				t.Errorf("body %s, want %s", r.Body, want)
			}
		})
	}
}

func TestClient_SetBrightnessOutOfRange(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, awtrix.Options{})
	for _, v := range []int{-1, 101, 1000} {
		if err := c.SetBrightness(t.Context(), v); err == nil {
			t.Errorf("SetBrightness(%d) succeeded, want an error", v)
		}
	}
	if got := d.take(); len(got) != 0 {
		t.Errorf("sent %v, want nothing", calls(got))
	}
}

func TestClient_SetDisplay(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, awtrix.Options{})
	if err := c.SetDisplay(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDisplay(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	want := []request{
		{Method: "POST", Path: "/api/power", ContentType: "application/json", Body: `{"power":false}`},
		{Method: "POST", Path: "/api/power", ContentType: "application/json", Body: `{"power":true}`},
	}
	if got := d.take(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests\n %+v\nwant\n %+v", got, want)
	}
}

func TestClient_Stats(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, awtrix.Options{})
	got, err := c.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := awtrix.Stats{
		Brightness: 128, Matrix: true, App: "pidicon", Uptime: 4711 * time.Second, Version: "0.98",
		Lux: 23, Battery: 97, WiFiSignal: -61, UID: "awtrix_1a2b3c", IPAddress: "192.168.1.20",
	}
	if got != want {
		t.Errorf("Stats() =\n %+v\nwant\n %+v", got, want)
	}
	if err := c.Probe(t.Context()); err != nil {
		t.Errorf("Probe: %v", err)
	}
	reqs := d.take()
	if !slices.Equal(calls(reqs), []string{"GET /api/stats", "GET /api/stats"}) {
		t.Errorf("requests %v, want two GET /api/stats", calls(reqs))
	}
	if reqs[0].Body != "" {
		t.Errorf("GET with body %q", reqs[0].Body)
	}

	// Only bri and matrix are required; odd optional fields are skipped.
	reply := func(body string) func(request, http.ResponseWriter) {
		return func(_ request, w http.ResponseWriter) { _, _ = w.Write([]byte(body)) }
	}
	d.setReply(reply(`{"bri":7.0,"matrix":false,"lux":"dark","uptime":-3,"app":5}`))
	got, err = c.Stats(t.Context())
	if err != nil || got != (awtrix.Stats{Brightness: 7}) {
		t.Errorf("Stats() = %+v, %v; want only Brightness 7", got, err)
	}
	for _, body := range []string{`{"matrix":true}`, `{"bri":"7","matrix":true}`, `{"bri":7}`,
		`{"bri":7,"matrix":null}`, `{"bri":7,"matrix":1}`, `{"bri":null,"matrix":true}`} {
		d.setReply(reply(body))
		if _, err := c.Stats(t.Context()); !errors.Is(err, awtrix.ErrBadReply) {
			t.Errorf("Stats() of %s: %v, want ErrBadReply", body, err)
		}
		if err := c.Probe(t.Context()); err != nil {
			t.Errorf("Probe() of %s: %v, want success", body, err)
		}
	}
	for _, body := range []string{`{"bri":7,"matrix":true`, `[1,2]`, `null`, `OK`, ``, `"x"`} {
		d.setReply(reply(body))
		if _, err := c.Stats(t.Context()); !errors.Is(err, awtrix.ErrBadReply) {
			t.Errorf("Stats() of %q: %v, want ErrBadReply", body, err)
		}
		err := c.Probe(t.Context())
		if !errors.Is(err, awtrix.ErrBadReply) {
			t.Errorf("Probe() of %q: %v, want ErrBadReply", body, err)
		} else if !strings.HasPrefix(err.Error(), "awtrix: GET /api/stats: ") {
			t.Errorf("error %q does not name the call", err)
		}
	}
}

func TestClient_PushFrame(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, awtrix.Options{})
	frame := testFrame()
	if err := c.PushFrame(t.Context(), frame); err != nil {
		t.Fatal(err)
	}
	got := d.take()
	if want := []string{"POST /api/custom?name=pidicon", "POST /api/switch"}; !slices.Equal(calls(got), want) {
		t.Fatalf("requests %v, want %v", calls(got), want)
	}
	for _, r := range got {
		if r.ContentType != "application/json" {
			t.Errorf("%s: Content-Type %q", r.Call(), r.ContentType)
		}
	}
	wantApp := map[string]any{"draw": []any{map[string]any{"db": []any{
		json.Number("0"), json.Number("0"), json.Number("32"), json.Number("8"), wantColors(frame),
	}}}}
	if app := decode(t, got[0].Body); !reflect.DeepEqual(app, wantApp) {
		t.Errorf("custom app body\n %s\nwant\n %v", got[0].Body, wantApp)
	}
	if got[1].Body != `{"name":"pidicon"}` {
		t.Errorf("switch body %s, want {\"name\":\"pidicon\"}", got[1].Body)
	}
	if err := c.PushFrame(t.Context(), frame); err != nil {
		t.Fatal(err)
	}
	got = d.take()
	if want := []string{"POST /api/custom?name=pidicon"}; !slices.Equal(calls(got), want) {
		t.Fatalf("second push: requests %v, want %v", calls(got), want)
	}
	if app := decode(t, got[0].Body); !reflect.DeepEqual(app, wantApp) {
		t.Errorf("second custom app body %s", got[0].Body)
	}
}

func TestClient_PushFrameColours(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, awtrix.Options{AppName: "clock-2"})
	frame := image.NewRGBA(image.Rect(0, 0, 32, 8))
	frame.SetRGBA(0, 0, color.RGBA{R: 0xff, A: 0xff})
	frame.SetRGBA(1, 0, color.RGBA{G: 0xff, A: 0xff})
	frame.SetRGBA(31, 0, color.RGBA{B: 0xff, A: 0xff})
	frame.SetRGBA(0, 1, color.RGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff})
	frame.SetRGBA(31, 7, color.RGBA{R: 1, G: 2, B: 3, A: 0}) // alpha ignored
	if err := c.PushFrame(t.Context(), frame); err != nil {
		t.Fatal(err)
	}
	got := d.take()
	if got[0].Call() != "POST /api/custom?name=clock-2" || got[1].Body != `{"name":"clock-2"}` {
		t.Fatalf("requests %v, switch body %s", calls(got), got[1].Body)
	}
	colours := make([]string, 256)
	for i := range colours {
		colours[i] = "0"
	}
	colours[0], colours[1], colours[31], colours[32], colours[255] = "16711680", "65280", "255", "16777215", "66051"
	want := `{"draw":[{"db":[0,0,32,8,[` + strings.Join(colours, ",") + `]]}]}`
	if got[0].Body != want {
		t.Errorf("body\n %s\nwant\n %s", got[0].Body, want)
	}
}

func TestClient_PushFrameBadFrame(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, awtrix.Options{})
	short := image.NewRGBA(image.Rect(0, 0, 32, 8))
	short.Pix = short.Pix[:100]
	for name, f := range map[string]*image.RGBA{
		"nil":   nil,
		"64x64": image.NewRGBA(image.Rect(0, 0, 64, 64)),
		"8x32":  image.NewRGBA(image.Rect(0, 0, 8, 32)),
		"short": short,
	} {
		if err := c.PushFrame(t.Context(), f); err == nil {
			t.Errorf("PushFrame(%s) succeeded, want an error", name)
		}
	}
	if got := d.take(); len(got) != 0 {
		t.Errorf("sent %v, want nothing", calls(got))
	}
}

// TestClient_SwitchWhenNeeded checks the rule that the app is made visible
// on the first push and after anything that may have hidden it, and only
// then.
func TestClient_SwitchWhenNeeded(t *testing.T) {
	const (
		custom = "POST /api/custom?name=pidicon"
		swtch  = "POST /api/switch"
		stats  = "GET /api/stats"
		power  = "POST /api/power"
	)
	failOn := func(call string) func(request, http.ResponseWriter) {
		return func(r request, w http.ResponseWriter) {
			if r.Call() == call {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte("FAILED"))
				return
			}
			okReply(r, w)
		}
	}
	statsWithUptime := func(up int) func(request, http.ResponseWriter) {
		return func(r request, w http.ResponseWriter) {
			_, _ = fmt.Fprintf(w, `{"bri":1,"matrix":true,"uptime":%d}`, up)
		}
	}

	d := newFakeDevice(t)
	c := newClient(t, d.url, awtrix.Options{})
	frame := image.NewRGBA(image.Rect(0, 0, 32, 8))
	push := func(n int) {
		t.Helper()
		for range n {
			if err := c.PushFrame(t.Context(), frame); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(step string, want ...string) {
		t.Helper()
		if got := calls(d.take()); !slices.Equal(got, want) {
			t.Errorf("%s: requests\n %q\nwant\n %q", step, got, want)
		}
	}

	push(3)
	check("first pushes", custom, swtch, custom, custom)

	// Other successful commands change nothing.
	if err := c.SetDisplay(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if err := c.SetBrightness(t.Context(), 20); err != nil {
		t.Fatal(err)
	}
	push(1)
	check("after commands", power, "POST /api/settings", custom)

	// Any failed request, even one that is not a push, makes the next
	// push switch again.
	d.setReply(failOn(power))
	if err := c.SetDisplay(t.Context(), true); !errors.Is(err, awtrix.ErrDevice) {
		t.Fatalf("SetDisplay: %v, want ErrDevice", err)
	}
	d.setReply(nil)
	push(2)
	check("after a failed command", power, custom, swtch, custom)

	// A failed custom app update: no switch is tried, the next push
	// switches.
	d.setReply(failOn(custom))
	if err := c.PushFrame(t.Context(), frame); !errors.Is(err, awtrix.ErrDevice) {
		t.Fatalf("PushFrame: %v, want ErrDevice", err)
	}
	d.setReply(nil)
	push(2)
	check("after a failed update", custom, custom, swtch, custom)

	// A failed switch (the firmware's "FAILED" for an unknown app) is
	// retried with the next frame, after the app is sent again.
	c.Reset()
	d.setReply(failOn(swtch))
	err := c.PushFrame(t.Context(), frame)
	if !errors.Is(err, awtrix.ErrDevice) || err.Error() != "awtrix: POST /api/switch: device answered 500 FAILED" {
		t.Fatalf("PushFrame: %v, want the switch's ErrDevice", err)
	}
	d.setReply(nil)
	push(2)
	check("after a failed switch", custom, swtch, custom, swtch, custom)

	// Reset.
	c.Reset()
	push(2)
	check("after Reset", custom, swtch, custom)

	// A reboot seen in the stats: the uptime goes back.
	d.setReply(statsWithUptime(100))
	if err := c.Probe(t.Context()); err != nil {
		t.Fatal(err)
	}
	d.setReply(statsWithUptime(160))
	if _, err := c.Stats(t.Context()); err != nil {
		t.Fatal(err)
	}
	d.setReply(nil)
	push(1)
	check("uptime growing", stats, stats, custom)
	d.setReply(statsWithUptime(5))
	if err := c.Probe(t.Context()); err != nil {
		t.Fatal(err)
	}
	d.setReply(nil)
	push(2)
	check("after a reboot", stats, custom, swtch, custom)

	// A bad reply (200 but not OK) counts as a failure too.
	d.setReply(func(r request, w http.ResponseWriter) { _, _ = w.Write([]byte("busy")) })
	if err := c.SetDisplay(t.Context(), false); !errors.Is(err, awtrix.ErrBadReply) {
		t.Fatalf("SetDisplay: %v, want ErrBadReply", err)
	}
	d.setReply(nil)
	push(1)
	check("after a bad reply", power, custom, swtch)
}

func TestClient_Errors(t *testing.T) {
	write := func(status int, body string) func(request, http.ResponseWriter) {
		return func(_ request, w http.ResponseWriter) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
	}
	tests := []struct {
		name  string
		reply func(request, http.ResponseWriter)
		is    error
		msg   string // the exact error text, if not empty
	}{
		{"500ErrorParsingJson", write(500, "ErrorParsingJson"), awtrix.ErrDevice,
			"awtrix: POST /api/power: device answered 500 ErrorParsingJson"},
		{"500FAILED", write(500, "FAILED"), awtrix.ErrDevice,
			"awtrix: POST /api/power: device answered 500 FAILED"},
		{"404", write(404, "FileNotFound"), awtrix.ErrDevice,
			"awtrix: POST /api/power: device answered 404 FileNotFound"},
		{"503Empty", write(503, ""), awtrix.ErrDevice,
			"awtrix: POST /api/power: device answered 503 Service Unavailable"},
		{"500Binary", write(500, "\x00\xff"), awtrix.ErrDevice,
			`awtrix: POST /api/power: device answered 500 "\x00\xff"`},
		{"500Long", write(500, strings.Repeat("e", 100000)), awtrix.ErrDevice,
			`awtrix: POST /api/power: device answered 500 "` + strings.Repeat("e", 64) + `"...`},
		{"200NotOK", write(200, "FAILED"), awtrix.ErrBadReply,
			`awtrix: POST /api/power: reply "FAILED", want "OK"`},
		{"200Empty", write(200, ""), awtrix.ErrBadReply, `awtrix: POST /api/power: reply "", want "OK"`},
		{"200JSON", write(200, `{"ok":true}`), awtrix.ErrBadReply, ""},
		{"Huge", write(200, strings.Repeat("O", awtrix.MaxReplyBytes+1)), awtrix.ErrBadReply,
			"awtrix: POST /api/power: reply longer than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newFakeDevice(t)
			c := newClient(t, d.url, awtrix.Options{})
			d.setReply(tt.reply)
			err := c.SetDisplay(t.Context(), true)
			if !errors.Is(err, tt.is) {
				t.Fatalf("SetDisplay: %v, want an error wrapping %v", err, tt.is)
			}
			if !strings.HasPrefix(err.Error(), "awtrix: POST /api/power: ") {
				t.Errorf("error %q does not name the call", err)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("error\n %q\nwant\n %q", err, tt.msg)
			}
		})
	}
}

func TestClient_Success(t *testing.T) {
	for _, body := range []string{"OK", "OK\r\n", " OK "} {
		d := newFakeDevice(t)
		c := newClient(t, d.url, awtrix.Options{})
		d.setReply(func(_ request, w http.ResponseWriter) { _, _ = w.Write([]byte(body)) })
		if err := c.SetDisplay(t.Context(), true); err != nil {
			t.Errorf("reply %q: %v, want success", body, err)
		}
	}
}

func TestClient_HugeStats(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, awtrix.Options{})
	d.setReply(func(_ request, w http.ResponseWriter) {
		_, _ = w.Write([]byte(`{"bri":1,"matrix":true,"x":"` + strings.Repeat("x", awtrix.MaxReplyBytes) + `"}`))
	})
	_, err := c.Stats(t.Context())
	if !errors.Is(err, awtrix.ErrBadReply) || err.Error() != "awtrix: GET /api/stats: reply longer than 65536 bytes" {
		t.Errorf("Stats: %v, want a too-long ErrBadReply", err)
	}
}

func TestClient_Timeout(t *testing.T) {
	u, _ := testkit.HangingServer(t)
	c := newClient(t, u, awtrix.Options{Timeout: 50 * time.Millisecond})
	ops := map[string]func() error{
		"GET /api/stats":     func() error { return c.Probe(t.Context()) },
		"POST /api/settings": func() error { return c.SetBrightness(t.Context(), 10) },
		"POST /api/custom":   func() error { return c.PushFrame(t.Context(), testFrame()) },
	}
	for op, call := range ops {
		start := time.Now()
		err := call()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: %v, want a deadline error", op, err)
		}
		if want := "awtrix: " + op + ": no answer within 50ms (timeout): "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q, want it to start with %q", err, want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %v with a 50ms timeout", op, d)
		}
	}
}

func TestClient_Cancelled(t *testing.T) {
	u, entered := testkit.HangingServer(t)
	c := newClient(t, u, awtrix.Options{Timeout: time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-entered
		cancel()
	}()
	err := c.SetDisplay(ctx, true)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("SetDisplay: %v, want context.Canceled", err)
	}
	if strings.Contains(err.Error(), "timeout") {
		t.Errorf("error %q calls a cancellation a timeout", err)
	}
}

func TestClient_ConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, addr, awtrix.Options{})
	err = c.Probe(t.Context())
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Probe: %v, want connection refused", err)
	}
	if !strings.HasPrefix(err.Error(), "awtrix: GET /api/stats: ") {
		t.Errorf("error %q does not name the call", err)
	}
	if err := c.PushFrame(t.Context(), testFrame()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("PushFrame: %v, want connection refused", err)
	}
	if _, err := c.Stats(t.Context()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Stats: %v, want connection refused", err)
	}
}
