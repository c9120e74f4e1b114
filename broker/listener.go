package broker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// Accept retries: after a failed Accept (out of file descriptors, for
// one) the listener waits acceptRetryMin, doubling up to acceptRetryMax,
// and tries again; it never gives up while it is open.
const (
	acceptRetryMin = 5 * time.Millisecond
	acceptRetryMax = time.Second
)

// tcpListener serves MQTT over TCP or, with a TLS config, over TLS. Unlike
// mochi's listener, it survives failed Accepts (it retries with backoff
// and reports them), and its connections go through the gate: a deadline
// and a size limit for the CONNECT, caps on connections, and a Close that
// does not wait for clients.
type tcpListener struct {
	listenerBase
	done chan struct{}
}

var _ listeners.Listener = (*tcpListener)(nil)

func newTCPListener(id, addr string, tlsCfg *tls.Config, g *gate, acceptFailed func(string, error, time.Duration)) *tcpListener {
	return &tcpListener{
		listenerBase: listenerBase{id: id, addr: addr, tlsCfg: tlsCfg, gate: g, acceptFailed: acceptFailed},
		done:         make(chan struct{}),
	}
}

func (l *tcpListener) Protocol() string {
	if l.tlsCfg != nil {
		return "tls"
	}
	return "tcp"
}

// Init binds the address.
func (l *tcpListener) Init(*slog.Logger) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ln = ln
	return nil
}

// Serve accepts connections until Close and hands each to the gate.
func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	ln := l.ln
	l.mu.Unlock()
	var retry time.Duration
	for {
		raw, err := ln.Accept()
		if err != nil {
			if l.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			retry = min(max(2*retry, acceptRetryMin), acceptRetryMax)
			l.acceptFailed(l.id, err, retry)
			timer := time.NewTimer(retry)
			select {
			case <-timer.C:
			case <-l.done:
				timer.Stop()
				return
			}
			continue
		}
		retry = 0
		tc := l.gate.open(l.id, raw)
		if tc == nil {
			continue
		}
		var conn net.Conn = tc
		if l.tlsCfg != nil {
			conn = tls.Server(tc, l.tlsCfg)
		}
		if !l.track() {
			conn.Close()
			return
		}
		go func() {
			defer l.conns.Done()
			l.gate.serve(l.id, tc, conn, establish)
		}()
	}
}

// Close stops accepting, closes every connection of the listener (clients
// after mochi's DISCONNECT, see gate.shutdown) and waits for their
// goroutines. mochi's own function to close the clients, the argument, is
// not used: it can deadlock (Broker.disconnectClients).
func (l *tcpListener) Close(listeners.CloseFn) {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
		if l.ln != nil {
			l.ln.Close()
		}
	}
	l.mu.Unlock()
	l.gate.shutdown(l.id)
	l.conns.Wait()
}

// listenerBase is what the TCP and the WebSocket listener share: their
// id, address, TLS config and gate, and the count of their connections'
// goroutines.
type listenerBase struct {
	id     string
	addr   string
	tlsCfg *tls.Config
	gate   *gate
	// acceptFailed is told of each failed Accept and the wait before the
	// next try (0: net/http's own).
	acceptFailed func(listener string, err error, retry time.Duration)

	mu     sync.Mutex
	ln     net.Listener
	closed bool
	conns  sync.WaitGroup
}

func (l *listenerBase) ID() string { return l.id }

// Address is the bound address once bound (the real port of ":0").
func (l *listenerBase) Address() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

// track counts a connection's goroutine, unless the listener is closed.
func (l *listenerBase) track() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns.Add(1)
	return true
}

func (l *listenerBase) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}
