package broker

import (
	"container/list"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Limits of a connection before it has logged in.
const (
	// ConnectTimeout is how long a new connection has, from accept, to
	// finish its TLS or WebSocket handshake and send its CONNECT.
	ConnectTimeout = 5 * time.Second
	// MaxConnect is the largest CONNECT packet the broker reads: the
	// MaxPacket limit applies only once a client has logged in.
	MaxConnect = 8 * 1024
)

// writeTimeout bounds one write to a client: a client that reads nothing
// for that long is disconnected instead of holding the broker's writers.
const writeTimeout = 30 * time.Second

// shutdownGrace is how long a listener's Close lets mochi send DISCONNECT
// to its clients before it closes their connections itself.
const shutdownGrace = time.Second

// Why a connection was closed before login.
var (
	errConnectTimeout  = errors.New("no complete CONNECT in time")
	errConnectTooLarge = errors.New("the CONNECT packet is larger than the broker reads before login")
	errNotConnect      = errors.New("the first packet is not a CONNECT")
	errEvicted         = errors.New("closed to make room for newer connections (too many connections not logged in)")
	errTooManyClients  = errors.New("too many clients: the broker keeps file descriptors for the daemon")
)

// limits bound what clients may hold. The zero value of a field means its
// default (see defaultLimits).
type limits struct {
	connectTimeout time.Duration // from accept to a complete CONNECT
	maxConnect     int           // bytes of the CONNECT packet
	maxPending     int           // connections of every listener that have not sent their CONNECT yet
	maxClients     int           // connections handed to mochi; the daemon's is admitted beyond it
}

// withDefaults fills the unset fields: the counts from the limit of open
// file descriptors, so that the broker's connections never take the
// descriptors the daemon needs (its own connection, devices, state file).
func (l limits) withDefaults() limits {
	pending, clients := connectionLimits(fileLimit())
	if l.connectTimeout == 0 {
		l.connectTimeout = ConnectTimeout
	}
	if l.maxConnect == 0 {
		l.maxConnect = MaxConnect
	}
	if l.maxPending == 0 {
		l.maxPending = pending
	}
	if l.maxClients == 0 {
		l.maxClients = clients
	}
	return l
}

// connectionLimits splits a limit of open files (0: unknown) between
// connections not logged in yet and clients, keeping a reserve for the
// rest of the daemon: an eighth of the limit plus 64, at most half.
func connectionLimits(files int) (pending, clients int) {
	if files <= 0 {
		return 256, 4096
	}
	budget := files - min(files/2, 64+files/8)
	pending = max(4, min(256, budget/4))
	return pending, max(1, budget-pending)
}

// gate admits the connections of every listener. A connection is pending
// from accept until the gate has read its CONNECT (within connectTimeout,
// at most maxConnect bytes): then it is handed to mochi as a client. When
// maxPending connections are pending, the oldest is closed to make room,
// so that a new connection that sends its CONNECT at once (the daemon's)
// is always read. Beyond maxClients, only the daemon's login is admitted.
// Close of a listener closes its connections, pending or not, so that a
// shutdown never waits for a client.
//
// The daemon reaches the broker over TCP like any client, which costs it
// two descriptors of its own process; the caps, below the limit of open
// files, keep those free, and the two rules above keep its place. (An
// in-process connection would need no descriptor at all, but a dial hook
// in the daemon's MQTT client; the daemon started with 16 descriptors
// open under a limit of 64, so the default reserve, half of that limit,
// leaves it room.)
type gate struct {
	limits limits
	// isDaemon reports whether a CONNECT is the daemon's login.
	isDaemon func(listener string, conn net.Conn, pk packets.Packet) bool
	// dropped is told of every connection closed before login, except at
	// shutdown.
	dropped func(listener, remote string, err error)
	// disconnect sends the clients of a listener mochi's DISCONNECT and
	// stops them, at shutdown.
	disconnect func(listener string)

	mu      sync.Mutex
	pending list.List // of *entry, oldest first
	clients int
	entries map[*entry]struct{}
	closed  map[string]bool // listeners shut down
}

func newGate(l limits, isDaemon func(string, net.Conn, packets.Packet) bool, dropped func(string, string, error), disconnect func(string)) *gate {
	return &gate{limits: l, isDaemon: isDaemon, dropped: dropped, disconnect: disconnect,
		entries: make(map[*entry]struct{}), closed: make(map[string]bool)}
}

// entry is the gate's record of one accepted connection.
type entry struct {
	listener string
	conn     *trackedConn
	deadline time.Time     // for the CONNECT
	elem     *list.Element // in gate.pending while pending
	client   bool          // counted in gate.clients
	evicted  bool
}

// open registers a connection just accepted on listener, as pending. It
// returns nil (and closes raw) when the listener is shut down.
func (g *gate) open(listener string, raw net.Conn) *trackedConn {
	c := &trackedConn{Conn: raw, gate: g}
	e := &entry{listener: listener, conn: c, deadline: time.Now().Add(g.limits.connectTimeout)}
	c.entry = e
	raw.SetDeadline(e.deadline)
	g.mu.Lock()
	if g.closed[listener] {
		g.mu.Unlock()
		raw.Close()
		return nil
	}
	var victim *trackedConn
	if g.pending.Len() >= g.limits.maxPending {
		oldest := g.pending.Front().Value.(*entry)
		g.pending.Remove(oldest.elem)
		oldest.elem, oldest.evicted = nil, true
		victim = oldest.conn
	}
	e.elem = g.pending.PushBack(e)
	g.entries[e] = struct{}{}
	g.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
	return c
}

// admit ends the pending phase of a connection whose CONNECT was read.
func (g *gate) admit(e *entry, conn net.Conn, pk packets.Packet) (daemon bool, _ error) {
	daemon = g.isDaemon != nil && g.isDaemon(e.listener, conn, pk)
	g.mu.Lock()
	defer g.mu.Unlock()
	if e.elem == nil { // evicted, or closed by a shutdown
		if e.evicted {
			return daemon, errEvicted
		}
		return daemon, net.ErrClosed
	}
	g.pending.Remove(e.elem)
	e.elem = nil
	if !daemon && g.clients >= g.limits.maxClients {
		return daemon, errTooManyClients
	}
	e.client = true
	g.clients++
	return daemon, nil
}

// release forgets a closed connection.
func (g *gate) release(e *entry) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e.elem != nil {
		g.pending.Remove(e.elem)
		e.elem = nil
	}
	if e.client {
		e.client = false
		g.clients--
	}
	delete(g.entries, e)
}

// counts returns the number of pending connections and of clients.
func (g *gate) counts() (pending, clients int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pending.Len(), g.clients
}

// serve reads the CONNECT of a connection that open registered (conn
// speaks MQTT over it: the same connection, TLS or WebSocket), admits it
// and hands it to mochi, until the client is gone.
func (g *gate) serve(listener string, tc *trackedConn, conn net.Conn, establish listeners.EstablishFn) {
	defer conn.Close()
	conn.SetReadDeadline(tc.entry.deadline)
	conn.SetWriteDeadline(tc.entry.deadline)
	first, pk, err := readConnect(conn, g.limits.maxConnect)
	daemon := false
	if err == nil {
		daemon, err = g.admit(tc.entry, conn, pk)
		if errors.Is(err, errTooManyClients) {
			refuseBusy(conn, pk.ProtocolVersion)
		}
	}
	if err != nil {
		g.mu.Lock()
		shutdown, evicted := g.closed[listener], tc.entry.evicted
		g.mu.Unlock()
		if evicted {
			err = errEvicted
		} else if clientLeft(err) {
			return // a port check, or a client that gave up: not dropped
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = errConnectTimeout
		}
		if !shutdown && g.dropped != nil {
			g.dropped(listener, conn.RemoteAddr().String(), err)
		}
		return
	}
	// mochi sets the read deadline from the keepalive; clientConn sets
	// one for each write.
	conn.SetReadDeadline(time.Time{})
	conn.SetWriteDeadline(time.Time{})
	limit := MaxPacket
	if daemon {
		limit = DaemonMaxPacket
	}
	establish(listener, &clientConn{Conn: conn, replay: first, limit: packetLimit{max: limit}})
}

// shutdown closes every connection of listener: the pending ones at once,
// the clients after disconnect (mochi's DISCONNECT) or shutdownGrace,
// whichever comes first. Later connections are refused.
func (g *gate) shutdown(listener string) {
	g.mu.Lock()
	g.closed[listener] = true
	var pending, all []*trackedConn
	for e := range g.entries {
		if e.listener != listener {
			continue
		}
		if e.elem != nil {
			pending = append(pending, e.conn)
		}
		all = append(all, e.conn)
	}
	g.mu.Unlock()
	for _, c := range pending {
		c.Close()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.disconnect(listener)
	}()
	timer := time.NewTimer(shutdownGrace)
	select {
	case <-done:
	case <-timer.C:
	}
	timer.Stop()
	for _, c := range all {
		c.Close()
	}
	<-done
}

// readConnect reads the first packet, which must be a CONNECT of at most
// max bytes, and returns its bytes and the packet. Nothing larger than
// max is allocated, whatever the header claims.
func readConnect(r io.Reader, max int) ([]byte, packets.Packet, error) {
	var pk packets.Packet
	head := make([]byte, 1, 5)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, pk, err
	}
	if err := pk.FixedHeader.Decode(head[0]); err != nil {
		return nil, pk, err
	}
	if pk.FixedHeader.Type != packets.Connect {
		return nil, pk, errNotConnect
	}
	remaining, shift := 0, 0
	for b := []byte{0x80}; b[0]&0x80 != 0; shift += 7 {
		if shift > 21 {
			return nil, pk, packets.ErrMalformedVariableByteInteger
		}
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, pk, err
		}
		head = append(head, b[0])
		remaining |= int(b[0]&0x7f) << shift
	}
	if len(head)+remaining > max {
		return nil, pk, fmt.Errorf("%w (%d bytes, at most %d)", errConnectTooLarge, len(head)+remaining, max)
	}
	pk.FixedHeader.Remaining = remaining
	first := make([]byte, len(head)+remaining)
	copy(first, head)
	if _, err := io.ReadFull(r, first[len(head):]); err != nil {
		return nil, pk, err
	}
	// A CONNECT that does not decode is left to mochi, which refuses it
	// as it refuses any other.
	pk.ConnectDecode(first[len(head):])
	return first, pk, nil
}

// clientLeft reports whether a read failed because the client closed the
// connection.
func clientLeft(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// refuseBusy answers a CONNECT the gate refuses for lack of room: "server
// unavailable" (MQTT 3.1.1) or "server busy" (MQTT 5).
func refuseBusy(conn net.Conn, version byte) {
	ack := []byte{0x20, 0x02, 0x00, packets.ErrServerUnavailable.Code}
	if version == 5 {
		ack = []byte{0x20, 0x03, 0x00, packets.ErrServerBusy.Code, 0x00}
	}
	conn.Write(ack)
}

// trackedConn is an accepted connection as the gate counts it: closing it
// releases its place.
type trackedConn struct {
	net.Conn
	gate  *gate
	entry *entry
	once  sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.gate.release(c.entry) })
	return err
}

// trackedOf finds the trackedConn under a connection a listener made
// (itself, or the TLS connection over it).
func trackedOf(c net.Conn) *trackedConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	t, _ := c.(*trackedConn)
	return t
}

// clientConn is a connection as mochi reads it: first the CONNECT the
// gate has read, then the connection. mochi's deadlines are read
// deadlines; every write has its own (writeTimeout). It also holds what
// the broker's hook notes about the client.
type clientConn struct {
	net.Conn
	replay []byte
	limit  packetLimit // what it sends, as it is read

	// emptyWill: the client's will has an empty payload, which mochi
	// refuses; the hook lets it through with a placeholder and empties it
	// again after mochi's checks.
	emptyWill bool
	// holdsRetain and holdsScan: the client's goroutine holds the
	// broker's lock of the retained messages, to write (a retained
	// publish or will) or to read them (a subscription).
	holdsRetain atomic.Bool
	holdsScan   atomic.Bool

	// staged are the subscriptions of the SUBSCRIBE being processed whose
	// retained messages the feed sends once it is acknowledged (the
	// client's goroutine only); feed is the client's retainedFeed, made
	// at its first subscription; gone is set when it disconnected.
	staged []stagedSub
	feed   atomic.Pointer[retainedFeed]
	gone   atomic.Bool
}

// stagedSub is a subscription of a SUBSCRIBE, by its place in the packet.
type stagedSub struct {
	index int
	sub   feedSub
}

func (c *clientConn) Read(p []byte) (int, error) {
	if len(c.replay) > 0 {
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		return n, c.limit.scan(p[:n])
	}
	n, err := c.Conn.Read(p)
	if lerr := c.limit.scan(p[:n]); lerr != nil {
		return 0, lerr
	}
	return n, err
}

// packetLimit follows the MQTT packets of a client's stream and refuses
// one over max bytes as soon as its fixed header is read, before mochi
// reads (and allocates) it. The limit is per connection: the daemon's own
// are larger (DaemonMaxPacket) than other clients' (MaxPacket).
type packetLimit struct {
	max      int
	skip     int  // bytes of the current packet's body still to come
	inLength bool // reading the remaining length
	length   int
	shift    uint
}

// scan follows b, the next bytes of the stream.
func (l *packetLimit) scan(b []byte) error {
	for i := 0; i < len(b); {
		switch {
		case l.skip > 0:
			n := min(l.skip, len(b)-i)
			l.skip -= n
			i += n
		case !l.inLength: // the packet type
			l.inLength, l.length, l.shift = true, 0, 0
			i++
		default:
			c := b[i]
			i++
			l.length |= int(c&0x7f) << l.shift
			l.shift += 7
			if c&0x80 != 0 {
				if l.shift >= 28 {
					return fmt.Errorf("%w: a remaining length of more than 4 bytes", packets.ErrMalformedPacket)
				}
				continue
			}
			l.inLength = false
			if l.length+1 > l.max {
				return fmt.Errorf("%w: %d bytes, over %d", packets.ErrPacketTooLarge, l.length+1, l.max)
			}
			l.skip = l.length
		}
	}
	return nil
}

func (c *clientConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.Conn.Write(p)
}

// SetDeadline sets the read deadline only: mochi sets it from the
// keepalive (none for a keepalive of 0) and must not clear the write
// deadline.
func (c *clientConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// connOf is the connection of a client of the broker's listeners, or nil.
func connOf(c net.Conn) *clientConn {
	cc, _ := c.(*clientConn)
	return cc
}
