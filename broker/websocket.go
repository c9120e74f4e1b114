package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
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
// ignored, and Address gives the real port of ":0". Its connections go
// through the gate from accept on: the HTTP upgrade and the CONNECT must
// come within the CONNECT deadline.
type wsListener struct {
	listenerBase
	server *http.Server
	log    *slog.Logger
}

var _ listeners.Listener = (*wsListener)(nil)

func newWSListener(id, addr string, tlsCfg *tls.Config, g *gate, acceptFailed func(string, error, time.Duration)) *wsListener {
	return &wsListener{listenerBase: listenerBase{id: id, addr: addr, tlsCfg: tlsCfg, gate: g, acceptFailed: acceptFailed}}
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
	ln = &gatedListener{Listener: ln, id: l.id, gate: l.gate, failed: l.acceptFailed}
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
		ReadHeaderTimeout: ConnectTimeout,
		IdleTimeout:       ConnectTimeout,
		// Failed handshakes and requests are the clients' business.
		ErrorLog: slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return // the upgrader answered with an HTTP error
			}
			tc := trackedOf(ws.NetConn())
			if tc == nil || !l.track() {
				ws.Close()
				return
			}
			defer l.conns.Done()
			l.gate.serve(l.id, tc, &wsConn{Conn: ws.NetConn(), ws: ws}, establish)
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

// Close stops accepting, closes every connection of the listener (clients
// after mochi's DISCONNECT, see gate.shutdown) and waits for their
// handlers. mochi's own function to close the clients, the argument, is
// not used: it can deadlock (Broker.disconnectClients).
func (l *wsListener) Close(listeners.CloseFn) {
	l.mu.Lock()
	srv, ln := l.server, l.ln
	l.server, l.closed = nil, true
	l.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	l.gate.shutdown(l.id)
	if srv != nil {
		// Connections not upgraded yet are the gate's too: all closed.
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		srv.Shutdown(ctx)
		cancel()
	}
	l.conns.Wait()
}

// gatedListener registers each accepted connection with the gate before
// net/http reads the upgrade request.
type gatedListener struct {
	net.Listener
	id     string
	gate   *gate
	failed func(string, error, time.Duration)
}

func (l *gatedListener) Accept() (net.Conn, error) {
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.failed(l.id, err, 0)
			}
			return nil, err // net/http retries with backoff
		}
		if tc := l.gate.open(l.id, raw); tc != nil {
			return tc, nil
		}
	}
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

// SetWriteDeadline sets the deadline of the WebSocket writes (the
// WebSocket connection sets its own on the connection under it).
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

func (c *wsConn) SetDeadline(t time.Time) error {
	c.ws.SetWriteDeadline(t)
	return c.ws.SetReadDeadline(t)
}
