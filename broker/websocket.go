package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/pidicon/pidicon-mqtt/internal/logkey"
)

// errTextFrame is a WebSocket text frame: MQTT travels in binary frames.
var errTextFrame = errors.New("websocket: MQTT needs binary frames, got a text frame")

// wsListener serves MQTT over WebSocket (ws:// or, with a TLS config,
// wss://) on any path, for browser clients. Unlike mochi's listener it
// binds in Init, so a busy port fails the start-up instead of being
// ignored, and Address gives the real port of ":0".
type wsListener struct {
	id     string
	addr   string
	tlsCfg *tls.Config

	mu     sync.Mutex
	ln     net.Listener
	server *http.Server
	closed bool
	log    *slog.Logger
}

var _ listeners.Listener = (*wsListener)(nil)

func newWSListener(id, addr string, tlsCfg *tls.Config) *wsListener {
	return &wsListener{id: id, addr: addr, tlsCfg: tlsCfg}
}

func (l *wsListener) ID() string { return l.id }

func (l *wsListener) Address() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

func (l *wsListener) Protocol() string {
	if l.tlsCfg != nil {
		return "wss"
	}
	return "ws"
}

// Init binds the address.
func (l *wsListener) Init(log *slog.Logger) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	if l.tlsCfg != nil {
		ln = tls.NewListener(ln, l.tlsCfg)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ln, l.log = ln, log
	return nil
}

// Serve accepts WebSocket connections and hands each to establish until
// Close.
func (l *wsListener) Serve(establish listeners.EstablishFn) {
	up := &websocket.Upgrader{
		Subprotocols: []string{"mqtt"},
		// Browser pages of any origin may connect: a login is required
		// (the daemon's config refuses an anonymous WebSocket listener
		// unless broker.allow_anonymous is set).
		CheckOrigin: func(*http.Request) bool { return true },
	}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return // the upgrader answered with an HTTP error
			}
			conn := &wsConn{Conn: ws.NetConn(), ws: ws}
			if err := establish(l.id, conn); err != nil {
				l.log.Debug("websocket client", logkey.Remote, r.RemoteAddr, logkey.Error, err)
			}
		}),
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.server = srv
	ln := l.ln
	l.mu.Unlock()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("websocket listener stopped", logkey.Error, err)
	}
}

// Close stops accepting and disconnects the listener's clients.
func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	srv, ln := l.server, l.ln
	l.server, l.closed = nil, true
	l.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(ctx)
		cancel()
	} else if ln != nil {
		ln.Close()
	}
	closeClients(l.id)
}

// wsConn is a WebSocket connection as the byte stream mochi reads MQTT
// packets from: each binary message is a span of the stream. Addresses
// and deadlines are those of the underlying connection.
type wsConn struct {
	net.Conn
	ws *websocket.Conn
	r  io.Reader // the message being read, or nil
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errTextFrame
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error { return c.ws.Close() }
