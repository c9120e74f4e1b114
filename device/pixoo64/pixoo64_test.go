package pixoo64_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"maps"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/sim"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeDevice is a Pixoo stand-in that records every request body verbatim
// and answers as reply says.
type fakeDevice struct {
	*testkit.Recorder
	t   *testing.T
	url string
}

func newFakeDevice(t *testing.T) *fakeDevice {
	t.Helper()
	d := &fakeDevice{t: t}
	d.Recorder = testkit.NewRecorder(t, okReply)
	d.url = d.URL
	return d
}

// okReply answers {"error_code":0}.
func okReply(_ testkit.Request, w http.ResponseWriter) { _, _ = w.Write([]byte(`{"error_code":0}`)) }

// setReply changes the answer to the following requests; f gets the
// request's Command; nil answers {"error_code":0}.
func (d *fakeDevice) setReply(f func(cmd string, w http.ResponseWriter)) {
	if f == nil {
		d.SetReply(okReply)
		return
	}
	d.SetReply(func(r testkit.Request, w http.ResponseWriter) {
		var head struct{ Command string }
		_ = json.Unmarshal([]byte(r.Body), &head)
		f(head.Command, w)
	})
}

// take returns the bodies received since the last call, decoded with
// numbers as json.Number; every request must be a JSON POST to /post.
func (d *fakeDevice) take() []map[string]any {
	d.t.Helper()
	reqs := d.Take()
	out := make([]map[string]any, len(reqs))
	for i, r := range reqs {
		if r.Method != http.MethodPost || r.Path != "/post" {
			d.t.Errorf("request %s %s, want POST /post", r.Method, r.Path)
		}
		if r.ContentType != "application/json" {
			d.t.Errorf("Content-Type %q, want application/json", r.ContentType)
		}
		dec := json.NewDecoder(strings.NewReader(r.Body))
		dec.UseNumber()
		if err := dec.Decode(&out[i]); err != nil {
			d.t.Fatalf("body %q is not a JSON object: %v", r.Body, err)
		}
	}
	return out
}

// commands returns the Command of each body, with the PicID of frames:
// "Draw/SendHttpGif 3".
func commands(bodies []map[string]any) []string {
	var out []string
	for _, b := range bodies {
		c, _ := b["Command"].(string)
		if c == "Draw/SendHttpGif" {
			c += " " + b["PicID"].(json.Number).String()
		}
		out = append(out, c)
	}
	return out
}

func newClient(t *testing.T, host string, opts pixoo64.Options) *pixoo64.Client {
	t.Helper()
	c, err := pixoo64.New(host, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", host, err)
	}
	t.Cleanup(c.Close)
	return c
}

// testFrame returns a 64x64 frame with a distinct colour per pixel.
func testFrame() *image.RGBA { return testkit.Frame(64, 64) }

// wantRGB is the PicData payload for frame, computed pixel by pixel.
func wantRGB(frame *image.RGBA) []byte {
	var out []byte
	b := frame.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := frame.RGBAAt(x, y)
			out = append(out, c.R, c.G, c.B)
		}
	}
	return out
}

func TestNew_Hosts(t *testing.T) {
	good := []struct{ host, url string }{
		{"192.168.1.10", "http://192.168.1.10/post"},
		{"192.168.1.10:8080", "http://192.168.1.10:8080/post"},
		{"http://192.168.1.10:8080", "http://192.168.1.10:8080/post"},
		{"http://192.168.1.10/", "http://192.168.1.10/post"},
		{"HTTP://pixoo.local", "http://pixoo.local/post"},
		{" pixoo.local ", "http://pixoo.local/post"},
		{"::1", "http://[::1]/post"},
		{"[::1]:8080", "http://[::1]:8080/post"},
	}
	for _, tt := range good {
		c, err := pixoo64.New(tt.host, pixoo64.Options{})
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
		"1.2.3.4:", "1.2.3.4:http", "http://1.2.3.4/post", "http://u:p@1.2.3.4", "1.2.3.4?x=1",
	} {
		if _, err := pixoo64.New(host, pixoo64.Options{}); err == nil {
			t.Errorf("New(%q) succeeded, want an error", host)
		}
	}
}

func TestClient_Geometry(t *testing.T) {
	c := newClient(t, "127.0.0.1", pixoo64.Options{})
	if got, want := c.Size(), (scene.Size{W: 64, H: 64}); got != want {
		t.Errorf("Size() = %v, want %v", got, want)
	}
	if got := c.MaxFPS(); got != 5 {
		t.Errorf("MaxFPS() = %v, want 5", got)
	}
}

func TestClient_Commands(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name string
		call func(c *pixoo64.Client) error
		want map[string]any
	}{
		{"SetBrightness", func(c *pixoo64.Client) error { return c.SetBrightness(ctx, 75) },
			map[string]any{"Command": "Channel/SetBrightness", "Brightness": json.Number("75")}},
		{"SetBrightness0", func(c *pixoo64.Client) error { return c.SetBrightness(ctx, 0) },
			map[string]any{"Command": "Channel/SetBrightness", "Brightness": json.Number("0")}},
		{"SetBrightness100", func(c *pixoo64.Client) error { return c.SetBrightness(ctx, 100) },
			map[string]any{"Command": "Channel/SetBrightness", "Brightness": json.Number("100")}},
		{"SetDisplayOn", func(c *pixoo64.Client) error { return c.SetDisplay(ctx, true) },
			map[string]any{"Command": "Channel/OnOffScreen", "OnOff": json.Number("1")}},
		{"SetDisplayOff", func(c *pixoo64.Client) error { return c.SetDisplay(ctx, false) },
			map[string]any{"Command": "Channel/OnOffScreen", "OnOff": json.Number("0")}},
		{"Probe", func(c *pixoo64.Client) error { return c.Probe(ctx) },
			map[string]any{"Command": "Channel/GetAllConf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newFakeDevice(t)
			c := newClient(t, d.url, pixoo64.Options{})
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			got := d.take()
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			if !reflect.DeepEqual(got[0], tt.want) {
				t.Errorf("body %v, want %v", got[0], tt.want)
			}
		})
	}
}

func TestClient_SetBrightnessOutOfRange(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, pixoo64.Options{})
	for _, v := range []int{-1, 101, 1000} {
		if err := c.SetBrightness(t.Context(), v); err == nil {
			t.Errorf("SetBrightness(%d) succeeded, want an error", v)
		}
	}
	if got := d.take(); len(got) != 0 {
		t.Errorf("sent %v, want nothing", got)
	}
}

func TestClient_Conf(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, pixoo64.Options{})
	d.setReply(func(_ string, w http.ResponseWriter) {
		_, _ = w.Write([]byte(`{"error_code":0,"Brightness":42,"RotationFlag":0,"LightSwitch":0,"CurClockId":182}`))
	})
	got, err := c.Conf(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := (pixoo64.Conf{Brightness: 42, ScreenOn: false}); got != want {
		t.Errorf("Conf() = %+v, want %+v", got, want)
	}
	d.setReply(func(_ string, w http.ResponseWriter) {
		_, _ = w.Write([]byte(`{"error_code":0,"Brightness":7,"LightSwitch":1}`))
	})
	if got, err := c.Conf(t.Context()); err != nil || got != (pixoo64.Conf{Brightness: 7, ScreenOn: true}) {
		t.Errorf("Conf() = %+v, %v; want {7 true}, nil", got, err)
	}
	want := []map[string]any{{"Command": "Channel/GetAllConf"}, {"Command": "Channel/GetAllConf"}}
	if bodies := d.take(); !reflect.DeepEqual(bodies, want) {
		t.Errorf("bodies %v, want %v", bodies, want)
	}

	d.setReply(func(_ string, w http.ResponseWriter) { _, _ = w.Write([]byte(`{"error_code":0,"Brightness":7}`)) })
	if _, err := c.Conf(t.Context()); !errors.Is(err, pixoo64.ErrBadReply) {
		t.Errorf("Conf() without LightSwitch: %v, want ErrBadReply", err)
	}
	d.setReply(func(_ string, w http.ResponseWriter) {
		_, _ = w.Write([]byte(`{"error_code":0,"Brightness":"7","LightSwitch":1}`))
	})
	if _, err := c.Conf(t.Context()); !errors.Is(err, pixoo64.ErrBadReply) {
		t.Errorf("Conf() with a string Brightness: %v, want ErrBadReply", err)
	}
}

func TestClient_PushFrame(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, pixoo64.Options{})
	frame := testFrame()
	if err := c.PushFrame(t.Context(), frame); err != nil {
		t.Fatal(err)
	}
	got := d.take()
	if len(got) != 3 {
		t.Fatalf("%d requests (%v), want 3", len(got), commands(got))
	}
	if want := (map[string]any{"Command": "Channel/SetIndex", "SelectIndex": json.Number("3")}); !reflect.DeepEqual(got[0], want) {
		t.Errorf("first body %v, want %v", got[0], want)
	}
	if want := (map[string]any{"Command": "Draw/ResetHttpGifId"}); !reflect.DeepEqual(got[1], want) {
		t.Errorf("second body %v, want %v", got[1], want)
	}
	push := got[2]
	data, _ := push["PicData"].(string)
	if len(data) != 16384 {
		t.Errorf("PicData has %d characters, want 16384", len(data))
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatalf("PicData: %v", err)
	}
	if want := wantRGB(frame); !bytes.Equal(raw, want) {
		t.Errorf("PicData decodes to %d bytes that differ from the frame's %d RGB bytes", len(raw), len(want))
	}
	delete(push, "PicData")
	want := map[string]any{
		"Command":   "Draw/SendHttpGif",
		"PicNum":    json.Number("1"),
		"PicWidth":  json.Number("64"),
		"PicOffset": json.Number("0"),
		"PicID":     json.Number("1"),
		"PicSpeed":  json.Number("1000"),
	}
	if !reflect.DeepEqual(push, want) {
		t.Errorf("frame body without PicData %v, want %v", push, want)
	}
	keys := slices.Sorted(maps.Keys(want))
	if got := slices.Sorted(maps.Keys(push)); !slices.Equal(got, keys) {
		t.Errorf("frame body keys %v, want %v + PicData", got, keys)
	}
}

func TestClient_PushFrameBadFrame(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, pixoo64.Options{})
	short := image.NewRGBA(image.Rect(0, 0, 64, 64))
	short.Pix = short.Pix[:100]
	for name, f := range map[string]*image.RGBA{
		"nil":   nil,
		"32x32": image.NewRGBA(image.Rect(0, 0, 32, 32)),
		"64x32": image.NewRGBA(image.Rect(0, 0, 64, 32)),
		"short": short,
	} {
		if err := c.PushFrame(t.Context(), f); err == nil {
			t.Errorf("PushFrame(%s) succeeded, want an error", name)
		}
	}
	if got := d.take(); len(got) != 0 {
		t.Errorf("sent %v, want nothing", commands(got))
	}
}

func TestClient_PicIDSequence(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, pixoo64.Options{ResetEvery: 3})
	frame := image.NewRGBA(image.Rect(0, 0, 64, 64))
	push := func(n int) {
		t.Helper()
		for range n {
			if err := c.PushFrame(t.Context(), frame); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(want ...string) {
		t.Helper()
		if got := commands(d.take()); !slices.Equal(got, want) {
			t.Errorf("commands\n %q\nwant\n %q", got, want)
		}
	}
	const (
		sel   = "Channel/SetIndex"
		reset = "Draw/ResetHttpGifId"
		s1    = "Draw/SendHttpGif 1"
		s2    = "Draw/SendHttpGif 2"
		s3    = "Draw/SendHttpGif 3"
	)

	push(7)
	check(sel, reset, s1, s2, s3, reset, s1, s2, s3, reset, s1)

	// Any failed request, even one that is not a push, makes the next push
	// select the channel and reset the id again.
	d.setReply(func(_ string, w http.ResponseWriter) { _, _ = w.Write([]byte(`{"error_code":1}`)) })
	if err := c.Probe(t.Context()); err == nil {
		t.Fatal("Probe succeeded against a failing device")
	}
	d.setReply(nil)
	push(2)
	check("Channel/GetAllConf", sel, reset, s1, s2)

	// A failed push: the frame's id is not taken.
	d.setReply(func(cmd string, w http.ResponseWriter) {
		if cmd == "Draw/SendHttpGif" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(`{"error_code":0}`))
	})
	if err := c.PushFrame(t.Context(), frame); err == nil {
		t.Fatal("PushFrame succeeded against a failing device")
	}
	d.setReply(nil)
	push(1)
	check(s3, sel, reset, s1)

	// A failed reset: the next push starts over too.
	c.Reset()
	d.setReply(func(cmd string, w http.ResponseWriter) {
		if cmd == "Draw/ResetHttpGifId" {
			_, _ = w.Write([]byte("Request data illegal json"))
			return
		}
		_, _ = w.Write([]byte(`{"error_code":0}`))
	})
	if err := c.PushFrame(t.Context(), frame); err == nil {
		t.Fatal("PushFrame succeeded although the reset failed")
	}
	d.setReply(nil)
	push(1)
	check(sel, reset, sel, reset, s1)
}

func TestClient_PicIDResetEveryFrame(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, pixoo64.Options{ResetEvery: 1})
	frame := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for range 3 {
		if err := c.PushFrame(t.Context(), frame); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"Channel/SetIndex", "Draw/ResetHttpGifId", "Draw/SendHttpGif 1",
		"Draw/ResetHttpGifId", "Draw/SendHttpGif 1", "Draw/ResetHttpGifId", "Draw/SendHttpGif 1"}
	if got := commands(d.take()); !slices.Equal(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
}

func TestClient_PicIDDefaultPeriod(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, pixoo64.Options{})
	frame := image.NewRGBA(image.Rect(0, 0, 64, 64))
	n := 2*pixoo64.DefaultResetEvery + 1
	for range n {
		if err := c.PushFrame(t.Context(), frame); err != nil {
			t.Fatal(err)
		}
	}
	resets, maxID := 0, 0
	for _, b := range d.take() {
		switch b["Command"] {
		case "Draw/ResetHttpGifId":
			resets++
		case "Draw/SendHttpGif":
			id, _ := b["PicID"].(json.Number).Int64()
			maxID = max(maxID, int(id))
		}
	}
	if resets != 3 || maxID != pixoo64.DefaultResetEvery {
		t.Errorf("%d frames: %d resets, highest PicID %d; want 3 and %d", n, resets, maxID, pixoo64.DefaultResetEvery)
	}
}

func TestClient_Errors(t *testing.T) {
	write := func(status int, body string) func(string, http.ResponseWriter) {
		return func(_ string, w http.ResponseWriter) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
	}
	tests := []struct {
		name  string
		reply func(string, http.ResponseWriter)
		is    error
		msg   string // the exact error text, if not empty
	}{
		{"HTTP500", write(500, `{"error_code":0}`), pixoo64.ErrDevice,
			"pixoo64: Channel/SetBrightness: device answered HTTP status 500 Internal Server Error"},
		{"HTTP404", write(404, "not found"), pixoo64.ErrDevice, ""},
		{"IllegalJSONString", write(200, "Request data illegal json"), pixoo64.ErrDevice,
			`pixoo64: Channel/SetBrightness: device answered "Request data illegal json"`},
		{"IllegalJSONStringNewline", write(200, "Request data illegal json\n"), pixoo64.ErrDevice, ""},
		{"IllegalJSONField", write(200, `{"error_code":"Request data illegal json"}`), pixoo64.ErrDevice,
			`pixoo64: Channel/SetBrightness: device answered error_code "Request data illegal json"`},
		{"ErrorCode1", write(200, `{"error_code":1}`), pixoo64.ErrDevice,
			"pixoo64: Channel/SetBrightness: device answered error_code 1"},
		{"ErrorCodeNegative", write(200, `{"error_code":-1}`), pixoo64.ErrDevice, ""},
		{"ReturnCode1", write(200, `{"ReturnCode":1,"ReturnMessage":"fail"}`), pixoo64.ErrDevice,
			"pixoo64: Channel/SetBrightness: device answered ReturnCode 1"},
		{"Malformed", write(200, `{"error_code":0`), pixoo64.ErrBadReply, ""},
		{"Garbage", write(200, `<html>busy</html>`), pixoo64.ErrBadReply, ""},
		{"Empty", write(200, ``), pixoo64.ErrBadReply, ""},
		{"NoErrorCode", write(200, `{"Brightness":50}`), pixoo64.ErrBadReply, ""},
		{"NullErrorCode", write(200, `{"error_code":null}`), pixoo64.ErrBadReply, ""},
		{"BoolErrorCode", write(200, `{"error_code":false}`), pixoo64.ErrBadReply, ""},
		{"Array", write(200, `[0]`), pixoo64.ErrBadReply, ""},
		{"Huge", write(200, `{"error_code":0,"x":"`+strings.Repeat("x", pixoo64.MaxReplyBytes)+`"}`), pixoo64.ErrBadReply,
			"pixoo64: Channel/SetBrightness: reply longer than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newFakeDevice(t)
			c := newClient(t, d.url, pixoo64.Options{})
			d.setReply(tt.reply)
			err := c.SetBrightness(t.Context(), 50)
			if !errors.Is(err, tt.is) {
				t.Fatalf("SetBrightness: %v, want an error wrapping %v", err, tt.is)
			}
			if !strings.HasPrefix(err.Error(), "pixoo64: Channel/SetBrightness: ") {
				t.Errorf("error %q does not name the command", err)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("error %q, want %q", err, tt.msg)
			}
		})
	}
}

func TestClient_Success(t *testing.T) {
	for _, body := range []string{
		`{"error_code":0}`,
		" {\"error_code\": 0}\r\n",
		`{"error_code":0.0,"extra":[1,2]}`,
		`{"ReturnCode":0,"ReturnMessage":""}`,
		`{"error_code":0,"ReturnCode":1}`, // error_code decides
	} {
		d := newFakeDevice(t)
		c := newClient(t, d.url, pixoo64.Options{})
		d.setReply(func(_ string, w http.ResponseWriter) { _, _ = w.Write([]byte(body)) })
		if err := c.Probe(t.Context()); err != nil {
			t.Errorf("reply %q: %v, want success", body, err)
		}
	}
}

func TestClient_Timeout(t *testing.T) {
	u, _ := testkit.HangingServer(t)
	c := newClient(t, u, pixoo64.Options{Timeout: 50 * time.Millisecond})
	start := time.Now()
	err := c.Probe(t.Context())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Probe: %v, want a deadline error", err)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "timeout") || !strings.Contains(err.Error(), "Channel/GetAllConf") {
		t.Errorf("error %q should say timeout and name the command", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Probe took %v with a 50ms timeout", d)
	}
}

func TestClient_Cancelled(t *testing.T) {
	u, entered := testkit.HangingServer(t)
	c := newClient(t, u, pixoo64.Options{Timeout: time.Minute})
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
	c := newClient(t, addr, pixoo64.Options{})
	err = c.Probe(t.Context())
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Probe: %v, want connection refused", err)
	}
	t.Logf("error: %v", err)
	if !strings.HasPrefix(err.Error(), "pixoo64: Channel/GetAllConf: ") {
		t.Errorf("error %q does not name the command", err)
	}
	if err := c.PushFrame(t.Context(), image.NewRGBA(image.Rect(0, 0, 64, 64))); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("PushFrame: %v, want connection refused", err)
	}
}

func BenchmarkPushFrameSim(b *testing.B) {
	dev := sim.NewPixoo()
	defer dev.Close()
	c, err := pixoo64.New("pixoo.invalid", pixoo64.Options{
		HTTPClient: &http.Client{Transport: testkit.HandlerTransport{Handler: dev}},
	})
	if err != nil {
		b.Fatal(err)
	}
	frame := testFrame()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.PushFrame(b.Context(), frame); err != nil {
			b.Fatal(err)
		}
	}
	if dev.Pushes() == 0 {
		b.Fatal("the simulator took no frame")
	}
}
