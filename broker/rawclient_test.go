package broker

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// rawClient speaks MQTT packet by packet over a real TCP connection, with
// mochi's encoder: what a test of the wire format needs, such as an MQTT 5
// client (paho speaks 3.1.1 only).
type rawClient struct {
	t       testing.TB
	conn    net.Conn
	r       *bufio.Reader
	version byte
}

// dialRaw connects to addr without sending anything.
func dialRaw(t testing.TB, addr string, version byte) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, r: bufio.NewReader(conn), version: version}
}

// connectRaw connects and logs in as id (with a username and password
// when given), and returns the CONNACK.
func connectRaw(t testing.TB, addr string, version byte, connect packets.ConnectParams) (*rawClient, packets.Packet) {
	t.Helper()
	c := dialRaw(t, addr, version)
	c.send(c.connectPacket(connect))
	ack, err := c.read()
	if err != nil {
		t.Fatalf("CONNACK: %v", err)
	}
	if ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("got %s, want a CONNACK", packets.PacketNames[ack.FixedHeader.Type])
	}
	return c, ack
}

func (c *rawClient) connectPacket(p packets.ConnectParams) packets.Packet {
	name := []byte("MQTT")
	if c.version == 3 {
		name = []byte("MQIsdp")
	}
	p.ProtocolName = name
	p.Clean = true
	p.Keepalive = 30
	p.UsernameFlag = len(p.Username) > 0
	p.PasswordFlag = len(p.Password) > 0
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: c.version, Connect: p}
}

// encode returns the bytes of pk as this client's version sends it.
func (c *rawClient) encode(pk packets.Packet) []byte {
	c.t.Helper()
	pk.ProtocolVersion = c.version
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		c.t.Fatalf("rawClient cannot send %s", packets.PacketNames[pk.FixedHeader.Type])
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return buf.Bytes()
}

func (c *rawClient) send(pk packets.Packet) {
	c.t.Helper()
	c.write(c.encode(pk))
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if err := c.tryWrite(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// tryWrite writes b and returns the error: for a write the broker may cut
// short by closing the connection.
func (c *rawClient) tryWrite(b []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.conn.Write(b)
	return err
}

// read reads the next packet (within 5 s).
func (c *rawClient) read() (packets.Packet, error) {
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var pk packets.Packet
	b, err := c.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining, _, err = packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	body := make([]byte, pk.FixedHeader.Remaining)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = c.version
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Pingresp:
	default:
		err = fmt.Errorf("rawClient cannot read %s", packets.PacketNames[pk.FixedHeader.Type])
	}
	return pk, err
}

// readType reads packets until one of type typ, and fails the test if
// none comes.
func (c *rawClient) readType(typ byte) packets.Packet {
	c.t.Helper()
	for {
		pk, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for a %s: %v", packets.PacketNames[typ], err)
		}
		if pk.FixedHeader.Type == typ {
			return pk
		}
	}
}

// publishPacket is a PUBLISH.
func publishPacket(topic string, payload []byte, qos byte, retain bool, id uint16) packets.Packet {
	return packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		TopicName:   topic, Payload: payload, PacketID: id,
	}
}

// closedByPeer reports whether the broker closed the connection (within
// 5 s), reading and discarding what it sent before.
func (c *rawClient) closedByPeer() bool {
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c.conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}
