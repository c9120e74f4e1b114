package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"net/http"
	"sync"
	"time"
)

// Pixoo 64 geometry and limits of the simulator.
const (
	pixooSize       = 64
	pixooFrameBytes = pixooSize * pixooSize * 3
	// maxPixooBody caps a request body; a frame body is about 16.5 KiB.
	maxPixooBody = 1 << 20
)

// pixooIllegalJSON is the firmware's plain-text answer to an unknown
// command or a body it cannot parse.
const pixooIllegalJSON = "Request data illegal json"

// The endpoints of the Pixoo API: the classic one, and the one of newer
// firmware and the Pixoo 64 II (served on port 9000 by real devices).
const (
	PixooPost      = "/post"
	PixooDivoomAPI = "/divoom_api"
)

// Request is one API request a simulator got, as Requests returns it.
type Request struct {
	// Path is the endpoint it was POSTed to: PixooPost or PixooDivoomAPI.
	Path string
	// Status is the HTTP status answered: 200, 500 for FaultHTTP500, 404
	// on an endpoint switched off (SetEndpoints), 0 for FaultHang.
	Status int
	// Command is the request's Command field ("" if the body was not a
	// JSON object with a string Command).
	Command string
	// Body is the decoded body, numbers as json.Number; PicData is replaced
	// by a short summary such as "<16384 base64 chars>". Nil if the body was
	// not a JSON object. Callers must not modify it.
	Body map[string]any
	// Fault is the fault injected in the answer, FaultNone if none.
	Fault Fault
	// Reply is the answer's body ("" for FaultHang, FaultHTTP500 and a
	// 404).
	Reply string
	// At is when the request was applied.
	At time.Time
	// Arrived is when it reached the simulator (its headers were read;
	// the body may still be coming).
	Arrived time.Time
}

// Pixoo simulates a Divoom Pixoo 64 and its HTTP API: its brightness (starting at 100), screen switch, channel, frame id counter and
// last frame. It is an http.Handler serving:
//
//   - POST /post and POST /divoom_api: the device API (the classic
//     endpoint and the one of newer firmware; SetEndpoints switches either
//     off, to simulate a firmware that has only one), with the commands
//     Channel/SetBrightness, Channel/OnOffScreen, Channel/GetAllConf,
//     Channel/SetIndex, Channel/GetIndex, Draw/ResetHttpGifId,
//     Draw/GetHttpGifId, Draw/SendHttpGif, Device/TimeAndReset and
//     Device/SysReboot. Device/SysReboot is answered, then the device
//     is as after PowerCycle and away for its reboot time (SetRebootTime):
//     API requests meanwhile are dropped unanswered. An unknown command, or a
//     body that is not a JSON object with a Command, gets the firmware's
//     plain "Request data illegal json". A known command with a missing or
//     invalid argument gets {"error_code":1}: the simulator is stricter
//     than the firmware, to catch driver bugs. Draw/SendHttpGif takes a
//     single frame (PicNum 1, PicOffset 0) or the frames of an animation
//     (PicNum N up to 60, PicOffset 0..N-1 in order, all with one PicID,
//     which the device then plays by itself), PicWidth 64, a PicID larger
//     than the last one, and PicData that is valid base64 of 12,288 bytes.
//   - GET /frame.png: the last frame (black before the first).
//   - GET /state: the state as JSON, for humans and tests.
//   - GET /: a page that shows both.
//
// It is safe for concurrent use.
type Pixoo struct {
	*control[Request] // SetFault, SetLatency, Close, Changed

	mux *http.ServeMux

	mu         sync.Mutex
	brightness int
	screenOn   bool
	channel    int
	picID      int
	upload     []*image.RGBA // the frames of an animation being uploaded
	uploadNum  int           // its PicNum
	animation  []*image.RGBA // the last complete animation, nil after a single frame
	speed      int           // its PicSpeed, ms
	frame      *image.RGBA   // the last frame, nil before the first
	pushes     int
	noPost     bool // POST /post answers 404
	noDivoom   bool // POST /divoom_api answers 404
}

// NewPixoo returns a simulated Pixoo 64 as it is after power-on: brightness
// 100, screen on, channel 0, frame id counter 0, no frame.
func NewPixoo() *Pixoo {
	p := &Pixoo{
		control:    newControl[Request](),
		mux:        http.NewServeMux(),
		brightness: 100,
		screenOn:   true,
	}
	p.mux.HandleFunc("POST "+PixooPost, p.servePost)
	p.mux.HandleFunc("POST "+PixooDivoomAPI, p.servePost)
	p.mux.HandleFunc("GET /frame.png", p.serveFrame)
	p.mux.HandleFunc("GET /state", p.serveState)
	p.mux.HandleFunc("GET /{$}", p.serveIndex)
	return p
}

// PowerCycle makes the device as it is after being unplugged and plugged in
// again: screen on, channel 0, frame id counter 0, no frame. Brightness
// survives (the device keeps it in flash).
func (p *Pixoo) PowerCycle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.powerCycleLocked()
}

func (p *Pixoo) powerCycleLocked() {
	p.screenOn, p.channel, p.picID, p.frame = true, 0, 0, nil
	p.upload, p.animation = nil, nil
}

// SetEndpoints says which API endpoints answer: post (POST /post, the
// classic firmware's) and divoomAPI (POST /divoom_api, newer firmware's
// and the Pixoo 64 II's). One that is off answers 404, as a firmware
// without it does. Both are on after NewPixoo.
func (p *Pixoo) SetEndpoints(post, divoomAPI bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.noPost, p.noDivoom = !post, !divoomAPI
}

// ServeHTTP serves the device API and the pages for humans.
func (p *Pixoo) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

// Brightness is the brightness last set, 0..100.
func (p *Pixoo) Brightness() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.brightness
}

// ScreenOn reports whether the screen is switched on.
func (p *Pixoo) ScreenOn() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.screenOn
}

// Channel is the channel selected (3 is the custom drawing channel).
func (p *Pixoo) Channel() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.channel
}

// PicID is the device's frame id counter: the PicID of the last frame
// since the last reset, 0 after a reset.
func (p *Pixoo) PicID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.picID
}

// Pushes is the number of frames taken (Draw/SendHttpGif answered with
// error_code 0).
func (p *Pixoo) Pushes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pushes
}

// Frame returns a copy of the last frame taken, 64x64; all black before
// the first (see Pushes).
func (p *Pixoo) Frame() *image.RGBA {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frameLocked()
}

func (p *Pixoo) frameLocked() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, pixooSize, pixooSize))
	if p.frame != nil {
		copy(img.Pix, p.frame.Pix)
		return img
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 0xff
	}
	return img
}

// Animation returns copies of the frames of the last animation uploaded
// completely (PicNum > 1) and its PicSpeed in milliseconds; nil when the
// last image was a single frame.
func (p *Pixoo) Animation() ([]*image.RGBA, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*image.RGBA
	for _, f := range p.animation {
		c := image.NewRGBA(f.Rect)
		copy(c.Pix, f.Pix)
		out = append(out, c)
	}
	return out, p.speed
}

// Requests returns the last API requests (at most 1000), oldest first.
func (p *Pixoo) Requests() []Request { return p.log() }

// PixooState is the simulator's state as GET /state shows it.
type PixooState struct {
	Brightness int    `json:"brightness"` // 0..100
	ScreenOn   bool   `json:"screenOn"`   // the LightSwitch setting
	Channel    int    `json:"channel"`    // SelectIndex; 3 draws frames
	PicID      int    `json:"picId"`      // the frame id counter
	Pushes     int    `json:"pushes"`     // frames taken
	Requests   int    `json:"requests"`   // API requests ever received
	Fault      string `json:"fault"`      // the injected fault, "none"
	LatencyMS  int64  `json:"latencyMs"`  // the injected latency
	Rebooting  bool   `json:"rebooting"`  // away after Device/SysReboot
	Reboots    int    `json:"reboots"`    // Device/SysReboot taken
}

// State returns a snapshot of the simulator's state.
func (p *Pixoo) State() PixooState {
	p.mu.Lock()
	defer p.mu.Unlock()
	fault, latency := p.injected()
	return PixooState{
		Brightness: p.brightness,
		ScreenOn:   p.screenOn,
		Channel:    p.channel,
		PicID:      p.picID,
		Pushes:     p.pushes,
		Requests:   p.received(),
		Fault:      fault.String(),
		LatencyMS:  latency.Milliseconds(),
		Rebooting:  p.rebooting(),
		Reboots:    p.control.Reboots(),
	}
}

// servePost answers one API request.
func (p *Pixoo) servePost(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	raw, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPixooBody))
	if p.rebooting() {
		dropConn(w)
		return
	}
	if !p.delay(w, r) {
		return
	}

	var body map[string]any
	if readErr == nil {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if dec.Decode(&body) != nil {
			body = nil
		} else if _, err := dec.Token(); err != io.EOF {
			body = nil // trailing data
		}
	}
	cmd, _ := body["Command"].(string)

	var reply []byte
	status := http.StatusOK
	p.mu.Lock()
	fault, _ := p.injected()
	off := (r.URL.Path == PixooPost && p.noPost) || (r.URL.Path == PixooDivoomAPI && p.noDivoom)
	switch {
	case off:
		status, fault = http.StatusNotFound, FaultNone
	case fault == FaultHang:
		status = 0 // answered (not) below
	case fault == FaultHTTP500:
		status = http.StatusInternalServerError
	case fault == FaultIllegalJSON:
		reply = []byte(pixooIllegalJSON)
	case fault == FaultErrorCode:
		reply = []byte(`{"error_code":1}`)
	case fault == FaultMalformed:
		reply = []byte(`{"error_code":0,"Bright`)
	default:
		reply = p.applyLocked(cmd, body)
	}
	if pd, ok := body["PicData"].(string); ok {
		body["PicData"] = fmt.Sprintf("<%d base64 chars>", len(pd))
	}
	p.record(Request{Path: r.URL.Path, Status: status, Command: cmd, Body: body, Fault: fault, Reply: string(reply), At: time.Now(), Arrived: arrived})
	p.mu.Unlock()

	switch {
	case fault == FaultHang:
		p.hang(w, r)
	case status != http.StatusOK:
		http.Error(w, http.StatusText(status), status)
	case len(reply) > 0 && reply[0] == '{':
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(reply)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(reply)
	}
}

// applyLocked carries out one command and returns the answer's body.
func (p *Pixoo) applyLocked(cmd string, body map[string]any) []byte {
	const ok = `{"error_code":0}`
	const bad = `{"error_code":1}`
	switch cmd {
	case "Channel/SetBrightness":
		v, valid := intArg(body, "Brightness")
		if !valid || v < 0 || v > 100 {
			return []byte(bad)
		}
		p.brightness = v
		return []byte(ok)
	case "Channel/OnOffScreen":
		v, valid := intArg(body, "OnOff")
		if !valid || (v != 0 && v != 1) {
			return []byte(bad)
		}
		p.screenOn = v == 1
		return []byte(ok)
	case "Channel/GetAllConf":
		return fmt.Appendf(nil, `{"error_code":0,"Brightness":%d,"LightSwitch":%d,"RotationFlag":0,"MirrorFlag":0}`,
			p.brightness, boolInt(p.screenOn))
	case "Channel/SetIndex":
		v, valid := intArg(body, "SelectIndex")
		if !valid || v < 0 || v > 3 {
			return []byte(bad)
		}
		p.channel = v
		return []byte(ok)
	case "Channel/GetIndex":
		return fmt.Appendf(nil, `{"error_code":0,"SelectIndex":%d}`, p.channel)
	case "Draw/ResetHttpGifId":
		p.picID = 0
		return []byte(ok)
	case "Draw/GetHttpGifId":
		return fmt.Appendf(nil, `{"error_code":0,"PicId":%d}`, p.picID)
	case "Draw/SendHttpGif":
		if !p.takeFrameLocked(body) {
			return []byte(bad)
		}
		return []byte(ok)
	case "Device/TimeAndReset":
		return []byte(`{"ReturnCode":0,"ReturnMessage":""}`)
	case "Device/SysReboot":
		p.powerCycleLocked()
		p.startReboot()
		return []byte(ok)
	}
	return []byte(pixooIllegalJSON)
}

// maxPicNum is the most frames of one animation the simulator takes.
const maxPicNum = 60

// takeFrameLocked checks a Draw/SendHttpGif body and, if it is valid, shows
// its frame, or adds it to the animation being uploaded; the device shows
// an animation's first frame once the last is in.
func (p *Pixoo) takeFrameLocked(body map[string]any) bool {
	num, okNum := intArg(body, "PicNum")
	offset, okOffset := intArg(body, "PicOffset")
	width, okWidth := intArg(body, "PicWidth")
	id, okID := intArg(body, "PicID")
	speed, okSpeed := intArg(body, "PicSpeed")
	if !okNum || !okOffset || !okWidth || !okID || !okSpeed ||
		num < 1 || num > maxPicNum || width != pixooSize || speed <= 0 {
		return false
	}
	switch {
	case offset == 0 && id <= p.picID:
		return false // a new image needs a higher PicID
	case offset > 0 && (id != p.picID || num != p.uploadNum || offset != len(p.upload)):
		return false // not the next frame of the animation being uploaded
	}
	data, _ := body["PicData"].(string)
	if len(data) != base64.StdEncoding.EncodedLen(pixooFrameBytes) {
		return false
	}
	rgb, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(rgb) != pixooFrameBytes {
		return false
	}
	frame := image.NewRGBA(image.Rect(0, 0, pixooSize, pixooSize))
	pix := frame.Pix
	for i := range pixooSize * pixooSize {
		pix[4*i], pix[4*i+1], pix[4*i+2], pix[4*i+3] = rgb[3*i], rgb[3*i+1], rgb[3*i+2], 0xff
	}
	if offset == 0 {
		p.upload, p.uploadNum = nil, num
	}
	p.upload = append(p.upload, frame)
	p.picID = id
	p.pushes++
	if len(p.upload) == num {
		p.frame = p.upload[0]
		p.animation, p.speed = nil, speed
		if num > 1 {
			p.animation = p.upload
		}
		p.upload = nil
	}
	return true
}

// intArg returns body[key] if it is a JSON number with an integral value.
func intArg(body map[string]any, key string) (int, bool) {
	n, ok := body[key].(json.Number)
	if !ok {
		return 0, false
	}
	v, err := n.Int64()
	if err != nil || v != int64(int(v)) {
		return 0, false
	}
	return int(v), true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// serveFrame answers GET /frame.png.
func (p *Pixoo) serveFrame(w http.ResponseWriter, r *http.Request) { servePNG(w, p.Frame()) }

// serveState answers GET /state.
func (p *Pixoo) serveState(w http.ResponseWriter, r *http.Request) { serveJSON(w, p.State()) }

// serveIndex answers GET / with a page that refreshes the frame and state.
func (p *Pixoo) serveIndex(w http.ResponseWriter, r *http.Request) { serveHTML(w, pixooPage) }

var pixooPage = indexPage("Simulated Pixoo 64", "Simulated Pixoo 64", "current frame", 384, 384)
