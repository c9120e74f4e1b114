package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// page is one open stream: the messages waiting for it, bounded. The
// daemon's goroutines put messages in without ever waiting; the stream's
// handler takes them out and writes them.
type page struct {
	wake    chan struct{} // capacity 1: "there is something to take"
	writing atomic.Int64  // when the write under way began (Unix ns), 0 between writes

	mu     sync.Mutex
	queue  []item
	resync bool // the queue overflowed: send the full state instead
}

// item is a message for the page, encoded once for every page. An event's
// key is its JSON, to leave out the events the page got in its snapshot.
type item struct {
	data  []byte
	event string
}

// push queues it, unless the page is too far behind: then its queue is
// dropped and it gets the full state once it reads again.
func (p *page) push(it item, limit int) (overflowed bool) {
	p.mu.Lock()
	switch {
	case p.resync: // the snapshot to come carries it
	case len(p.queue) >= limit:
		p.queue, p.resync, overflowed = nil, true, true
	default:
		p.queue = append(p.queue, it)
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return overflowed
}

// take returns the queued messages, or resync when the page must get the
// full state instead.
func (p *page) take() (items []item, resync bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	items, resync = p.queue, p.resync
	p.queue, p.resync = nil, false
	return items, resync
}

// The messages of the stream, one JSON object per server-sent event.
type (
	topicMsg struct {
		Type    string          `json:"type"` // "topic"
		Topic   string          `json:"topic"`
		Payload json.RawMessage `json:"payload"`
	}
	frameMsg struct {
		Type    string `json:"type"` // "frame"
		Device  string `json:"device"`
		Version uint64 `json:"version"`
	}
	readyMsg struct {
		Type   string `json:"type"` // "ready"
		Ready  bool   `json:"ready"`
		Reason string `json:"reason,omitempty"`
	}
	snapshotMsg struct {
		Type   string            `json:"type"` // "snapshot"
		Base   string            `json:"base"`
		Ready  bool              `json:"ready"`
		Reason string            `json:"reason,omitempty"`
		Topics []topicEntry      `json:"topics"`
		Frames map[string]uint64 `json:"frames"`
		Events []event.Event     `json:"events"`
	}
	topicEntry struct {
		Topic   string          `json:"topic"`
		Payload json.RawMessage `json:"payload"`
	}
)

// payloadJSON is a retained payload as the page gets it: a JSON object or
// array as it is, anything else as a string, an empty payload (a cleared
// topic) as null.
func payloadJSON(p []byte) json.RawMessage {
	if len(p) == 0 {
		return json.RawMessage("null")
	}
	if (p[0] == '{' || p[0] == '[') && json.Valid(p) {
		return p
	}
	b, _ := json.Marshal(string(bytes.ToValidUTF8(p, []byte("\uFFFD"))))
	return b
}

// sse frames a JSON message as one server-sent event.
func sse(v any) []byte {
	js, err := json.Marshal(v)
	if err != nil { // cannot happen: strings, numbers and valid JSON
		panic(err)
	}
	out := make([]byte, 0, len(js)+8)
	out = append(out, "data: "...)
	out = append(out, js...)
	return append(out, '\n', '\n')
}

// onUpdate is the bridge's Watch callback: it must not block.
func (s *Server) onUpdate(u bridge.Update) {
	id, leaf, ok := s.split(u.Topic)
	if !ok {
		return
	}
	if leaf == topic.Frame && id != topic.BridgeID {
		s.mu.Lock()
		f := s.frames[id]
		f.png, f.version = u.Payload, f.version+1
		if len(u.Payload) == 0 {
			f.png = nil
		}
		s.frames[id] = f
		if len(s.pages) > 0 {
			s.broadcastLocked(item{data: sse(frameMsg{Type: "frame", Device: id, Version: f.version})})
		}
		s.mu.Unlock()
		return
	}
	if !shown(id, leaf) || !s.anyPage() {
		return // nothing to encode it for: a page that opens gets a snapshot
	}
	s.broadcast(item{data: sse(topicMsg{Type: "topic", Topic: u.Topic, Payload: payloadJSON(u.Payload)})})
}

// anyPage reports whether a page is open.
func (s *Server) anyPage() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pages) > 0
}

// onEvent is the event log's subscriber: it must not block.
func (s *Server) onEvent(e event.Event) {
	if !s.anyPage() {
		return // a page that opens gets it in its snapshot
	}
	js := e.JSON() // encoded once: the message is {"type":"event","event":js}
	data := make([]byte, 0, len(js)+40)
	data = append(data, `data: {"type":"event","event":`...)
	data = append(data, js...)
	data = append(data, "}\n\n"...)
	s.broadcast(item{data: data, event: string(js)})
}

func (s *Server) broadcast(it item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broadcastLocked(it)
}

func (s *Server) broadcastLocked(it item) {
	for p := range s.pages {
		if p.push(it, s.opts.QueueLength) {
			s.resyncs.Add(1)
		}
	}
}

// join registers a new page, or returns nil once the server is closed.
func (s *Server) join() *page {
	p := &page{wake: make(chan struct{}, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return nil
	default:
	}
	s.pages[p] = struct{}{}
	return p
}

func (s *Server) leave(p *page) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pages, p)
}

// readiness is the daemon's readiness as the page shows it.
func (s *Server) readiness() (bool, string) {
	if err := s.opts.Bridge.Ready(); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// snapshot is the full state for a page that (re)connects or fell
// behind: every topic it shows, the frames' versions, the last events and
// the readiness. It returns the events' keys too.
func (s *Server) snapshot(ready bool, reason string) ([]byte, map[string]int) {
	msg := snapshotMsg{
		Type:   "snapshot",
		Base:   s.opts.BaseTopic,
		Ready:  ready,
		Reason: reason,
		Topics: []topicEntry{},
		Frames: make(map[string]uint64),
		Events: s.opts.Events.Recent(),
	}
	for _, u := range s.opts.Bridge.View() {
		if id, leaf, ok := s.split(u.Topic); ok && shown(id, leaf) {
			msg.Topics = append(msg.Topics, topicEntry{Topic: u.Topic, Payload: payloadJSON(u.Payload)})
		}
	}
	s.mu.Lock()
	for id, f := range s.frames {
		if f.png != nil {
			msg.Frames[id] = f.version
		}
	}
	s.mu.Unlock()
	if msg.Events == nil {
		msg.Events = []event.Event{}
	}
	keys := make(map[string]int, len(msg.Events))
	for _, e := range msg.Events {
		keys[string(e.JSON())]++
	}
	return sse(msg), keys
}

// stream serves GET /api/stream: server-sent events, the full state first,
// then each change. A page that cannot keep up loses its queued messages
// and gets the full state again; one that reads nothing for WriteTimeout
// is disconnected. Either way nothing waits for it.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// The stream outlives any read deadline the server set: a read
	// deadline would end it (the server watches the idle connection).
	_ = rc.SetReadDeadline(time.Time{})
	p := s.join()
	if p == nil {
		http.Error(w, "the daemon is shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.leave(p)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a proxy in front must not hold it back

	var buf bytes.Buffer
	buf.WriteString("retry: 1000\n\n") // the page reconnects a second after a loss
	ready, reason := s.readiness()
	snap, seen := s.snapshot(ready, reason)
	buf.Write(snap)
	tick := time.NewTicker(readyEvery)
	defer tick.Stop()
	lastWrite := time.Now()
	for {
		if buf.Len() > 0 {
			p.writing.Store(time.Now().UnixNano())
			err := s.write(w, rc, buf.Bytes())
			p.writing.Store(0)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					s.disconnected.Add(1)
					s.log.Info("web page disconnected: it reads nothing", logkey.Remote, r.RemoteAddr, logkey.After, s.opts.WriteTimeout)
				}
				return
			}
			buf.Reset()
			lastWrite = time.Now()
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-p.wake:
			items, resync := p.take()
			if resync {
				ready, reason = s.readiness()
				snap, seen = s.snapshot(ready, reason)
				buf.Write(snap)
				continue
			}
			for _, it := range items {
				if n := seen[it.event]; it.event != "" && n > 0 {
					seen[it.event] = n - 1 // already in the snapshot
					continue
				}
				buf.Write(it.data)
			}
		case now := <-tick.C:
			if ok, why := s.readiness(); ok != ready || why != reason {
				ready, reason = ok, why
				buf.Write(sse(readyMsg{Type: "ready", Ready: ready, Reason: reason}))
			} else if now.Sub(lastWrite) >= s.opts.Ping {
				buf.WriteString(`data: {"type":"ping"}` + "\n\n")
			}
		}
	}
}

// write sends b to the page within WriteTimeout.
func (s *Server) write(w http.ResponseWriter, rc *http.ResponseController, b []byte) error {
	if err := rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	return rc.Flush()
}
