package mqtttest

import (
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
)

// MQTT control packet types a test looks for in Proxy.Sent.
const (
	TypeConnect    = 1
	TypePublish    = 3
	TypeSubscribe  = 8
	TypeDisconnect = 14
)

// Packet is one MQTT packet a client sent through a Proxy. Topic, Payload
// and Retain are set for PUBLISH packets (MQTT 3.1.1 layout); Filters for
// SUBSCRIBE packets.
type Packet struct {
	Type    byte
	Topic   string
	Payload []byte
	Retain  bool
	Filters []string
}

// Proxy forwards TCP connections to a broker, records the packets clients
// send through it, and can cut every connection at once without a
// DISCONNECT, as a crash or a broken network does: the broker then
// publishes the client's last will. It stops when the test ends.
type Proxy struct {
	t      testing.TB
	ln     net.Listener
	target string // host:port of the broker
	wg     sync.WaitGroup

	mu      sync.Mutex
	conns   map[net.Conn]bool // both ends of every forwarded connection
	refuse  bool
	hold    func(Packet) bool
	packets []Packet
	changed chan struct{} // closed and replaced on every packet
}

// StartProxy forwards a free port of 127.0.0.1 to the broker at url
// (tcp://host:port).
func StartProxy(t testing.TB, url string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, ln: ln, target: strings.TrimPrefix(url, "tcp://"), conns: make(map[net.Conn]bool), changed: make(chan struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

// URL is where clients connect instead of the broker.
func (p *Proxy) URL() string { return "tcp://" + p.ln.Addr().String() }

// Cut closes every connection without a word to either side and closes
// new ones at once until Resume.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.refuse = true
	p.mu.Unlock()
	p.closeAll()
}

// Resume forwards new connections again after Cut.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = false
}

// Hold stops forwarding what a client sends from its first packet for
// which match is true on (that packet included), as a broker that stopped
// reading; the connection stays open. Recording goes on.
func (p *Proxy) Hold(match func(Packet) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = match
}

// Sent returns the packets clients have sent so far, in order.
func (p *Proxy) Sent() []Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Packet(nil), p.packets...)
}

// Changed is closed when a client sends its next packet.
func (p *Proxy) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, not an orderly close
		}
		c.Close()
		delete(p.conns, c)
	}
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			client.Close()
			continue
		}
		broker, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		if p.refuse { // cut while dialling
			p.mu.Unlock()
			client.Close()
			broker.Close()
			continue
		}
		p.conns[client], p.conns[broker] = true, true
		p.mu.Unlock()
		p.wg.Go(func() { p.forward(client, broker, true) })
		p.wg.Go(func() { p.forward(broker, client, false) })
	}
}

// forward copies from → to until either closes; what a client sends is
// split into packets, recorded, and forwarded packet by packet unless
// held.
func (p *Proxy) forward(from, to net.Conn, fromClient bool) {
	defer func() {
		from.Close()
		to.Close()
	}()
	var pending []byte
	held := false
	buf := make([]byte, 32*1024)
	for {
		n, err := from.Read(buf)
		if n > 0 && !fromClient {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if n > 0 && fromClient {
			pending = append(pending, buf[:n]...)
			var complete []byte
			complete, pending, held = p.record(pending, held)
			if len(complete) > 0 {
				if _, werr := to.Write(complete); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// record takes the complete packets off the front of b and records them;
// it returns the bytes to forward (those before a held packet), the rest
// of b, and whether the connection is held now.
func (p *Proxy) record(b []byte, held bool) (forward, rest []byte, _ bool) {
	for {
		pk, size, err := parsePacket(b)
		if err != nil {
			return forward, b, held // incomplete: wait for more
		}
		p.mu.Lock()
		p.packets = append(p.packets, pk)
		close(p.changed)
		p.changed = make(chan struct{})
		if !held && p.hold != nil && p.hold(pk) {
			held = true
		}
		p.mu.Unlock()
		if !held {
			forward = append(forward, b[:size]...)
		}
		b = b[size:]
	}
}

var errShort = errors.New("incomplete packet")

// parsePacket reads one MQTT 3.1.1 packet from the front of b and returns
// it with its size in bytes.
func parsePacket(b []byte) (Packet, int, error) {
	if len(b) < 2 {
		return Packet{}, 0, errShort
	}
	length, shift, i := 0, 0, 1
	for {
		if i >= len(b) || i > 4 {
			return Packet{}, 0, errShort
		}
		length |= int(b[i]&0x7f) << shift
		shift += 7
		i++
		if b[i-1]&0x80 == 0 {
			break
		}
	}
	if len(b) < i+length {
		return Packet{}, 0, errShort
	}
	pk := Packet{Type: b[0] >> 4}
	body := b[i : i+length]
	if pk.Type == TypePublish && len(body) >= 2 {
		qos := (b[0] >> 1) & 3
		pk.Retain = b[0]&1 == 1
		n := int(binary.BigEndian.Uint16(body))
		if 2+n <= len(body) {
			pk.Topic = string(body[2 : 2+n])
			rest := body[2+n:]
			if qos > 0 && len(rest) >= 2 {
				rest = rest[2:] // packet id
			}
			pk.Payload = append([]byte(nil), rest...)
		}
	}
	if pk.Type == TypeSubscribe && len(body) >= 2 {
		for rest := body[2:]; len(rest) >= 2; {
			n := int(binary.BigEndian.Uint16(rest))
			if 2+n >= len(rest) {
				break // the options byte is missing
			}
			pk.Filters = append(pk.Filters, string(rest[2:2+n]))
			rest = rest[2+n+1:]
		}
	}
	return pk, i + length, nil
}
