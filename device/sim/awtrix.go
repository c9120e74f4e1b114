package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// AWTRIX 3 geometry and limits of the simulator.
const (
	awtrixWidth, awtrixHeight = 32, 8
	// maxAwtrixBody caps a request body; a full-frame custom app is about
	// 2.3 KiB.
	maxAwtrixBody = 64 << 10
	// maxBitmapPixels bounds the size of one "db" instruction, so that a
	// bogus width and height cannot make the simulator allocate much.
	maxBitmapPixels = 64 * 64
)

// The firmware's plain-text answers, and the simulator's malformed one.
const (
	awtrixOK         = "OK"
	awtrixParseError = "ErrorParsingJson"
	awtrixFailed     = "FAILED"
	awtrixNotFound   = "FileNotFound"
	awtrixMalformed  = `{"bat":100,"bri":12`
)

// The simulated device's fixed facts.
const (
	awtrixInitialBRI = 120 // the firmware's default BRI
	awtrixSimVersion = "0.98-sim"
	awtrixSimUID     = "awtrix_sim001"
	// awtrixSimIP is the ip_address of the stats when the request's local
	// address is unknown (a request served in-process).
	awtrixSimIP = "127.0.0.1"
)

// awtrixNativeApps returns the firmware's built-in apps, in loop order;
// the simulator shows them as a black panel.
func awtrixNativeApps() []string {
	return []string{"Time", "Date", "Temperature", "Humidity", "Battery"}
}

// AwtrixRequest is one API request the AWTRIX simulator got, as Requests
// returns it.
type AwtrixRequest struct {
	// Method and Path are the request's, such as "POST" and "/api/custom".
	Method, Path string
	// Name is the name query parameter (the app of /api/custom), "" if
	// none.
	Name string
	// Body is the decoded JSON body, numbers as json.Number; the colour
	// arrays of "db" instructions are replaced by a short summary such as
	// "<256 colours>". Nil if the body was empty or not JSON. Callers must
	// not modify it.
	Body any
	// Status is the HTTP status answered, 0 for FaultHang.
	Status int
	// Fault is the fault injected in the answer, FaultNone if none.
	Fault Fault
	// At is when the request was applied.
	At time.Time
	// Reply is the answer's body ("" for FaultHang).
	Reply string
}

// Awtrix simulates a 32x8 clock running the AWTRIX 3 firmware (an Ulanzi
// TC001) and its HTTP API: its brightness (BRI, 0..255, starting at the
// firmware's default 120) and auto-brightness switch (ABRI, off), matrix
// power, its app loop (the built-in apps Time, Date, Temperature,
// Humidity and Battery, then custom apps in the order they were created),
// the visible app (Time at power-on) and each custom app's frame. It is an
// http.Handler serving:
//
//   - POST /api/settings: a JSON object; BRI (an integer 0..255) and ABRI
//     (a boolean) are applied, other keys are accepted and ignored.
//   - GET /api/settings: BRI, ABRI, MATP (matrix power) and ATRANS.
//   - POST /api/power: {"power":true|false} (or the bare true, false, 1,
//     0 the firmware also takes).
//   - GET /api/stats: a JSON object with bat, bat_raw, type, lux, ldr_raw,
//     ram, bri, temp, hum, uptime, wifi_signal, messages, version,
//     indicator1..3, app, uid, matrix and ip_address; the sensors are
//     fixed, uptime counts from NewAwtrix or PowerCycle, messages is the
//     number of API requests received before, and ip_address is the
//     address the request came in on.
//   - POST /api/custom?name=X: creates or updates custom app X from a JSON
//     object, or apps X0, X1, ... from an array of objects. An empty body
//     (or {}) deletes every app whose name starts with X, as the firmware
//     does; if the visible app goes, the first app of the loop shows. The
//     app's frame is its "db" bitmap instructions ({"db":[x,y,w,h,
//     [colours]]}, colours RGB888 integers, row-major) drawn on black,
//     clipped to the panel; the other drawing instructions and the other
//     keys (text, icon, ...) are accepted and not drawn.
//   - POST /api/switch: {"name":X} makes app X the visible one; an app that
//     is not in the loop, or a body that is not such an object, gets the
//     firmware's 500 "FAILED".
//   - POST /api/notify: a JSON object, accepted and counted (see
//     Notifications); the visible app does not change.
//   - POST /api/reboot: answered "OK", then the clock is as after
//     PowerCycle and away for its reboot time (SetRebootTime): API
//     requests meanwhile are dropped unanswered.
//   - any other /api/ path or method: 404 "FileNotFound", as the firmware's
//     web server answers.
//   - GET /frame.png: the visible app's frame, 32x8 (black for the built-in
//     apps). It is the frame the app shows, even while the matrix is off:
//     Power (and the matrix field of the stats) says whether the panel is
//     lit.
//   - GET /state: the state as JSON, for humans and tests.
//   - GET /: a page that shows both.
//
// Commands are answered 200 "OK". A body the firmware could not parse
// gets 500 "ErrorParsingJson". The simulator is stricter than the
// firmware, to catch driver bugs: it also answers 500 "ErrorParsingJson"
// to a settings BRI that is not an integer 0..255 or ABRI that is not a
// boolean, to a power body it cannot read (the firmware switches off), to a
// custom app without a name, and to a "db" instruction whose colours are not
// w*h integers 0..0xFFFFFF; such a request changes nothing.
//
// Faults (SetFault) apply to the /api/ requests: FaultHTTP500 answers 500
// "FAILED", FaultIllegalJSON 500 "ErrorParsingJson", FaultErrorCode 404
// "FileNotFound" (the firmware has no error codes), FaultMalformed a 200
// with a truncated JSON object, and FaultHang nothing.
//
// It is safe for concurrent use.
type Awtrix struct {
	*control[AwtrixRequest] // SetFault, SetLatency, Close, Changed

	mu            sync.Mutex
	bri           int
	abri          bool
	power         bool
	app           string                 // the visible app, "" if the loop is empty
	loop          []string               // the app loop, in order
	custom        map[string]*image.RGBA // each custom app's frame
	booted        time.Time
	pushes        int
	notifications int
}

// NewAwtrix returns a simulated AWTRIX 3 clock as it is after power-on:
// BRI 120, auto-brightness off, matrix on, the built-in apps, Time visible.
func NewAwtrix() *Awtrix {
	a := &Awtrix{
		control: newControl[AwtrixRequest](),
		bri:     awtrixInitialBRI,
	}
	a.bootLocked()
	return a
}

// bootLocked sets the state that a restart resets.
func (a *Awtrix) bootLocked() {
	a.power = true
	a.loop = awtrixNativeApps()
	a.app = a.loop[0]
	a.custom = make(map[string]*image.RGBA)
	a.booted = time.Now()
}

// PowerCycle makes the device as it is after being unplugged and plugged in
// again: matrix on, custom apps gone (the driver does not save them to
// flash), Time visible, uptime from 0. Brightness and auto-brightness
// survive (the firmware keeps them in flash).
func (a *Awtrix) PowerCycle() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.bootLocked()
}

// ServeHTTP serves the device API and the pages for humans.
func (a *Awtrix) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/"):
		a.serveAPI(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/frame.png":
		a.serveFrame(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/state":
		a.serveState(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/":
		serveHTML(w, awtrixPage)
	default:
		writeText(w, http.StatusNotFound, awtrixNotFound)
	}
}

// Brightness is the brightness last set, the firmware's raw BRI, 0..255.
func (a *Awtrix) Brightness() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bri
}

// AutoBrightness reports whether auto-brightness (ABRI) is on. The
// simulator has no light sensor: Brightness stays as set either way.
func (a *Awtrix) AutoBrightness() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.abri
}

// Power reports whether the matrix is switched on.
func (a *Awtrix) Power() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.power
}

// App is the visible app, such as "Time" or a custom app's name.
func (a *Awtrix) App() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.app
}

// Apps lists the app loop in order: the built-in apps, then the custom
// apps.
func (a *Awtrix) Apps() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.loop)
}

// Pushes is the number of custom app updates taken (an array body counts
// one per app).
func (a *Awtrix) Pushes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pushes
}

// Notifications is the number of notifications taken (POST /api/notify).
func (a *Awtrix) Notifications() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.notifications
}

// Frame returns a copy of the visible app's frame, 32x8: all black for a
// built-in app or when no app is left.
func (a *Awtrix) Frame() *image.RGBA {
	a.mu.Lock()
	defer a.mu.Unlock()
	if f, ok := a.custom[a.app]; ok {
		img := image.NewRGBA(f.Rect)
		copy(img.Pix, f.Pix)
		return img
	}
	return blackAwtrixFrame()
}

// blackAwtrixFrame returns an opaque black 32x8 frame.
func blackAwtrixFrame() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, awtrixWidth, awtrixHeight))
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 0xff
	}
	return img
}

// Requests returns the last API requests (at most 1000), oldest first.
func (a *Awtrix) Requests() []AwtrixRequest { return a.log() }

// AwtrixState is the simulator's state as GET /state shows it.
type AwtrixState struct {
	Brightness     int      `json:"brightness"`     // BRI, 0..255
	AutoBrightness bool     `json:"autoBrightness"` // ABRI
	Power          bool     `json:"power"`          // matrix on
	App            string   `json:"app"`            // the visible app
	Apps           []string `json:"apps"`           // the app loop
	Pushes         int      `json:"pushes"`         // custom app updates taken
	Notifications  int      `json:"notifications"`  // notifications taken
	Requests       int      `json:"requests"`       // API requests ever received
	Fault          string   `json:"fault"`          // the injected fault, "none"
	LatencyMS      int64    `json:"latencyMs"`      // the injected latency
	Rebooting      bool     `json:"rebooting"`      // away after POST /api/reboot
	Reboots        int      `json:"reboots"`        // reboots taken
}

// State returns a snapshot of the simulator's state.
func (a *Awtrix) State() AwtrixState {
	a.mu.Lock()
	defer a.mu.Unlock()
	fault, latency := a.injected()
	return AwtrixState{
		Brightness:     a.bri,
		AutoBrightness: a.abri,
		Power:          a.power,
		App:            a.app,
		Apps:           slices.Clone(a.loop),
		Pushes:         a.pushes,
		Notifications:  a.notifications,
		Requests:       a.received(),
		Fault:          fault.String(),
		LatencyMS:      latency.Milliseconds(),
		Rebooting:      a.rebooting(),
		Reboots:        a.control.Reboots(),
	}
}

// serveAPI answers one request under /api/.
func (a *Awtrix) serveAPI(w http.ResponseWriter, r *http.Request) {
	raw, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAwtrixBody))
	if a.rebooting() {
		dropConn(w)
		return
	}
	if !a.delay(w, r) {
		return
	}

	req := AwtrixRequest{Method: r.Method, Path: r.URL.Path, Name: r.URL.Query().Get("name")}
	body, bodyErr := decodeAwtrixBody(raw)
	if readErr != nil {
		body, bodyErr = nil, readErr
	}

	a.mu.Lock()
	req.Fault, _ = a.injected()
	switch req.Fault {
	case FaultHang:
		// answered (not) below
	case FaultHTTP500:
		req.Status, req.Reply = http.StatusInternalServerError, awtrixFailed
	case FaultIllegalJSON:
		req.Status, req.Reply = http.StatusInternalServerError, awtrixParseError
	case FaultErrorCode:
		req.Status, req.Reply = http.StatusNotFound, awtrixNotFound
	case FaultMalformed:
		req.Status, req.Reply = http.StatusOK, awtrixMalformed
	default:
		req.Status, req.Reply = a.applyLocked(r, req.Name, raw, body, bodyErr)
	}
	req.Body = summarizeBitmaps(body)
	req.At = time.Now()
	a.record(req)
	a.mu.Unlock()

	switch {
	case req.Fault == FaultHang:
		a.hang(w, r)
	case strings.HasPrefix(req.Reply, "{"):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(req.Status)
		_, _ = io.WriteString(w, req.Reply)
	default:
		writeText(w, req.Status, req.Reply)
	}
}

// writeText answers a plain-text body, as the firmware does.
func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

// decodeAwtrixBody decodes a request body as one JSON value, numbers as
// json.Number. An empty body decodes to nil without error.
func decodeAwtrixBody(raw []byte) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return v, nil
}

// applyLocked carries out one API request and returns the answer.
func (a *Awtrix) applyLocked(r *http.Request, name string, raw []byte, body any, bodyErr error) (int, string) {
	const (
		ok         = http.StatusOK
		fail       = http.StatusInternalServerError
		notFound   = http.StatusNotFound
		parseError = awtrixParseError
	)
	switch r.Method + " " + r.URL.Path {
	case "POST /api/settings":
		obj, isObj := body.(map[string]any)
		if bodyErr != nil || !isObj {
			return fail, parseError
		}
		bri, hasBRI := obj["BRI"]
		v, valid := jsonInt(bri)
		if hasBRI && (!valid || v < 0 || v > 255) {
			return fail, parseError
		}
		abri, hasABRI := obj["ABRI"]
		on, isBool := abri.(bool)
		if hasABRI && !isBool {
			return fail, parseError
		}
		if hasBRI {
			a.bri = v
		}
		if hasABRI {
			a.abri = on
		}
		return ok, awtrixOK
	case "GET /api/settings":
		return ok, fmt.Sprintf(`{"MATP":%t,"ABRI":%t,"BRI":%d,"ATRANS":true}`, a.power, a.abri, a.bri)
	case "POST /api/power":
		switch strings.TrimSpace(string(raw)) {
		case "true", "1":
			a.power = true
			return ok, awtrixOK
		case "false", "0":
			a.power = false
			return ok, awtrixOK
		}
		obj, _ := body.(map[string]any)
		on, isBool := obj["power"].(bool)
		if !isBool {
			return fail, parseError
		}
		a.power = on
		return ok, awtrixOK
	case "GET /api/stats":
		return ok, a.statsLocked(r)
	case "POST /api/custom":
		if name == "" || bodyErr != nil {
			return fail, parseError
		}
		return a.customLocked(name, body)
	case "POST /api/switch":
		obj, _ := body.(map[string]any)
		app, _ := obj["name"].(string)
		if !slices.Contains(a.loop, app) {
			return fail, awtrixFailed
		}
		a.app = app
		return ok, awtrixOK
	case "POST /api/notify":
		if _, isObj := body.(map[string]any); bodyErr != nil || !isObj {
			return fail, parseError
		}
		a.notifications++
		return ok, awtrixOK
	case "POST /api/reboot":
		a.bootLocked()
		a.startReboot()
		return ok, awtrixOK
	}
	return notFound, awtrixNotFound
}

// customLocked creates, updates or deletes custom apps (POST /api/custom).
// Every app is checked before any is changed.
func (a *Awtrix) customLocked(name string, body any) (int, string) {
	var names []string
	var frames []*image.RGBA
	switch v := body.(type) {
	case nil:
		a.deleteAppsLocked(name)
		return http.StatusOK, awtrixOK
	case map[string]any:
		if len(v) == 0 {
			a.deleteAppsLocked(name)
			return http.StatusOK, awtrixOK
		}
		f, ok := renderAwtrixApp(v)
		if !ok {
			return http.StatusInternalServerError, awtrixParseError
		}
		names, frames = append(names, name), append(frames, f)
	case []any:
		for i, e := range v {
			obj, isObj := e.(map[string]any)
			f, ok := renderAwtrixApp(obj)
			if !isObj || !ok {
				return http.StatusInternalServerError, awtrixParseError
			}
			names, frames = append(names, fmt.Sprint(name, i)), append(frames, f)
		}
	default:
		return http.StatusInternalServerError, awtrixParseError
	}
	for i, n := range names {
		if !slices.Contains(a.loop, n) {
			a.loop = append(a.loop, n)
		}
		a.custom[n] = frames[i]
		a.pushes++
	}
	return http.StatusOK, awtrixOK
}

// deleteAppsLocked deletes every custom app whose name starts with prefix,
// as the firmware does.
func (a *Awtrix) deleteAppsLocked(prefix string) {
	for n := range a.custom {
		if strings.HasPrefix(n, prefix) {
			delete(a.custom, n)
		}
	}
	natives := awtrixNativeApps()
	a.loop = slices.DeleteFunc(a.loop, func(n string) bool {
		return strings.HasPrefix(n, prefix) && !slices.Contains(natives, n)
	})
	if !slices.Contains(a.loop, a.app) {
		a.app = ""
		if len(a.loop) > 0 {
			a.app = a.loop[0]
		}
	}
}

// renderAwtrixApp draws an app's "db" instructions on black; ok is false
// if its draw key is not an array of instruction objects or a "db"
// instruction is invalid.
func renderAwtrixApp(app map[string]any) (*image.RGBA, bool) {
	img := blackAwtrixFrame()
	draw, has := app["draw"]
	if !has {
		return img, true
	}
	list, isList := draw.([]any)
	if !isList {
		return nil, false
	}
	for _, e := range list {
		instr, isObj := e.(map[string]any)
		if !isObj {
			return nil, false
		}
		if db, has := instr["db"]; has && !drawBitmap(img, db) {
			return nil, false
		}
	}
	return img, true
}

// drawBitmap draws a "db" instruction's arguments, [x, y, w, h,
// [colours]], onto img, clipped; it returns false if they are invalid.
func drawBitmap(img *image.RGBA, arg any) bool {
	args, isList := arg.([]any)
	if !isList || len(args) != 5 {
		return false
	}
	var xywh [4]int
	for i := range xywh {
		v, ok := jsonInt(args[i])
		if !ok {
			return false
		}
		xywh[i] = v
	}
	x0, y0, w, h := xywh[0], xywh[1], xywh[2], xywh[3]
	colours, isList := args[4].([]any)
	if !isList || w < 0 || h < 0 || w*h > maxBitmapPixels || len(colours) != w*h {
		return false
	}
	for i, c := range colours {
		rgb, ok := jsonInt(c)
		if !ok || rgb < 0 || rgb > 0xffffff {
			return false
		}
		x, y := x0+i%w, y0+i/w
		if x < 0 || x >= awtrixWidth || y < 0 || y >= awtrixHeight {
			continue
		}
		p := img.PixOffset(x, y)
		img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = byte(rgb>>16), byte(rgb>>8), byte(rgb), 0xff
	}
	return true
}

// jsonInt returns v if it is a JSON number with an integral value that
// fits an int.
func jsonInt(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	if err != nil || i != int64(int(i)) {
		return 0, false
	}
	return int(i), true
}

// summarizeBitmaps replaces the colour arrays of the "db" instructions in
// a decoded custom app body (or array of them) by a summary, in place.
func summarizeBitmaps(body any) any {
	apps, isList := body.([]any)
	if !isList {
		apps = []any{body}
	}
	for _, app := range apps {
		obj, _ := app.(map[string]any)
		draw, _ := obj["draw"].([]any)
		for _, e := range draw {
			instr, _ := e.(map[string]any)
			if args, _ := instr["db"].([]any); len(args) == 5 {
				if colours, isList := args[4].([]any); isList {
					args[4] = fmt.Sprintf("<%d colours>", len(colours))
				}
			}
		}
	}
	return body
}

// statsLocked is the GET /api/stats answer.
func (a *Awtrix) statsLocked(r *http.Request) string {
	ip := awtrixSimIP
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if host, _, err := net.SplitHostPort(addr.String()); err == nil {
			ip = host
		}
	}
	stats := struct {
		Bat        int     `json:"bat"`
		BatRaw     int     `json:"bat_raw"`
		Type       int     `json:"type"`
		Lux        int     `json:"lux"`
		LDRRaw     int     `json:"ldr_raw"`
		RAM        int     `json:"ram"`
		Bri        int     `json:"bri"`
		Temp       float64 `json:"temp"`
		Hum        int     `json:"hum"`
		Uptime     int64   `json:"uptime"`
		WiFiSignal int     `json:"wifi_signal"`
		Messages   int     `json:"messages"`
		Version    string  `json:"version"`
		Indicator1 bool    `json:"indicator1"`
		Indicator2 bool    `json:"indicator2"`
		Indicator3 bool    `json:"indicator3"`
		App        string  `json:"app"`
		UID        string  `json:"uid"`
		Matrix     bool    `json:"matrix"`
		IPAddress  string  `json:"ip_address"`
	}{
		Bat: 100, BatRaw: 670, Lux: 42, LDRRaw: 210, RAM: 150000, Bri: a.bri, Temp: 21.5, Hum: 40,
		Uptime: int64(time.Since(a.booted).Seconds()), WiFiSignal: -55, Messages: a.received(),
		Version: awtrixSimVersion, App: a.app, UID: awtrixSimUID, Matrix: a.power, IPAddress: ip,
	}
	b, err := json.Marshal(stats)
	if err != nil { // cannot happen: only plain fields
		return "{}"
	}
	return string(b)
}

// serveFrame answers GET /frame.png.
func (a *Awtrix) serveFrame(w http.ResponseWriter, r *http.Request) { servePNG(w, a.Frame()) }

// serveState answers GET /state.
func (a *Awtrix) serveState(w http.ResponseWriter, r *http.Request) { serveJSON(w, a.State()) }

var awtrixPage = indexPage("Simulated AWTRIX 3", "Simulated AWTRIX 3 (32x8)", "frame of the visible app", 512, 128)
