// Package web serves the daemon's web page (CONTRACT §9): every display
// live, with its controls, from files built into the binary, and the small
// HTTP API behind it. GET /api/stream is a stream of server-sent events:
// the full state at once, then every change as it happens; GET
// /api/frame/<id> is a display's frame as PNG; POST /api/command and POST
// /api/image/<name> hand commands to the bridge, which checks them exactly
// as if they had come over MQTT.
//
// The page reads what the daemon itself publishes (the bridge's view of its
// retained topics and the event log), so it works with the embedded broker
// and an external one alike.
//
// The package knows nothing of logins: whoever mounts Handler decides who
// may reach it (cmd/pidicon-mqtt). It refuses state changes from other
// origins and sets the page's security headers itself.
package web

import (
	"embed"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// Defaults of Options.
const (
	DefaultQueueLength  = 1024
	DefaultWriteTimeout = 10 * time.Second
	DefaultPing         = 10 * time.Second
)

// readyEvery is how often a stream looks at the daemon's readiness (the
// broker connection), to tell the page when it changes.
const readyEvery = 250 * time.Millisecond

//go:embed static
var staticFiles embed.FS

// Options configure a Server.
type Options struct {
	// Bridge is what the page shows (View, Watch) and where its commands
	// go (Submit).
	Bridge *bridge.Bridge
	// Events are the daemon's events; the page shows the last ones.
	Events *event.Log
	// BaseTopic is mqtt.base_topic: the page's commands must use it.
	BaseTopic string
	// Logger receives the server's logs.
	Logger *slog.Logger
	// QueueLength bounds the messages waiting for one page. A page that
	// falls that far behind loses them and gets the full state again once
	// it reads: a slow page never holds up the daemon or other pages.
	QueueLength int
	// WriteTimeout is how long one write to a page may take; a page that
	// reads nothing for that long is disconnected.
	WriteTimeout time.Duration
	// Ping is how long a stream may stay silent: the page takes a longer
	// silence for a lost connection.
	Ping time.Duration
}

// Server is the web page and its API. Create it with New, mount Handler,
// and Close it before the HTTP server shuts down: Close ends the streams,
// which would otherwise keep their connections busy.
type Server struct {
	opts    Options
	log     *slog.Logger
	files   map[string]staticFile
	handler http.Handler

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	stop      []func() // cancel the bridge's Watch and the event subscription

	mu     sync.Mutex
	pages  map[*page]struct{}
	frames map[string]frame // device id -> its latest frame

	resyncs      atomic.Uint64
	disconnected atomic.Uint64
}

// frame is a display's latest frame and how many it has had.
type frame struct {
	png     []byte
	version uint64
}

// Stats are the server's counters, for /metrics.
type Stats struct {
	// Pages is the number of open streams.
	Pages int
	// Resyncs counts the times a page fell behind, lost its queued
	// messages and was sent the full state again.
	Resyncs uint64
	// Disconnected counts the pages cut off because a write to them took
	// longer than WriteTimeout.
	Disconnected uint64
	// Blocked is the number of pages that have not read what was written
	// to them for more than a second: stalled, or gone without a word.
	Blocked int
}

// blockedAfter is how long a write may wait before its page counts as
// blocked.
const blockedAfter = time.Second

// New returns a server for opts; it follows the bridge and the event log
// from now on, until Close.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.QueueLength <= 0 {
		opts.QueueLength = DefaultQueueLength
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.Ping <= 0 {
		opts.Ping = DefaultPing
	}
	s := &Server{
		opts:   opts,
		log:    opts.Logger,
		files:  loadStatic(),
		done:   make(chan struct{}),
		pages:  make(map[*page]struct{}),
		frames: make(map[string]frame),
	}
	s.stop = append(s.stop, opts.Bridge.Watch(s.onUpdate))
	s.stop = append(s.stop, opts.Events.Subscribe(s.onEvent))
	// Frames published before the watch began. A frame the watch has
	// already brought is newer: keep it.
	s.mu.Lock()
	for _, u := range opts.Bridge.View() {
		if id, leaf, ok := s.split(u.Topic); ok && leaf == topic.Frame {
			if _, seen := s.frames[id]; !seen {
				s.frames[id] = frame{png: u.Payload, version: 1}
			}
		}
	}
	s.mu.Unlock()
	s.handler = s.routes()
	return s
}

// Handler serves the page at / and its API under /api/.
func (s *Server) Handler() http.Handler { return s.handler }

// Close ends every stream and stops following the bridge and the events.
// The streams' handlers return at once; the HTTP server waits for them.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		for _, stop := range s.stop {
			stop()
		}
	})
}

// Stats returns the server's counters now.
func (s *Server) Stats() Stats {
	now := time.Now().UnixNano()
	st := Stats{Resyncs: s.resyncs.Load(), Disconnected: s.disconnected.Load()}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Pages = len(s.pages)
	for p := range s.pages {
		if since := p.writing.Load(); since != 0 && now-since > int64(blockedAfter) {
			st.Blocked++
		}
	}
	return st
}

// leafInfo is the last level of bridge/info (the other levels the page
// shows are the topic package's).
const leafInfo = "info"

// split reads <base>/<id>/<leaf>; ok is false for other topics.
func (s *Server) split(t string) (id, leaf string, ok bool) {
	rest, ok := strings.CutPrefix(t, s.opts.BaseTopic+"/")
	if !ok {
		return "", "", false
	}
	id, leaf, ok = strings.Cut(rest, "/")
	if !ok || id == "" || strings.Contains(leaf, "/") {
		return "", "", false
	}
	return id, leaf, true
}

// shown reports whether the page needs topic <base>/<id>/<leaf>: each
// device's state (which holds every field), availability, metrics and
// notification, and the bridge's info and state. The field topics repeat
// the state topic and are left out.
func shown(id, leaf string) bool {
	if id == topic.BridgeID {
		return leaf == leafInfo || leaf == topic.State
	}
	switch leaf {
	case topic.State, topic.Availability, topic.Metrics, topic.Notification:
		return true
	}
	return false
}
