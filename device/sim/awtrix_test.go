package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/awtrix"
	"github.com/pidicon/pidicon-mqtt/device/sim"
)

// startAwtrix serves a new simulated AWTRIX on a free loopback port.
func startAwtrix(t *testing.T) (*sim.Awtrix, *sim.Server) {
	t.Helper()
	dev := sim.NewAwtrix()
	t.Cleanup(dev.Close)
	srv, _ := startServer(t, dev)
	return dev, srv
}

// newAwtrixDriver returns an AWTRIX driver for addr, closed when the test
// ends.
func newAwtrixDriver(t *testing.T, addr string, opts awtrix.Options) *awtrix.Client {
	t.Helper()
	c, err := awtrix.New(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// probeAwtrix is the Probe of an AWTRIX driver.
func probeAwtrix(t *testing.T, host string, timeout time.Duration) func(context.Context) error {
	return newAwtrixDriver(t, host, awtrix.Options{Timeout: timeout}).Probe
}

// call sends one request to h in-process and returns the status and the
// answer.
func call(t *testing.T, h http.Handler, method, target, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

// appJSON is a custom app body drawing pixel(x, y) over the whole panel
// with one "db" instruction.
func appJSON(pixel func(x, y int) (r, g, b byte)) string {
	colours := make([]string, 0, 256)
	for y := range 8 {
		for x := range 32 {
			r, g, b := pixel(x, y)
			colours = append(colours, fmt.Sprint(int(r)<<16|int(g)<<8|int(b)))
		}
	}
	return `{"draw":[{"db":[0,0,32,8,[` + strings.Join(colours, ",") + `]]}]}`
}

func stripes(x, y int) (r, g, b byte) { return byte(x * 8), byte(y * 32), byte(255 - x - y) }

// rgbaFrame is the 32x8 image of pixel.
func rgbaFrame(pixel func(x, y int) (r, g, b byte)) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 32, 8))
	for y := range 8 {
		for x := range 32 {
			r, g, b := pixel(x, y)
			img.SetRGBA(x, y, color.RGBA{R: r, G: g, B: b, A: 0xff})
		}
	}
	return img
}

func black(x, y int) (r, g, b byte) { return 0, 0, 0 }

func TestAwtrix_API(t *testing.T) {
	dev := sim.NewAwtrix()
	t.Cleanup(dev.Close)
	const (
		ok        = "OK"
		parseErr  = "ErrorParsingJson"
		failed    = "FAILED"
		notFound  = "FileNotFound"
		post, get = http.MethodPost, http.MethodGet
	)
	natives := []string{"Time", "Date", "Temperature", "Humidity", "Battery"}
	// A 4x4 bitmap at (30,6): only its top-left 2x2 is on the panel.
	corner := `{"draw":[{"dp":[0,0,"#FF0000"]},{"db":[30,6,4,4,[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]]}],"text":"x"}`
	cornerFrame := rgbaFrame(func(x, y int) (r, g, b byte) {
		switch {
		case x == 30 && y == 6:
			return 0, 0, 1
		case x == 31 && y == 6:
			return 0, 0, 2
		case x == 30 && y == 7:
			return 0, 0, 5
		case x == 31 && y == 7:
			return 0, 0, 6
		}
		return 0, 0, 0
	})
	// The steps run in order, each on the state the previous ones left.
	steps := []struct {
		name, method, target, body string
		status                     int
		want                       string // the exact answer, if not empty
		check                      func() bool
	}{
		{"initial settings", get, "/api/settings", "", 200, `{"MATP":true,"ABRI":false,"BRI":120,"ATRANS":true}`,
			func() bool {
				return dev.Brightness() == 120 && !dev.AutoBrightness() && dev.Power() && dev.App() == "Time"
			}},
		{"BRI", post, "/api/settings", `{"BRI":200}`, 200, ok, func() bool { return dev.Brightness() == 200 }},
		{"ABRI on", post, "/api/settings", `{"ABRI":true}`, 200, ok, func() bool { return dev.AutoBrightness() }},
		{"BRI and ABRI", post, "/api/settings", `{"BRI":0,"ABRI":false}`, 200, ok,
			func() bool { return dev.Brightness() == 0 && !dev.AutoBrightness() }},
		{"BRI 255 and others", post, "/api/settings", `{"BRI":255,"TEFF":3,"ATIME":10}`, 200, ok,
			func() bool { return dev.Brightness() == 255 }},
		{"BRI 256", post, "/api/settings", `{"BRI":256}`, 500, parseErr, nil},
		{"BRI -1", post, "/api/settings", `{"BRI":-1}`, 500, parseErr, nil},
		{"BRI string", post, "/api/settings", `{"BRI":"7"}`, 500, parseErr, nil},
		{"BRI fraction", post, "/api/settings", `{"BRI":7.5}`, 500, parseErr, nil},
		{"ABRI string", post, "/api/settings", `{"BRI":7,"ABRI":"no"}`, 500, parseErr,
			func() bool { return dev.Brightness() == 255 }}, // all or nothing
		{"settings not JSON", post, "/api/settings", `BRI=7`, 500, parseErr, nil},
		{"settings array", post, "/api/settings", `[7]`, 500, parseErr, nil},
		{"settings trailing data", post, "/api/settings", `{"BRI":7} x`, 500, parseErr,
			func() bool { return dev.Brightness() == 255 }},
		{"power off", post, "/api/power", `{"power":false}`, 200, ok, func() bool { return !dev.Power() }},
		{"power on", post, "/api/power", `{"power":true}`, 200, ok, func() bool { return dev.Power() }},
		{"power bare 0", post, "/api/power", `0`, 200, ok, func() bool { return !dev.Power() }},
		{"power bare true", post, "/api/power", "true\n", 200, ok, func() bool { return dev.Power() }},
		{"power string", post, "/api/power", `{"power":"off"}`, 500, parseErr, func() bool { return dev.Power() }},
		{"power empty", post, "/api/power", ``, 500, parseErr, nil},
		{"create app", post, "/api/custom?name=pidicon", appJSON(stripes), 200, ok, func() bool {
			return dev.App() == "Time" && slices.Equal(dev.Apps(), append(natives, "pidicon")) &&
				dev.Pushes() == 1 && bytes.Equal(dev.Frame().Pix, rgbaFrame(black).Pix)
		}},
		{"switch", post, "/api/switch", `{"name":"pidicon"}`, 200, ok, func() bool {
			return dev.App() == "pidicon" && bytes.Equal(dev.Frame().Pix, rgbaFrame(stripes).Pix)
		}},
		{"update app", post, "/api/custom?name=pidicon", corner, 200, ok, func() bool {
			return dev.Pushes() == 2 && len(dev.Apps()) == 6 && bytes.Equal(dev.Frame().Pix, cornerFrame.Pix)
		}},
		{"no draw", post, "/api/custom?name=pidicon", `{"text":"hi"}`, 200, ok,
			func() bool { return bytes.Equal(dev.Frame().Pix, rgbaFrame(black).Pix) }},
		{"update again", post, "/api/custom?name=pidicon", appJSON(stripes), 200, ok,
			func() bool { return bytes.Equal(dev.Frame().Pix, rgbaFrame(stripes).Pix) }},
		{"too few colours", post, "/api/custom?name=pidicon", `{"draw":[{"db":[0,0,2,1,[1]]}]}`, 500, parseErr, nil},
		{"too many colours", post, "/api/custom?name=pidicon", `{"draw":[{"db":[0,0,1,1,[1,2]]}]}`, 500, parseErr, nil},
		{"colour too big", post, "/api/custom?name=pidicon", `{"draw":[{"db":[0,0,1,1,[16777216]]}]}`, 500, parseErr, nil},
		{"colour negative", post, "/api/custom?name=pidicon", `{"draw":[{"db":[0,0,1,1,[-1]]}]}`, 500, parseErr, nil},
		{"colour string", post, "/api/custom?name=pidicon", `{"draw":[{"db":[0,0,1,1,["#FF0000"]]}]}`, 500, parseErr, nil},
		{"db short", post, "/api/custom?name=pidicon", `{"draw":[{"db":[0,0,1,1]}]}`, 500, parseErr, nil},
		{"db huge", post, "/api/custom?name=pidicon", `{"draw":[{"db":[0,0,100000,100000,[]]}]}`, 500, parseErr, nil},
		{"draw object", post, "/api/custom?name=pidicon", `{"draw":{"db":[0,0,1,1,[1]]}}`, 500, parseErr, nil},
		{"custom not JSON", post, "/api/custom?name=pidicon", `{"draw":[`, 500, parseErr, nil},
		{"custom number", post, "/api/custom?name=pidicon", `7`, 500, parseErr, nil},
		{"custom no name", post, "/api/custom", appJSON(black), 500, parseErr, func() bool {
			return dev.Pushes() == 4 && bytes.Equal(dev.Frame().Pix, rgbaFrame(stripes).Pix)
		}},
		{"two apps", post, "/api/custom?name=pidicon_m", `[{"text":"a"},` + appJSON(stripes) + `]`, 200, ok,
			func() bool {
				return dev.Pushes() == 6 && slices.Equal(dev.Apps(), append(natives, "pidicon", "pidicon_m0", "pidicon_m1"))
			}},
		{"bad second app", post, "/api/custom?name=other", `[{"text":"a"},{"draw":7}]`, 500, parseErr,
			func() bool { return len(dev.Apps()) == 8 }},
		{"switch to built-in", post, "/api/switch", `{"name":"Date"}`, 200, ok, func() bool {
			return dev.App() == "Date" && bytes.Equal(dev.Frame().Pix, rgbaFrame(black).Pix)
		}},
		{"switch unknown", post, "/api/switch", `{"name":"nope"}`, 500, failed, func() bool { return dev.App() == "Date" }},
		{"switch no name", post, "/api/switch", `{}`, 500, failed, nil},
		{"switch not JSON", post, "/api/switch", `pidicon`, 500, failed, nil},
		{"switch back", post, "/api/switch", `{"name":"pidicon_m1"}`, 200, ok, nil},
		{"delete by prefix", post, "/api/custom?name=pidicon_m", ``, 200, ok, func() bool {
			return dev.App() == "Time" && slices.Equal(dev.Apps(), append(natives, "pidicon"))
		}},
		{"delete with {}", post, "/api/custom?name=pidicon", `{}`, 200, ok,
			func() bool { return slices.Equal(dev.Apps(), natives) && dev.Pushes() == 6 }},
		{"delete unknown", post, "/api/custom?name=ghost", ``, 200, ok, nil},
		{"switch deleted", post, "/api/switch", `{"name":"pidicon"}`, 500, failed, nil},
		{"notify", post, "/api/notify", `{"text":"Hello","hold":true}`, 200, ok,
			func() bool { return dev.Notifications() == 1 && dev.App() == "Time" }},
		{"notify not JSON", post, "/api/notify", `Hello`, 500, parseErr, func() bool { return dev.Notifications() == 1 }},
		{"unknown path", post, "/api/bogus", `{}`, 404, notFound, nil},
		{"GET custom", get, "/api/custom?name=pidicon", "", 404, notFound, nil},
		{"POST stats", post, "/api/stats", "", 404, notFound, nil},
		{"stats", get, "/api/stats", "", 200, "", nil},
	}
	for _, s := range steps {
		status, got := call(t, dev, s.method, s.target, s.body)
		if status != s.status {
			t.Errorf("%s: HTTP %d, want %d", s.name, status, s.status)
		}
		if s.want != "" && got != s.want {
			t.Errorf("%s: answer %q, want %q", s.name, got, s.want)
		}
		if s.check != nil && !s.check() {
			t.Errorf("%s: state %+v", s.name, dev.State())
		}
	}
	if got := len(dev.Requests()); got != len(steps) {
		t.Errorf("%d requests recorded, want %d", got, len(steps))
	}

	_, body := call(t, dev, get, "/api/stats", "")
	var stats map[string]any
	if err := json.Unmarshal([]byte(body), &stats); err != nil {
		t.Fatalf("stats %s: %v", body, err)
	}
	if up, ok := stats["uptime"].(float64); !ok || up < 0 {
		t.Errorf("stats uptime %v", stats["uptime"])
	}
	delete(stats, "uptime")
	want := map[string]any{"bat": 100.0, "bat_raw": 670.0, "type": 0.0, "lux": 42.0, "ldr_raw": 210.0,
		"ram": 150000.0, "bri": 255.0, "temp": 21.5, "hum": 40.0, "wifi_signal": -55.0,
		"version": "0.98-sim", "indicator1": false, "indicator2": false, "indicator3": false,
		"app": "Time", "uid": "awtrix_sim001", "matrix": true, "ip_address": "127.0.0.1",
		"messages": float64(len(steps)), // the API requests before this one
	}
	if !reflect.DeepEqual(stats, want) {
		t.Errorf("stats\n %v\nwant\n %v", stats, want)
	}
}

func TestAwtrix_Routes(t *testing.T) {
	dev := sim.NewAwtrix()
	t.Cleanup(dev.Close)
	checkRoutes(t, dev, []route{
		{http.MethodGet, "/frame.png", http.StatusOK, "image/png"},
		{http.MethodGet, "/state", http.StatusOK, "application/json"},
		{http.MethodGet, "/", http.StatusOK, "text/html; charset=utf-8"},
		{http.MethodPost, "/frame.png", http.StatusNotFound, "text/plain"},
		{http.MethodGet, "/other", http.StatusNotFound, "text/plain"},
		{http.MethodGet, "/api/stats", http.StatusOK, "application/json"},
		{http.MethodPost, "/api/power", http.StatusInternalServerError, "text/plain"},
	})
	if n := len(dev.Requests()); n != 2 {
		t.Errorf("%d API requests recorded, want 2 (pages are not API requests)", n)
	}
}

func TestAwtrix_Requests(t *testing.T) {
	dev := sim.NewAwtrix()
	t.Cleanup(dev.Close)
	call(t, dev, http.MethodPost, "/api/settings", `{"BRI":30,"ABRI":false}`)
	call(t, dev, http.MethodPost, "/api/custom?name=pidicon", appJSON(stripes))
	call(t, dev, http.MethodPost, "/api/custom?name=multi", `[`+appJSON(stripes)+`,{"text":"x"}]`)
	call(t, dev, http.MethodPost, "/api/switch", `{"name":"nope"}`)
	call(t, dev, http.MethodPost, "/api/notify", `not json`)
	call(t, dev, http.MethodGet, "/api/nothing", ``)
	db := map[string]any{"draw": []any{map[string]any{"db": []any{
		json.Number("0"), json.Number("0"), json.Number("32"), json.Number("8"), "<256 colours>"}}}}
	want := []sim.AwtrixRequest{
		{Method: "POST", Path: "/api/settings", Status: 200, Reply: "OK",
			Body: map[string]any{"BRI": json.Number("30"), "ABRI": false}},
		{Method: "POST", Path: "/api/custom", Name: "pidicon", Status: 200, Reply: "OK", Body: db},
		{Method: "POST", Path: "/api/custom", Name: "multi", Status: 200, Reply: "OK",
			Body: []any{db, map[string]any{"text": "x"}}},
		{Method: "POST", Path: "/api/switch", Status: 500, Reply: "FAILED", Body: map[string]any{"name": "nope"}},
		{Method: "POST", Path: "/api/notify", Status: 500, Reply: "ErrorParsingJson"},
		{Method: "GET", Path: "/api/nothing", Status: 404, Reply: "FileNotFound"},
	}
	got := dev.Requests()
	for i := range got {
		if got[i].At.IsZero() {
			t.Errorf("request %d has no time", i)
		}
		got[i].At = time.Time{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Requests()\n %+v\nwant\n %+v", got, want)
	}

	for i := range 1100 {
		call(t, dev, http.MethodPost, "/api/settings", fmt.Sprintf(`{"BRI":%d}`, i%256))
	}
	got = dev.Requests()
	if len(got) != 1000 {
		t.Fatalf("%d requests kept, want 1000", len(got))
	}
	if b := got[999].Body.(map[string]any)["BRI"]; b != json.Number(fmt.Sprint(1099%256)) {
		t.Errorf("last request has BRI %v, want %d", b, 1099%256)
	}
	if s := dev.State(); s.Requests != 1106 {
		t.Errorf("State().Requests = %d, want 1106", s.Requests)
	}
}

func TestAwtrix_FrameRoundTrip(t *testing.T) {
	dev, srv := startAwtrix(t)
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	c := newAwtrixDriver(t, srv.Addr(), awtrix.Options{})

	img := fetchPNG(t, srv.URL()+"/frame.png", 32, 8)
	for y := range 8 {
		for x := range 32 {
			if got := color.RGBAModel.Convert(img.At(x, y)); got != (color.RGBA{A: 0xff}) {
				t.Fatalf("pixel (%d,%d) before the first frame is %v, want opaque black", x, y, got)
			}
		}
	}

	// Every pixel distinct, every channel exercised.
	want := rgbaFrame(func(x, y int) (r, g, b byte) { return byte(x*8 + y), byte(255 - x*8), byte(y*32 + x) })
	for range 3 {
		if err := c.PushFrame(t.Context(), want); err != nil {
			t.Fatal(err)
		}
	}
	if dev.App() != "pidicon" {
		t.Errorf("visible app %q, want pidicon", dev.App())
	}
	if got := dev.Frame(); !bytes.Equal(got.Pix, want.Pix) || got.Rect != want.Rect {
		t.Error("Frame() differs from the frame pushed")
	}
	dev.Frame().Pix[0] = 1 // a copy: changing it changes nothing
	if dev.Frame().Pix[0] != want.Pix[0] {
		t.Error("Frame() returned the simulator's own image")
	}
	img = fetchPNG(t, srv.URL()+"/frame.png", 32, 8)
	for y := range 8 {
		for x := range 32 {
			if got := color.RGBAModel.Convert(img.At(x, y)); got != want.RGBAAt(x, y) {
				t.Fatalf("/frame.png pixel (%d,%d) is %v, want %v", x, y, got, want.RGBAAt(x, y))
			}
		}
	}

	// The frame stays while the matrix is off.
	if err := c.SetDisplay(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if got := dev.Frame(); !bytes.Equal(got.Pix, want.Pix) {
		t.Error("Frame() changed when the matrix went off")
	}

	state := fetchState(t, srv.URL()+"/state")
	wantState := map[string]any{"brightness": 120.0, "autoBrightness": false, "power": false, "app": "pidicon",
		"apps": []any{"Time", "Date", "Temperature", "Humidity", "Battery", "pidicon"}, "pushes": 3.0,
		"notifications": 0.0, "requests": 5.0, "fault": "none", "latencyMs": 0.0, "rebooting": false, "reboots": 0.0}
	if !reflect.DeepEqual(state, wantState) {
		t.Errorf("/state = %v, want %v", state, wantState)
	}
}

func TestAwtrix_DriverState(t *testing.T) {
	dev, srv := startAwtrix(t)
	c := newAwtrixDriver(t, srv.URL(), awtrix.Options{AppName: "scene"})
	ctx := t.Context()
	// Auto-brightness on, as a user may have left it: setting a
	// brightness turns it off.
	if status, _ := call(t, dev, http.MethodPost, "/api/settings", `{"ABRI":true}`); status != 200 {
		t.Fatal("could not turn auto-brightness on")
	}
	for _, tt := range []struct{ percent, bri int }{{0, 0}, {1, 3}, {50, 128}, {100, 255}, {75, 191}} {
		if err := c.SetBrightness(ctx, tt.percent); err != nil {
			t.Fatal(err)
		}
		if dev.Brightness() != tt.bri || dev.AutoBrightness() {
			t.Errorf("SetBrightness(%d): BRI %d, ABRI %v; want %d, false", tt.percent, dev.Brightness(),
				dev.AutoBrightness(), tt.bri)
		}
	}
	if err := c.SetDisplay(ctx, false); err != nil {
		t.Fatal(err)
	}
	if dev.Power() {
		t.Error("matrix on after SetDisplay(false)")
	}
	if err := c.PushFrame(ctx, rgbaFrame(stripes)); err != nil {
		t.Fatal(err)
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Brightness != 191 || awtrix.Percent(st.Brightness) != 75 || st.Matrix || st.App != "scene" ||
		st.Version != "0.98-sim" || st.UID != "awtrix_sim001" || st.IPAddress != "127.0.0.1" || st.Battery != 100 ||
		st.Lux != 42 || st.WiFiSignal != -55 {
		t.Errorf("Stats() = %+v", st)
	}
	if err := c.SetDisplay(ctx, true); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Stats(ctx); err != nil || !st.Matrix {
		t.Errorf("Stats() = %+v, %v; want the matrix on", st, err)
	}
}

func TestAwtrix_Faults(t *testing.T) {
	tests := []struct {
		fault sim.Fault
		is    error
		msg   string // the SetDisplay error, if not empty
	}{
		{sim.FaultHTTP500, awtrix.ErrDevice, "awtrix: POST /api/power: device answered 500 FAILED"},
		{sim.FaultIllegalJSON, awtrix.ErrDevice, "awtrix: POST /api/power: device answered 500 ErrorParsingJson"},
		{sim.FaultErrorCode, awtrix.ErrDevice, "awtrix: POST /api/power: device answered 404 FileNotFound"},
		{sim.FaultMalformed, awtrix.ErrBadReply, ""},
		{sim.FaultHang, context.DeadlineExceeded, ""},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			dev, srv := startAwtrix(t)
			c := newAwtrixDriver(t, srv.Addr(), awtrix.Options{Timeout: 200 * time.Millisecond})
			frame := rgbaFrame(stripes)
			if err := c.PushFrame(t.Context(), frame); err != nil {
				t.Fatal(err)
			}
			n := len(dev.Requests())

			dev.SetFault(tt.fault)
			if got := dev.State().Fault; got != tt.fault.String() {
				t.Errorf("State().Fault = %q, want %q", got, tt.fault)
			}
			for name, call := range map[string]func() error{
				"Probe":         func() error { return c.Probe(t.Context()) },
				"Stats":         func() error { _, err := c.Stats(t.Context()); return err },
				"SetBrightness": func() error { return c.SetBrightness(t.Context(), 10) },
				"SetDisplay":    func() error { return c.SetDisplay(t.Context(), false) },
				"PushFrame":     func() error { return c.PushFrame(t.Context(), rgbaFrame(black)) },
			} {
				err := call()
				if !errors.Is(err, tt.is) {
					t.Errorf("%s: %v, want an error wrapping %v", name, err, tt.is)
				}
				if name == "SetDisplay" && tt.msg != "" && (err == nil || err.Error() != tt.msg) {
					t.Errorf("SetDisplay: %v, want %q", err, tt.msg)
				}
			}
			if dev.Brightness() != 120 || !dev.Power() || dev.Pushes() != 1 || !bytes.Equal(dev.Frame().Pix, frame.Pix) {
				t.Errorf("a faulty request changed the state: %+v", dev.State())
			}
			for _, r := range dev.Requests()[n:] {
				if r.Fault != tt.fault {
					t.Errorf("request %s %s recorded with fault %v, want %v", r.Method, r.Path, r.Fault, tt.fault)
				}
			}

			// Back to normal: the driver shows its app again.
			dev.SetFault(sim.FaultNone)
			if status, _ := call(t, dev, http.MethodPost, "/api/switch", `{"name":"Time"}`); status != 200 {
				t.Fatal("could not switch to Time")
			}
			n = len(dev.Requests())
			if err := c.PushFrame(t.Context(), frame); err != nil {
				t.Fatalf("PushFrame after the fault: %v", err)
			}
			var calls []string
			for _, r := range dev.Requests()[n:] {
				calls = append(calls, r.Method+" "+r.Path)
			}
			if want := []string{"POST /api/custom", "POST /api/switch"}; !slices.Equal(calls, want) {
				t.Errorf("requests after the fault %q, want %q", calls, want)
			}
			if dev.App() != "pidicon" {
				t.Errorf("visible app %q after the fault, want pidicon", dev.App())
			}
		})
	}
}

// TestAwtrix_PowerCycle shows why the controller resets the driver after
// an outage: a rebooted clock forgets the app, and the next frame creates
// it again without showing it.
func TestAwtrix_PowerCycle(t *testing.T) {
	dev, srv := startAwtrix(t)
	c := newAwtrixDriver(t, srv.Addr(), awtrix.Options{})
	if err := c.SetBrightness(t.Context(), 40); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDisplay(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if err := c.PushFrame(t.Context(), rgbaFrame(stripes)); err != nil {
		t.Fatal(err)
	}
	dev.PowerCycle()
	if dev.App() != "Time" || len(dev.Apps()) != 5 || !dev.Power() || dev.Brightness() != 102 ||
		!bytes.Equal(dev.Frame().Pix, rgbaFrame(black).Pix) {
		t.Fatalf("after PowerCycle: %+v", dev.State())
	}
	if err := c.PushFrame(t.Context(), rgbaFrame(stripes)); err != nil {
		t.Fatal(err)
	}
	if dev.App() != "Time" || !slices.Contains(dev.Apps(), "pidicon") {
		t.Errorf("after a push: app %q, apps %v; want Time and pidicon in the loop", dev.App(), dev.Apps())
	}
	c.Reset()
	if err := c.PushFrame(t.Context(), rgbaFrame(stripes)); err != nil {
		t.Fatal(err)
	}
	if dev.App() != "pidicon" || !bytes.Equal(dev.Frame().Pix, rgbaFrame(stripes).Pix) {
		t.Errorf("after Reset and a push: app %q", dev.App())
	}
}

func TestAwtrix_DownUp(t *testing.T) {
	dev, srv := startAwtrix(t)
	c := newAwtrixDriver(t, srv.URL(), awtrix.Options{})
	if err := c.PushFrame(t.Context(), rgbaFrame(stripes)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Down(); err != nil {
		t.Fatal(err)
	}
	// The kept-alive connection was closed by Down: the first request may
	// see that instead of a refusal, but it must fail too.
	if err := c.Probe(t.Context()); err == nil {
		t.Fatal("Probe succeeded while down")
	}
	c.Close()
	if err := c.PushFrame(t.Context(), rgbaFrame(black)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("PushFrame while down: %v, want connection refused", err)
	}
	// Meanwhile the clock went to another app.
	if status, _ := call(t, dev, http.MethodPost, "/api/switch", `{"name":"Date"}`); status != 200 {
		t.Fatal("could not switch to Date")
	}
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	if err := c.Probe(t.Context()); err != nil {
		t.Fatalf("Probe after Up: %v", err)
	}
	if err := c.PushFrame(t.Context(), rgbaFrame(black)); err != nil {
		t.Fatalf("PushFrame after Up: %v", err)
	}
	if dev.App() != "pidicon" || !bytes.Equal(dev.Frame().Pix, rgbaFrame(black).Pix) {
		t.Errorf("after Up: app %q, want pidicon showing the new frame", dev.App())
	}
}

func TestAwtrix_ServerReleasesHang(t *testing.T) {
	testServerReleasesHang(t, sim.NewAwtrix, "PushFrame",
		func(t *testing.T, host string, timeout time.Duration) func(context.Context) error {
			c := newAwtrixDriver(t, host, awtrix.Options{Timeout: timeout})
			return func(ctx context.Context) error { return c.PushFrame(ctx, rgbaFrame(stripes)) }
		})
}

func TestAwtrix_Latency(t *testing.T) {
	dev, srv := startAwtrix(t)
	testLatency(t, dev, srv.Addr(), func() int64 { return dev.State().LatencyMS }, probeAwtrix)
}

// TestAwtrix_CloseReleases checks that Close frees requests held by a hang
// or a latency under a server that waits for its handlers.
func TestAwtrix_CloseReleases(t *testing.T) {
	testCloseReleases(t, sim.NewAwtrix, probeAwtrix)
}

func TestAwtrix_Changed(t *testing.T) {
	dev := sim.NewAwtrix()
	t.Cleanup(dev.Close)
	testChanged(t, dev, func() { call(t, dev, http.MethodPost, "/api/settings", `{"BRI":5}`) })
}

func TestAwtrix_Concurrent(t *testing.T) {
	dev := sim.NewAwtrix()
	t.Cleanup(dev.Close)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			name := fmt.Sprint("app", g)
			for i := range 25 {
				call(t, dev, http.MethodPost, "/api/settings", fmt.Sprintf(`{"BRI":%d}`, g*25+i))
				call(t, dev, http.MethodPost, "/api/custom?name="+name, appJSON(stripes))
				call(t, dev, http.MethodPost, "/api/switch", `{"name":"`+name+`"}`)
				_ = dev.Frame()
				_ = dev.State()
				_ = dev.Requests()
				call(t, dev, http.MethodGet, "/frame.png", "")
				call(t, dev, http.MethodGet, "/api/stats", "")
			}
		})
	}
	wg.Wait()
	if got := len(dev.Requests()); got != 400 {
		t.Errorf("%d requests, want 400", got)
	}
	if got := dev.Pushes(); got != 100 {
		t.Errorf("%d pushes, want 100", got)
	}
}
