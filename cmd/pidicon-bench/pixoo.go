package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/sim"
)

// maxFrameDisplays caps --frames: each display takes a listening socket and
// a connection in the tool, and a connection in the daemon.
const maxFrameDisplays = 5000

// Pixoo 64 API facts the displays of the frames run answer by, as
// device/sim's Pixoo does.
const (
	pixooWidth       = 64
	pixooPicDataLen  = 16384   // base64 of 64 × 64 × 3 bytes
	pixooMaxPicNum   = 60      // frames of one animation
	pixooMaxBody     = 1 << 20 // the simulator's cap on a request body
	pixooReplyOK     = `{"error_code":0}`
	pixooReplyBad    = `{"error_code":1}`
	pixooIllegalJSON = "Request data illegal json"
)

// frameHead is how the daemon's driver begins every Draw/SendHttpGif body;
// the lean display reads such a body without a JSON decoder.
const frameHead = `{"Command":"Draw/SendHttpGif",`

// farm is the frames run's displays: one HTTP server per display, each on
// its own loopback port, and what they received.
type farm struct {
	displays []*display
	addrs    []string
	servers  []*http.Server
	wg       sync.WaitGroup
	bufs     sync.Pool // *bytes.Buffer for request bodies

	requests atomic.Int64 // API requests
	frames   atomic.Int64 // frames taken
	refused  atomic.Int64 // answered with an error (error_code ≠ 0, illegal json, 404)
	failed   atomic.Int64 // the request body could not be read (the connection broke)
}

// display is what one display received: when each frame arrived.
type display struct {
	count    atomic.Int64
	mu       sync.Mutex
	arrivals []time.Time
}

// frameAt records a frame that arrived at at.
func (d *display) frameAt(at time.Time) {
	d.mu.Lock()
	d.arrivals = append(d.arrivals, at)
	d.mu.Unlock()
	d.count.Add(1)
}

// between returns the arrival times in [from, to).
func (d *display) between(from, to time.Time) []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []time.Time
	for _, t := range d.arrivals {
		if !t.Before(from) && t.Before(to) {
			out = append(out, t)
		}
	}
	return out
}

// startFarm serves n displays on free loopback ports: the tool's lean
// Pixoo 64 (leanPixoo), or with useSim device/sim's Pixoo behind a
// recorder (simRecorder).
func startFarm(n int, useSim bool) (*farm, error) {
	f := &farm{bufs: sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 20<<10)) }}}
	for range n {
		d := &display{}
		var h http.Handler = &leanPixoo{farm: f, rec: d, brightness: 100, screenOn: true}
		if useSim {
			h = &simRecorder{farm: f, rec: d, sim: sim.NewPixoo()}
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.close()
			return nil, fmt.Errorf("simulated displays: listen: %w", err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		f.displays = append(f.displays, d)
		f.addrs = append(f.addrs, l.Addr().String())
		f.servers = append(f.servers, srv)
		f.wg.Go(func() { srv.Serve(l) })
	}
	return f, nil
}

// close stops every server and waits for them.
func (f *farm) close() {
	for _, s := range f.servers {
		s.Close()
	}
	f.wg.Wait()
}

// warm is how many displays have received at least k frames.
func (f *farm) warm(k int64) int {
	n := 0
	for _, d := range f.displays {
		if d.count.Load() >= k {
			n++
		}
	}
	return n
}

// counters are the farm's request counters at one moment.
type counters struct{ requests, frames, refused, failed int64 }

func (f *farm) counters() counters {
	return counters{f.requests.Load(), f.frames.Load(), f.refused.Load(), f.failed.Load()}
}

// readBody reads a request's body into a pooled buffer (give it back with
// f.bufs.Put) and returns when it was in; ok is false, and the request
// counted as failed, if it could not be read.
func (f *farm) readBody(r *http.Request) (buf *bytes.Buffer, at time.Time, ok bool) {
	f.requests.Add(1)
	buf = f.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(io.LimitReader(r.Body, pixooMaxBody))
	if err != nil {
		f.bufs.Put(buf)
		f.failed.Add(1)
		return nil, time.Time{}, false
	}
	return buf, time.Now(), true
}

// isAPI reports whether r is a Pixoo API request.
func isAPI(r *http.Request) bool {
	return r.Method == http.MethodPost && (r.URL.Path == sim.PixooPost || r.URL.Path == sim.PixooDivoomAPI)
}

// leanPixoo answers the Pixoo 64 API as device/sim's Pixoo does (the same
// commands, checks and replies, Device/SysReboot answered without going
// away) but keeps only what the answers need: it does not decode the
// frames (PicData is checked for its length, not its characters), and
// reads the driver's Draw/SendHttpGif bodies without a JSON decoder. So
// a thousand displays at 5 frames a second cost the tool little of the
// CPU that the daemon shares with it.
type leanPixoo struct {
	farm *farm
	rec  *display

	mu         sync.Mutex
	brightness int
	screenOn   bool
	channel    int
	picID      int
	uploadNum  int // PicNum of the image being uploaded
	uploadNext int // its next PicOffset
}

// ServeHTTP answers one request.
func (p *leanPixoo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isAPI(r) {
		p.farm.requests.Add(1)
		p.farm.refused.Add(1)
		http.NotFound(w, r)
		return
	}
	buf, at, ok := p.farm.readBody(r)
	if !ok {
		return
	}
	reply, res := p.apply(buf.Bytes())
	p.farm.bufs.Put(buf)
	switch res {
	case took:
		p.farm.frames.Add(1)
		p.rec.frameAt(at)
	case refused:
		p.farm.refused.Add(1)
	}
	if reply[0] == '{' {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	io.WriteString(w, reply)
}

// pixooRequest is an API request's body, for the commands the simulator
// knows.
type pixooRequest struct {
	Command     string
	Brightness  *int
	OnOff       *int
	SelectIndex *int
	pic
}

// pic is a Draw/SendHttpGif request.
type pic struct {
	PicNum, PicWidth, PicOffset, PicID, PicSpeed *int
	PicData                                      *string
	dataLen                                      int // len(*PicData), or of the raw PicData
}

// outcome is what became of a request.
type outcome int

const (
	answered outcome = iota // a command carried out, or a question answered
	took                    // a frame taken
	refused                 // error_code 1 or "Request data illegal json"
)

// apply carries out one command and returns the reply and its outcome.
func (p *leanPixoo) apply(body []byte) (string, outcome) {
	var req pixooRequest
	if fp, ok := parseFrameBody(body); ok {
		req.Command, req.pic = "Draw/SendHttpGif", fp
	} else if json.Unmarshal(body, &req) != nil || req.Command == "" {
		return pixooIllegalJSON, refused
	} else if req.PicData != nil {
		req.dataLen = len(*req.PicData)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch req.Command {
	case "Channel/SetBrightness":
		if !within(req.Brightness, 0, 100) {
			return pixooReplyBad, refused
		}
		p.brightness = *req.Brightness
	case "Channel/OnOffScreen":
		if !within(req.OnOff, 0, 1) {
			return pixooReplyBad, refused
		}
		p.screenOn = *req.OnOff == 1
	case "Channel/GetAllConf":
		return fmt.Sprintf(`{"error_code":0,"Brightness":%d,"LightSwitch":%d,"RotationFlag":0,"MirrorFlag":0}`, p.brightness, b2i(p.screenOn)), answered
	case "Channel/SetIndex":
		if !within(req.SelectIndex, 0, 3) {
			return pixooReplyBad, refused
		}
		p.channel = *req.SelectIndex
	case "Channel/GetIndex":
		return fmt.Sprintf(`{"error_code":0,"SelectIndex":%d}`, p.channel), answered
	case "Draw/ResetHttpGifId":
		p.picID = 0
	case "Draw/GetHttpGifId":
		return fmt.Sprintf(`{"error_code":0,"PicId":%d}`, p.picID), answered
	case "Draw/SendHttpGif":
		if !p.takeLocked(req.pic) {
			return pixooReplyBad, refused
		}
		return pixooReplyOK, took
	case "Device/TimeAndReset":
		return `{"ReturnCode":0,"ReturnMessage":""}`, answered
	case "Device/SysReboot":
		p.screenOn, p.channel, p.picID, p.uploadNum, p.uploadNext = true, 0, 0, 0, 0
	default:
		return pixooIllegalJSON, refused
	}
	return pixooReplyOK, answered
}

// takeLocked applies the simulator's rules to a frame: PicNum 1..60,
// PicWidth 64, PicSpeed > 0, a PicID above the last for a new image (the
// next PicOffset of the same PicID for an animation's later frames), and
// PicData of 64 × 64 RGB in base64.
func (p *leanPixoo) takeLocked(f pic) bool {
	if !within(f.PicNum, 1, pixooMaxPicNum) || !within(f.PicWidth, pixooWidth, pixooWidth) || !within(f.PicSpeed, 1, 1<<31-1) ||
		f.PicOffset == nil || f.PicID == nil || f.dataLen != pixooPicDataLen {
		return false
	}
	num, offset, id := *f.PicNum, *f.PicOffset, *f.PicID
	switch {
	case offset == 0 && id <= p.picID:
		return false
	case offset > 0 && (id != p.picID || num != p.uploadNum || offset != p.uploadNext):
		return false
	case offset < 0:
		return false
	}
	if offset == 0 {
		p.uploadNum, p.uploadNext = num, 0
	}
	p.uploadNext++
	p.picID = id
	return true
}

// within reports whether v is set and lo ≤ *v ≤ hi.
func within(v *int, lo, hi int) bool { return v != nil && *v >= lo && *v <= hi }

// parseFrameBody reads a Draw/SendHttpGif body laid out as the daemon's
// driver writes it (frameHead, integer fields, PicData last); ok is false
// for any other body, which then goes through the JSON decoder.
func parseFrameBody(body []byte) (f pic, ok bool) {
	const dataKey = `"PicData":"`
	rest, found := bytes.CutPrefix(body, []byte(frameHead))
	if !found {
		return f, false
	}
	head, data, found := bytes.Cut(rest, []byte(dataKey))
	if !found || !bytes.HasSuffix(data, []byte(`"}`)) {
		return f, false
	}
	data = data[:len(data)-2]
	if bytes.IndexByte(data, '"') >= 0 {
		return f, false
	}
	for len(head) > 0 {
		var kv []byte
		kv, head, _ = bytes.Cut(head, []byte(","))
		k, v, found := bytes.Cut(kv, []byte(":"))
		n, isInt := atoi(v)
		if !found || !isInt {
			return f, false
		}
		switch string(k) {
		case `"PicNum"`:
			f.PicNum = &n
		case `"PicWidth"`:
			f.PicWidth = &n
		case `"PicOffset"`:
			f.PicOffset = &n
		case `"PicID"`:
			f.PicID = &n
		case `"PicSpeed"`:
			f.PicSpeed = &n
		default:
			return f, false
		}
	}
	f.dataLen = len(data)
	return f, true
}

// atoi reads a non-negative decimal integer of at most 9 digits.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = 10*n + int(c-'0')
	}
	return n, true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// simRecorder serves device/sim's Pixoo 64 (which decodes every frame and
// keeps it) and records the frames it took, from its replies.
type simRecorder struct {
	farm *farm
	rec  *display
	sim  *sim.Pixoo
}

// ServeHTTP passes the request on to the simulator and reads its reply.
func (s *simRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isAPI(r) {
		s.sim.ServeHTTP(w, r)
		return
	}
	buf, at, ok := s.farm.readBody(r)
	if !ok {
		return
	}
	defer s.farm.bufs.Put(buf)
	body := buf.Bytes()
	r.Body = io.NopCloser(bytes.NewReader(body))
	rw := &replyHead{ResponseWriter: w, status: http.StatusOK}
	s.sim.ServeHTTP(rw, r)
	good := rw.status == http.StatusOK && bytes.HasPrefix(rw.head, []byte(`{"error_code":0`))
	frame := bytes.Contains(body, []byte(`"Draw/SendHttpGif"`))
	switch {
	case good && frame:
		s.farm.frames.Add(1)
		s.rec.frameAt(at)
	case !good:
		s.farm.refused.Add(1)
	}
}

// replyHead is a ResponseWriter that keeps the status and the first bytes
// of the reply.
type replyHead struct {
	http.ResponseWriter
	status int
	head   []byte
}

func (r *replyHead) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *replyHead) Write(b []byte) (int, error) {
	if len(r.head) < 32 {
		r.head = append(r.head, b[:min(len(b), 32-len(r.head))]...)
	}
	return r.ResponseWriter.Write(b)
}
