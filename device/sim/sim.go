// Package sim simulates pixel displays as HTTP servers that speak the real
// devices' APIs, so the real drivers can be run and tested without
// hardware: Pixoo is a Divoom Pixoo 64, Awtrix an AWTRIX 3 clock (Ulanzi
// TC001, 32x8). Each simulator is an http.Handler that keeps the device's
// state, records the requests it gets, and can be told to fail; Server runs
// one on a TCP address and can take it down (the port refuses connections)
// and up again on the same port, to simulate outages.
//
// The daemon runs a simulator in-process on a free loopback port for its
// "sim" and "sim-awtrix" device types; the same Server backs the standalone
// "pidicon-mqtt sim" command.
package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// ErrClosed is returned by Server methods called after Close.
var ErrClosed = errors.New("sim: server closed")

// drainTimeout bounds how long Down and Close wait for running handlers to
// return once their requests' contexts are cancelled.
const drainTimeout = 5 * time.Second

// Server serves a handler on a TCP address that can be switched off and on.
// While down the port is closed, so clients get "connection refused", the
// way a device that is off looks. Handlers get a request context that is
// cancelled when the server goes down or closes, and must return then.
//
// Its methods are safe for concurrent use.
type Server struct {
	handler http.Handler

	op sync.Mutex // serialises Start, Up, Down and Close

	mu     sync.Mutex // guards the fields below
	addr   string     // bound by Start, reused by Up
	up     *serving   // nil while down
	closed bool

	connMu    sync.Mutex
	conns     map[net.Conn]struct{} // connections whose goroutine still runs
	connsGone chan struct{}         // closed and replaced when conns shrinks
}

// serving is one period during which the server is up.
type serving struct {
	srv    *http.Server
	cancel context.CancelFunc // cancels the handlers' base context
	done   chan struct{}      // closed when srv.Serve returns
}

// NewServer returns a server for h; it listens once Start is called.
func NewServer(h http.Handler) *Server {
	return &Server{
		handler:   h,
		conns:     make(map[net.Conn]struct{}),
		connsGone: make(chan struct{}),
	}
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves in the
// background. It returns the address bound, which Up reuses.
func (s *Server) Start(addr string) (string, error) {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	started, closed := s.addr != "", s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return "", ErrClosed
	case started:
		return "", errors.New("sim: server already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("sim: listen: %w", err)
	}
	s.serve(ln)
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.mu.Unlock()
	return ln.Addr().String(), nil
}

// Addr is the address bound by Start ("" before), also while down.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL is "http://" + Addr.
func (s *Server) URL() string { return "http://" + s.Addr() }

// IsUp reports whether the server is listening.
func (s *Server) IsUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up != nil
}

// Down closes the listener and every connection, so that new connections
// are refused, and cancels the requests in progress; it returns once their
// handlers have returned. It does nothing if the server is already down.
func (s *Server) Down() error {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	up := s.up
	s.up = nil
	s.mu.Unlock()
	return s.stop(up)
}

// Up listens again on the address Start bound. It does nothing if the
// server is already up; it fails if the port has been taken meanwhile.
func (s *Server) Up() error {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	addr, up, closed := s.addr, s.up, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case addr == "":
		return errors.New("sim: server not started")
	case up != nil:
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sim: listen again: %w", err)
	}
	s.serve(ln)
	return nil
}

// Close takes the server down for good, like Down. Later calls do nothing.
func (s *Server) Close() error {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	up := s.up
	s.up = nil
	s.mu.Unlock()
	return s.stop(up)
}

// serve starts serving on ln in the background. The caller holds s.op.
func (s *Server) serve(ln net.Listener) {
	ctx, cancel := context.WithCancel(context.Background())
	up := &serving{
		srv: &http.Server{
			Handler:           s.handler,
			BaseContext:       func(net.Listener) context.Context { return ctx },
			ConnState:         s.trackConn,
			ReadHeaderTimeout: 10 * time.Second,
		},
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go func() {
		defer close(up.done)
		_ = up.srv.Serve(ln) // returns http.ErrServerClosed after stop
	}()
	s.mu.Lock()
	s.up = up
	s.mu.Unlock()
}

// stop ends one serving period (nil: nothing to do) and waits for its
// goroutines. The caller holds s.op but not s.mu.
func (s *Server) stop(up *serving) error {
	if up == nil {
		return nil
	}
	// Close the connections before cancelling the handlers, so that a
	// released handler cannot answer any more: clients see the connection
	// drop, as when a device is switched off.
	err := up.srv.Close()
	up.cancel()
	<-up.done
	if err != nil {
		return fmt.Errorf("sim: close: %w", err)
	}
	return s.waitConns()
}

// trackConn is the http.Server ConnState hook: it counts the connections
// whose goroutine (and so maybe a handler) still runs.
func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	switch state {
	case http.StateNew:
		s.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		if _, ok := s.conns[c]; ok {
			delete(s.conns, c)
			close(s.connsGone)
			s.connsGone = make(chan struct{})
		}
	}
}

// waitConns waits until every connection goroutine has ended, or
// drainTimeout. Only called once the listener is closed, so none starts.
func (s *Server) waitConns() error {
	timeout := time.NewTimer(drainTimeout)
	defer timeout.Stop()
	for {
		s.connMu.Lock()
		n, gone := len(s.conns), s.connsGone
		s.connMu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-gone:
		case <-timeout.C:
			return fmt.Errorf("sim: %d connections still busy after %v", n, drainTimeout)
		}
	}
}
