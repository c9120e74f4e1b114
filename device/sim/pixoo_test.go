package sim_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/sim"
)

// startPixoo serves a new simulated Pixoo on a free loopback port.
func startPixoo(t *testing.T) (*sim.Pixoo, *sim.Server) {
	t.Helper()
	dev := sim.NewPixoo()
	t.Cleanup(dev.Close)
	srv, _ := startServer(t, dev)
	return dev, srv
}

// post sends body to the simulator in-process and returns the status and
// the answer.
func post(t *testing.T, h http.Handler, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/post", strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

// frameJSON is a Draw/SendHttpGif body with PicID id showing a frame whose
// pixel (x, y) is pixel(x, y).
func frameJSON(id int, pixel func(x, y int) (r, g, b byte)) string {
	raw := make([]byte, 0, 64*64*3)
	for y := range 64 {
		for x := range 64 {
			r, g, b := pixel(x, y)
			raw = append(raw, r, g, b)
		}
	}
	return fmt.Sprintf(`{"Command":"Draw/SendHttpGif","PicNum":1,"PicWidth":64,"PicOffset":0,"PicID":%d,"PicSpeed":1000,"PicData":%q}`,
		id, base64.StdEncoding.EncodeToString(raw))
}

func gradient(x, y int) (r, g, b byte) { return byte(x * 4), byte(y * 4), byte(x + y) }

// animationFrameJSON is frame offset of an animation of num frames.
func animationFrameJSON(id, num, offset int, pixel func(x, y int) (r, g, b byte)) string {
	s := frameJSON(id, pixel)
	s = strings.Replace(s, `"PicNum":1`, fmt.Sprintf(`"PicNum":%d`, num), 1)
	s = strings.Replace(s, `"PicOffset":0`, fmt.Sprintf(`"PicOffset":%d`, offset), 1)
	return strings.Replace(s, `"PicSpeed":1000`, `"PicSpeed":250`, 1)
}

// TestPixoo_Animation uploads an animation the way the device takes it:
// one PicID, PicNum frames, PicOffset 0..N-1 in order.
func TestPixoo_Animation(t *testing.T) {
	dev := sim.NewPixoo()
	defer dev.Close()
	shade := func(v byte) func(x, y int) (r, g, b byte) {
		return func(x, y int) (r, g, b byte) { return v, v, v }
	}
	const ok, bad = `{"error_code":0}`, `{"error_code":1}`
	steps := []struct {
		name, body, want string
	}{
		{"frame 0 of 3", animationFrameJSON(1, 3, 0, shade(10)), ok},
		{"frame 2 before 1", animationFrameJSON(1, 3, 2, shade(30)), bad},
		{"frame 1 with another id", animationFrameJSON(2, 3, 1, shade(20)), bad},
		{"frame 1 with another count", animationFrameJSON(1, 4, 1, shade(20)), bad},
		{"frame 1", animationFrameJSON(1, 3, 1, shade(20)), ok},
		{"frame 2", animationFrameJSON(1, 3, 2, shade(30)), ok},
		{"frame 3 of 3", animationFrameJSON(1, 3, 3, shade(40)), bad},
	}
	for _, s := range steps {
		if _, got := post(t, dev, s.body); !jsonEqual(got, s.want) {
			t.Errorf("%s: answer %s, want %s", s.name, got, s.want)
		}
	}
	frames, speed := dev.Animation()
	if len(frames) != 3 || speed != 250 {
		t.Fatalf("animation of %d frames at %d ms, want 3 at 250", len(frames), speed)
	}
	for i, f := range frames {
		if got := f.RGBAAt(5, 5).R; got != byte(10*(i+1)) {
			t.Errorf("frame %d shade %d", i, got)
		}
	}
	if got := dev.Frame().RGBAAt(0, 0).R; got != 10 {
		t.Errorf("the display shows shade %d, want the first frame's 10", got)
	}
	if _, got := post(t, dev, frameJSON(2, gradient)); !jsonEqual(got, ok) {
		t.Fatalf("a single frame after the animation: %s", got)
	}
	if frames, _ := dev.Animation(); frames != nil {
		t.Error("a single frame left the animation playing")
	}
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func TestPixoo_Commands(t *testing.T) {
	dev := sim.NewPixoo()
	t.Cleanup(dev.Close)
	const (
		ok      = `{"error_code":0}`
		bad     = `{"error_code":1}`
		illegal = "Request data illegal json"
	)
	// The steps run in order, each on the state the previous ones left.
	steps := []struct {
		name, body, want string
		check            func() bool
	}{
		{"initial conf", `{"Command":"Channel/GetAllConf"}`,
			`{"error_code":0,"Brightness":100,"LightSwitch":1,"RotationFlag":0,"MirrorFlag":0}`, nil},
		{"brightness", `{"Command":"Channel/SetBrightness","Brightness":30}`, ok,
			func() bool { return dev.Brightness() == 30 }},
		{"brightness 0", `{"Command":"Channel/SetBrightness","Brightness":0}`, ok,
			func() bool { return dev.Brightness() == 0 }},
		{"brightness 100", `{"Command":"Channel/SetBrightness","Brightness":100}`, ok,
			func() bool { return dev.Brightness() == 100 }},
		{"brightness 101", `{"Command":"Channel/SetBrightness","Brightness":101}`, bad, nil},
		{"brightness -1", `{"Command":"Channel/SetBrightness","Brightness":-1}`, bad, nil},
		{"brightness string", `{"Command":"Channel/SetBrightness","Brightness":"30"}`, bad, nil},
		{"brightness fraction", `{"Command":"Channel/SetBrightness","Brightness":30.5}`, bad, nil},
		{"brightness missing", `{"Command":"Channel/SetBrightness"}`, bad,
			func() bool { return dev.Brightness() == 100 }},
		{"screen off", `{"Command":"Channel/OnOffScreen","OnOff":0}`, ok,
			func() bool { return !dev.ScreenOn() }},
		{"screen 2", `{"Command":"Channel/OnOffScreen","OnOff":2}`, bad,
			func() bool { return !dev.ScreenOn() }},
		{"conf off", `{"Command":"Channel/GetAllConf"}`,
			`{"error_code":0,"Brightness":100,"LightSwitch":0,"RotationFlag":0,"MirrorFlag":0}`, nil},
		{"screen on", `{"Command":"Channel/OnOffScreen","OnOff":1}`, ok,
			func() bool { return dev.ScreenOn() }},
		{"initial index", `{"Command":"Channel/GetIndex"}`, `{"error_code":0,"SelectIndex":0}`, nil},
		{"select 3", `{"Command":"Channel/SetIndex","SelectIndex":3}`, ok,
			func() bool { return dev.Channel() == 3 }},
		{"select 9", `{"Command":"Channel/SetIndex","SelectIndex":9}`, bad,
			func() bool { return dev.Channel() == 3 }},
		{"index", `{"Command":"Channel/GetIndex"}`, `{"error_code":0,"SelectIndex":3}`, nil},
		{"initial id", `{"Command":"Draw/GetHttpGifId"}`, `{"error_code":0,"PicId":0}`, nil},
		{"frame 1", frameJSON(1, gradient), ok,
			func() bool { return dev.PicID() == 1 && dev.Pushes() == 1 }},
		{"frame 1 again", frameJSON(1, gradient), bad,
			func() bool { return dev.PicID() == 1 && dev.Pushes() == 1 }},
		{"frame 5", frameJSON(5, gradient), ok,
			func() bool { return dev.PicID() == 5 && dev.Pushes() == 2 }},
		{"id", `{"Command":"Draw/GetHttpGifId"}`, `{"error_code":0,"PicId":5}`, nil},
		{"reset id", `{"Command":"Draw/ResetHttpGifId"}`, ok,
			func() bool { return dev.PicID() == 0 }},
		{"frame after reset", frameJSON(1, gradient), ok,
			func() bool { return dev.PicID() == 1 && dev.Pushes() == 3 }},
		{"frame PicNum 61", strings.Replace(frameJSON(2, gradient), `"PicNum":1`, `"PicNum":61`, 1), bad, nil},
		{"frame PicWidth 32", strings.Replace(frameJSON(2, gradient), `"PicWidth":64`, `"PicWidth":32`, 1), bad, nil},
		{"frame PicOffset 1", strings.Replace(frameJSON(2, gradient), `"PicOffset":0`, `"PicOffset":1`, 1), bad, nil},
		{"frame PicSpeed 0", strings.Replace(frameJSON(2, gradient), `"PicSpeed":1000`, `"PicSpeed":0`, 1), bad, nil},
		{"frame no PicID", strings.Replace(frameJSON(2, gradient), `"PicID":2,`, ``, 1), bad, nil},
		{"frame bad base64", `{"Command":"Draw/SendHttpGif","PicNum":1,"PicWidth":64,"PicOffset":0,"PicID":2,"PicSpeed":1000,"PicData":"` +
			strings.Repeat("!", 16384) + `"}`, bad, nil},
		{"frame short", `{"Command":"Draw/SendHttpGif","PicNum":1,"PicWidth":64,"PicOffset":0,"PicID":2,"PicSpeed":1000,"PicData":"` +
			base64.StdEncoding.EncodeToString(make([]byte, 64*32*3)) + `"}`, bad, nil},
		{"frame long", `{"Command":"Draw/SendHttpGif","PicNum":1,"PicWidth":64,"PicOffset":0,"PicID":2,"PicSpeed":1000,"PicData":"` +
			base64.StdEncoding.EncodeToString(make([]byte, 64*64*3+3)) + `"}`, bad, nil},
		{"frame no data", `{"Command":"Draw/SendHttpGif","PicNum":1,"PicWidth":64,"PicOffset":0,"PicID":2,"PicSpeed":1000}`, bad,
			func() bool { return dev.PicID() == 1 && dev.Pushes() == 3 }},
		{"time and reset", `{"Command":"Device/TimeAndReset"}`, `{"ReturnCode":0,"ReturnMessage":""}`, nil},
		{"unknown command", `{"Command":"Sys/Bogus"}`, illegal, nil},
		{"no command", `{"Brightness":5}`, illegal, nil},
		{"command not a string", `{"Command":5}`, illegal, nil},
		{"not JSON", `Command=Channel/GetAllConf`, illegal, nil},
		{"truncated JSON", `{"Command":"Channel/GetAllConf"`, illegal, nil},
		{"trailing data", `{"Command":"Channel/GetAllConf"} x`, illegal, nil},
		{"array", `["Channel/GetAllConf"]`, illegal, nil},
		{"empty", ``, illegal, nil},
	}
	for _, s := range steps {
		status, got := post(t, dev, s.body)
		if status != http.StatusOK {
			t.Errorf("%s: HTTP %d, want 200", s.name, status)
		}
		if s.want == illegal {
			if got != illegal {
				t.Errorf("%s: answer %q, want %q", s.name, got, illegal)
			}
		} else if !jsonEqual(got, s.want) {
			t.Errorf("%s: answer %s, want %s", s.name, got, s.want)
		}
		if s.check != nil && !s.check() {
			t.Errorf("%s: state %+v", s.name, dev.State())
		}
	}
	if got := len(dev.Requests()); got != len(steps) {
		t.Errorf("%d requests recorded, want %d", got, len(steps))
	}
}

func TestPixoo_Routes(t *testing.T) {
	dev := sim.NewPixoo()
	t.Cleanup(dev.Close)
	checkRoutes(t, dev, []route{
		{http.MethodGet, "/post", http.StatusMethodNotAllowed, ""},
		{http.MethodPost, "/other", http.StatusNotFound, ""},
		{http.MethodGet, "/frame.png", http.StatusOK, "image/png"},
		{http.MethodGet, "/state", http.StatusOK, "application/json"},
		{http.MethodGet, "/", http.StatusOK, "text/html; charset=utf-8"},
	})
	if n := len(dev.Requests()); n != 0 {
		t.Errorf("%d API requests recorded, want 0", n)
	}
}

func TestPixoo_Requests(t *testing.T) {
	dev := sim.NewPixoo()
	t.Cleanup(dev.Close)
	post(t, dev, `{"Command":"Channel/SetBrightness","Brightness":30}`)
	post(t, dev, frameJSON(1, gradient))
	post(t, dev, `not json`)
	got := dev.Requests()
	want := []sim.Request{
		{Path: "/post", Status: 200, Command: "Channel/SetBrightness", Reply: `{"error_code":0}`,
			Body: map[string]any{"Command": "Channel/SetBrightness", "Brightness": json.Number("30")}},
		{Path: "/post", Status: 200, Command: "Draw/SendHttpGif", Reply: `{"error_code":0}`,
			Body: map[string]any{"Command": "Draw/SendHttpGif", "PicNum": json.Number("1"), "PicWidth": json.Number("64"),
				"PicOffset": json.Number("0"), "PicID": json.Number("1"), "PicSpeed": json.Number("1000"),
				"PicData": "<16384 base64 chars>"}},
		{Path: "/post", Status: 200, Reply: "Request data illegal json"},
	}
	for i := range got {
		if got[i].At.IsZero() || got[i].Arrived.IsZero() || got[i].Arrived.After(got[i].At) {
			t.Errorf("request %d arrived %v, applied %v", i, got[i].Arrived, got[i].At)
		}
		got[i].At, got[i].Arrived = time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Requests()\n %+v\nwant\n %+v", got, want)
	}

	for i := range 1100 {
		post(t, dev, fmt.Sprintf(`{"Command":"Channel/SetBrightness","Brightness":%d}`, i%101))
	}
	got = dev.Requests()
	if len(got) != 1000 {
		t.Fatalf("%d requests kept, want 1000", len(got))
	}
	if b := got[999].Body["Brightness"]; b != json.Number(fmt.Sprint(1099%101)) {
		t.Errorf("last request has Brightness %v, want %d", b, 1099%101)
	}
	if s := dev.State(); s.Requests != 1103 {
		t.Errorf("State().Requests = %d, want 1103", s.Requests)
	}
}

func TestPixoo_FrameRoundTrip(t *testing.T) {
	dev, srv := startPixoo(t)
	c := newDriver(t, srv.Addr(), pixoo64.Options{})

	black := fetchPNG(t, srv.URL()+"/frame.png", 64, 64)
	for y := range 64 {
		for x := range 64 {
			if got := color.RGBAModel.Convert(black.At(x, y)); got != (color.RGBA{A: 0xff}) {
				t.Fatalf("pixel (%d,%d) before the first frame is %v, want opaque black", x, y, got)
			}
		}
	}

	want := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			r, g, b := gradient(x, y)
			want.SetRGBA(x, y, color.RGBA{R: r, G: g, B: b, A: 0xff})
		}
	}
	for range 3 {
		if err := c.PushFrame(t.Context(), want); err != nil {
			t.Fatal(err)
		}
	}
	if got := dev.Frame(); !bytes.Equal(got.Pix, want.Pix) || got.Rect != want.Rect {
		t.Error("Frame() differs from the frame pushed")
	}
	dev.Frame().Pix[0] = 1 // a copy: changing it changes nothing
	if dev.Frame().Pix[0] != want.Pix[0] {
		t.Error("Frame() returned the simulator's own image")
	}
	img := fetchPNG(t, srv.URL()+"/frame.png", 64, 64)
	for y := range 64 {
		for x := range 64 {
			if got := color.RGBAModel.Convert(img.At(x, y)); got != want.RGBAAt(x, y) {
				t.Fatalf("/frame.png pixel (%d,%d) is %v, want %v", x, y, got, want.RGBAAt(x, y))
			}
		}
	}

	state := fetchState(t, srv.URL()+"/state")
	wantState := map[string]any{"brightness": 100.0, "screenOn": true, "channel": 3.0, "picId": 3.0,
		"pushes": 3.0, "requests": 5.0, "fault": "none", "latencyMs": 0.0, "rebooting": false, "reboots": 0.0}
	if !reflect.DeepEqual(state, wantState) {
		t.Errorf("/state = %v, want %v", state, wantState)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestPixoo_DriverState(t *testing.T) {
	dev, srv := startPixoo(t)
	c := newDriver(t, srv.Addr(), pixoo64.Options{})
	ctx := t.Context()
	if err := c.SetBrightness(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDisplay(ctx, false); err != nil {
		t.Fatal(err)
	}
	if dev.Brightness() != 0 || dev.ScreenOn() {
		t.Errorf("brightness %d, screen on %v; want 0, false", dev.Brightness(), dev.ScreenOn())
	}
	conf, err := c.Conf(ctx)
	if err != nil || conf != (pixoo64.Conf{Brightness: 0, ScreenOn: false}) {
		t.Errorf("Conf() = %+v, %v", conf, err)
	}
	if err := c.SetBrightness(ctx, 64); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDisplay(ctx, true); err != nil {
		t.Fatal(err)
	}
	conf, err = c.Conf(ctx)
	if err != nil || conf != (pixoo64.Conf{Brightness: 64, ScreenOn: true}) {
		t.Errorf("Conf() = %+v, %v", conf, err)
	}
}

// TestPixoo_PicIDLong pushes many frames through the real driver: the
// simulator refuses any PicID that does not increase, so this checks the
// driver's reset rule end to end.
func TestPixoo_PicIDLong(t *testing.T) {
	dev, srv := startPixoo(t)
	c := newDriver(t, srv.Addr(), pixoo64.Options{ResetEvery: 7})
	frame := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range 50 {
		if err := c.PushFrame(t.Context(), frame); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if id := dev.PicID(); id < 1 || id > 7 {
			t.Fatalf("frame %d: device PicID %d", i, id)
		}
	}
	if dev.Pushes() != 50 {
		t.Errorf("Pushes() = %d, want 50", dev.Pushes())
	}
}

func TestPixoo_Faults(t *testing.T) {
	tests := []struct {
		fault sim.Fault
		is    error
	}{
		{sim.FaultHTTP500, pixoo64.ErrDevice},
		{sim.FaultIllegalJSON, pixoo64.ErrDevice},
		{sim.FaultErrorCode, pixoo64.ErrDevice},
		{sim.FaultMalformed, pixoo64.ErrBadReply},
		{sim.FaultHang, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			dev, srv := startPixoo(t)
			c := newDriver(t, srv.Addr(), pixoo64.Options{Timeout: 200 * time.Millisecond})
			frame := image.NewRGBA(image.Rect(0, 0, 64, 64))
			if err := c.PushFrame(t.Context(), frame); err != nil {
				t.Fatal(err)
			}

			dev.SetFault(tt.fault)
			if got := dev.State().Fault; got != tt.fault.String() {
				t.Errorf("State().Fault = %q, want %q", got, tt.fault)
			}
			for name, call := range map[string]func() error{
				"Probe":         func() error { return c.Probe(t.Context()) },
				"SetBrightness": func() error { return c.SetBrightness(t.Context(), 10) },
				"SetDisplay":    func() error { return c.SetDisplay(t.Context(), false) },
				"PushFrame":     func() error { return c.PushFrame(t.Context(), frame) },
			} {
				if err := call(); !errors.Is(err, tt.is) {
					t.Errorf("%s: %v, want an error wrapping %v", name, err, tt.is)
				}
			}
			if dev.Brightness() != 100 || !dev.ScreenOn() || dev.Pushes() != 1 {
				t.Errorf("a faulty request changed the state: %+v", dev.State())
			}
			for _, r := range dev.Requests()[3:] {
				if r.Fault != tt.fault {
					t.Errorf("request %s recorded with fault %v, want %v", r.Command, r.Fault, tt.fault)
				}
			}

			// Back to normal: the driver starts over (channel, id reset).
			dev.SetFault(sim.FaultNone)
			n := len(dev.Requests())
			if err := c.PushFrame(t.Context(), frame); err != nil {
				t.Fatalf("PushFrame after the fault: %v", err)
			}
			var cmds []string
			for _, r := range dev.Requests()[n:] {
				cmds = append(cmds, r.Command)
			}
			want := []string{"Channel/SetIndex", "Draw/ResetHttpGifId", "Draw/SendHttpGif"}
			if !reflect.DeepEqual(cmds, want) {
				t.Errorf("commands after the fault %q, want %q", cmds, want)
			}
		})
	}
}

func TestPixoo_Latency(t *testing.T) {
	dev, srv := startPixoo(t)
	testLatency(t, dev, srv.Addr(), func() int64 { return dev.State().LatencyMS }, probePixoo)
}

// TestPixoo_CloseReleases checks that Close frees requests held by a hang
// or a latency under a server that waits for its handlers.
func TestPixoo_CloseReleases(t *testing.T) {
	testCloseReleases(t, sim.NewPixoo, probePixoo)
}

func TestPixoo_Changed(t *testing.T) {
	dev := sim.NewPixoo()
	t.Cleanup(dev.Close)
	testChanged(t, dev, func() { post(t, dev, `{"Command":"Channel/SetBrightness","Brightness":5}`) })
}

func TestPixoo_Concurrent(t *testing.T) {
	dev := sim.NewPixoo()
	t.Cleanup(dev.Close)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				post(t, dev, fmt.Sprintf(`{"Command":"Channel/SetBrightness","Brightness":%d}`, (g*25+i)%101))
				post(t, dev, frameJSON(1+g*1000+i, gradient))
				_ = dev.Frame()
				_ = dev.State()
				_ = dev.Requests()
				rec := httptest.NewRecorder()
				dev.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/frame.png", nil))
			}
		})
	}
	wg.Wait()
	if got := len(dev.Requests()); got != 200 {
		t.Errorf("%d requests, want 200", got)
	}
}
