package broker

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

const daemonID = "pidicon-mqtt-test"

// events collects what the broker reports.
type events struct {
	mu  sync.Mutex
	all []event.Event
}

func (e *events) report(ev event.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) list() []event.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]event.Event(nil), e.all...)
}

// start runs a broker on a free port of 127.0.0.1 until the test ends.
func start(t *testing.T, opts Options) *Broker {
	t.Helper()
	opts.Listen = "127.0.0.1:0"
	if opts.BaseTopic == "" {
		opts.BaseTopic = "pidicon"
	}
	b, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// oversizedConnectHeader is the start of a CONNECT that claims 200 KiB:
// the header and a few bytes of the variable header.
var oversizedConnectHeader = []byte{0x10, 0x80, 0xc0, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c}

// TestBroker_PreLoginMemoryBounded opens 1,500 connections that never
// log in: 1,000 send a CONNECT header claiming 200 KiB (and a few bytes
// of it), 500 send nothing. The broker's heap must stay under 48 MB
// above where it started (mochi allocated what the header claimed,
// before login: 200 MB here), the oversized ones must be closed at once,
// and a client with a login must still get in meanwhile.
func TestBroker_PreLoginMemoryBounded(t *testing.T) {
	const oversized, idle, bound = 1000, 500, 48 << 20
	b := start(t, Options{Users: []User{{Username: "alice", Password: "alice-secret"}}})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc

	var closed atomic.Int64
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range oversized + idle {
		c, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if i < oversized {
			c.Write(oversizedConnectHeader)
			go func() {
				io.Copy(io.Discard, c)
				closed.Add(1)
			}()
		}
	}
	var peak uint64
	mqtttest.WaitUntil(t, 10*time.Second, "the oversized CONNECTs closed", func() bool {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		if peak > base+bound {
			t.Fatalf("heap %d MB above the start with %d connections not logged in", (peak-base)>>20, len(conns))
		}
		return closed.Load() == oversized
	})
	alice := mqtttest.ConnectWith(t, b.URL(), mqtttest.Login{Username: "alice", Password: "alice-secret"})
	alice.Publish("some/topic", "still served", false)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("heap: %d MB at the start, peak %d MB, %d MB now with %d connections open",
		base>>20, peak>>20, ms.HeapAlloc>>20, len(conns))
	if s := b.Stats(); s.ConnectionsDropped < oversized || s.Pending > b.gate.limits.maxPending {
		t.Errorf("stats %+v: want at least %d connections dropped, at most %d pending", s, oversized, b.gate.limits.maxPending)
	}
}

// TestBroker_ConnectDeadline: a connection that sends nothing, or only
// part of its CONNECT, is closed after ConnectTimeout; it was never
// closed.
func TestBroker_ConnectDeadline(t *testing.T) {
	b := start(t, Options{})
	silent := dialRaw(t, b.Addr(), 4)
	partial := dialRaw(t, b.Addr(), 4)
	full := partial.encode(partial.connectPacket(packets.ConnectParams{ClientIdentifier: "slow"}))
	partial.write(full[:len(full)-3])
	began := time.Now()
	for name, c := range map[string]*rawClient{"silent": silent, "partial CONNECT": partial} {
		c.conn.SetReadDeadline(began.Add(ConnectTimeout + 3*time.Second))
		if _, err := io.Copy(io.Discard, c.conn); err != nil {
			t.Errorf("%s connection: %v (not closed by the broker)", name, err)
		}
	}
	if took := time.Since(began); took < ConnectTimeout-time.Second {
		t.Errorf("closed after %v, before the CONNECT deadline", took)
	}
	if s := b.Stats(); s.ConnectionsDropped != 2 {
		t.Errorf("%d connections dropped, want 2", s.ConnectionsDropped)
	}
}

// TestBroker_LargeConnectRefused: a CONNECT over MaxConnect (a will of 20
// KB) is refused before the broker reads it; one just under is read.
func TestBroker_LargeConnectRefused(t *testing.T) {
	b := start(t, Options{})
	big := dialRaw(t, b.Addr(), 4)
	big.write(big.encode(big.connectPacket(packets.ConnectParams{ClientIdentifier: "big", WillFlag: true,
		WillTopic: "wills/big", WillPayload: bytes.Repeat([]byte("x"), 20000)})))
	if !big.closedByPeer() {
		t.Error("a 20 KB CONNECT was not refused")
	}
	_, ack := connectRaw(t, b.Addr(), 4, packets.ConnectParams{ClientIdentifier: "fits", WillFlag: true,
		WillTopic: "wills/fits", WillPayload: bytes.Repeat([]byte("x"), MaxConnect-100)})
	if ack.ReasonCode != 0 {
		t.Errorf("a CONNECT of %d bytes refused: %#x", MaxConnect-50, ack.ReasonCode)
	}
}

// TestBroker_DaemonGetsInWhenFull fills the broker with clients (its cap,
// set low here, keeps file descriptors for the rest of the daemon) and
// with more connections not logged in than it holds: another client is
// refused with "server unavailable", the daemon's login still gets in.
func TestBroker_DaemonGetsInWhenFull(t *testing.T) {
	b := start(t, Options{DaemonClientID: daemonID, limits: limits{maxPending: 4, maxClients: 2}})
	mqtttest.Connect(t, b.URL())
	mqtttest.Connect(t, b.URL())
	for range 10 {
		dialRaw(t, b.Addr(), 4) // never logs in; the oldest are closed
	}
	mqtttest.WaitUntil(t, 5*time.Second, "at most 4 connections pending", func() bool { return b.Stats().Pending <= 4 })
	_, ack := connectRaw(t, b.Addr(), 4, packets.ConnectParams{ClientIdentifier: "third"})
	if ack.ReasonCode != packets.ErrServerUnavailable.Code {
		t.Errorf("a third client: CONNACK %#x, want %#x (server unavailable)", ack.ReasonCode, packets.ErrServerUnavailable.Code)
	}
	user, pass := b.DaemonLogin()
	if _, err := mqtttest.TryConnect(t, b.URL(), mqtttest.Login{ClientID: daemonID, Username: user, Password: pass}); err != nil {
		t.Errorf("the daemon was refused: %v", err)
	}
	if s := b.Stats(); s.Clients != 3 {
		t.Errorf("%d clients, want 3", s.Clients)
	}
}

// TestBroker_Puback5WithUserProperties: an MQTT 5 QoS 1 publish with user
// properties gets a PUBACK that MQTT 5 allows: success without a reason
// code 0x01 (mochi echoed the properties with code 0x01, which MQTT.js
// rejects); a refused one gets 0x87.
func TestBroker_Puback5WithUserProperties(t *testing.T) {
	b := start(t, Options{DaemonClientID: daemonID})
	c, _ := connectRaw(t, b.Addr(), 5, packets.ConnectParams{ClientIdentifier: "node-red"})
	for i, tc := range []struct {
		topic string
		code  byte
	}{
		{"pidicon/demo/brightness/set", packets.CodeSuccess.Code},
		{"pidicon/demo/state", packets.ErrNotAuthorized.Code}, // only the daemon publishes there
	} {
		pk := publishPacket(tc.topic, []byte("7"), 1, false, uint16(i+1))
		pk.Properties.User = []packets.UserProperty{{Key: "origin", Val: "node-red"}}
		c.send(pk)
		ack := c.readType(packets.Puback)
		if ack.PacketID != pk.PacketID || ack.ReasonCode != tc.code || !ack.ReasonCodeValid() {
			t.Errorf("%s: PUBACK id %d reason %#x (valid for a PUBACK: %t), want id %d reason %#x",
				tc.topic, ack.PacketID, ack.ReasonCode, ack.ReasonCodeValid(), pk.PacketID, tc.code)
		}
		if len(ack.Properties.User) > 0 {
			t.Errorf("%s: the PUBACK echoes the user properties %v", tc.topic, ack.Properties.User)
		}
	}
}

// TestBroker_RefusedPublishesDoNotFloodTheLog sends 20 MQTT 5 QoS 1
// publishes of 200 KB to a topic only the daemon publishes to: mochi
// logged each whole packet as decimal bytes (600 KB a line); now at most
// a line a second, with the packet summed up.
func TestBroker_RefusedPublishesDoNotFloodTheLog(t *testing.T) {
	var log testkit.Buffer
	b := start(t, Options{
		DaemonClientID: daemonID,
		Logger:         slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	c, _ := connectRaw(t, b.Addr(), 5, packets.ConnectParams{ClientIdentifier: "flood"})
	payload := bytes.Repeat([]byte("9"), 200*1000)
	for i := range 20 {
		c.send(publishPacket("pidicon/demo/state", payload, 1, false, uint16(i+1)))
		if ack := c.readType(packets.Puback); ack.ReasonCode != packets.ErrNotAuthorized.Code {
			t.Fatalf("PUBACK %#x, want %#x", ack.ReasonCode, packets.ErrNotAuthorized.Code)
		}
	}
	out := log.String()
	if len(out) > 4096 {
		t.Errorf("%d bytes of log for 20 refused publishes; first 1000:\n%.1000s", len(out), out)
	}
	if !strings.Contains(out, `topic=\"pidicon/demo/state\"`) || !strings.Contains(out, "payload=200000 bytes") {
		t.Errorf("the log does not sum the packet up:\n%s", out)
	}
	if b.Stats().PublishesDenied != 20 {
		t.Errorf("%d publishes denied, want 20", b.Stats().PublishesDenied)
	}
}

// TestBroker_OversizedPacketReported: clients that send a packet over
// MaxPacket are disconnected, and an event names the client (at most one
// a second: three clients in a row make one or two).
func TestBroker_OversizedPacketReported(t *testing.T) {
	var got events
	b := start(t, Options{Report: got.report})
	for _, id := range []string{"too-big-1", "too-big-2", "too-big-3"} {
		c, _ := connectRaw(t, b.Addr(), 4, packets.ConnectParams{ClientIdentifier: id})
		// The broker may close the connection before the whole packet is
		// written (the write then fails with a reset).
		c.tryWrite(c.encode(publishPacket("pidicon/demo/frame", bytes.Repeat([]byte("x"), MaxPacket), 0, false, 0)))
		if !c.closedByPeer() {
			t.Fatalf("%s still connected after a packet over %d bytes", id, MaxPacket)
		}
	}
	mqtttest.WaitUntil(t, 5*time.Second, "3 packets over the limit counted", func() bool { return b.Stats().PacketsTooLarge == 3 })
	evs := got.list()
	if len(evs) == 0 || len(evs) > 2 {
		t.Fatalf("%d events, want 1 or 2: %+v", len(evs), evs)
	}
	if !strings.Contains(evs[0].Error, `"too-big-1"`) || !strings.Contains(evs[0].Error, ErrPacketTooLarge.Error()) {
		t.Errorf("event %+v does not name the client and the limit", evs[0])
	}
}

// TestBroker_Connack5AdvertisesMaximumPacketSize: an MQTT 5 CONNACK
// tells the client the largest packet the broker reads.
func TestBroker_Connack5AdvertisesMaximumPacketSize(t *testing.T) {
	b := start(t, Options{})
	_, ack := connectRaw(t, b.Addr(), 5, packets.ConnectParams{ClientIdentifier: "v5"})
	if ack.ReasonCode != 0 || ack.Properties.MaximumPacketSize != MaxPacket {
		t.Errorf("CONNACK reason %#x, maximum packet size %d, want 0 and %d", ack.ReasonCode, ack.Properties.MaximumPacketSize, MaxPacket)
	}
}

// TestBroker_EmptyWillAccepted: a will with an empty payload is allowed
// (mochi refused it, even to MQTT 3.1.1 clients, with an MQTT 5 code);
// it is published, empty, when the client goes.
func TestBroker_EmptyWillAccepted(t *testing.T) {
	b := start(t, Options{})
	watcher := mqtttest.Connect(t, b.URL())
	watcher.Subscribe("wills/#")
	for _, version := range []byte{4, 5} {
		topic := []string{4: "wills/v311", 5: "wills/v5"}[version]
		c, ack := connectRaw(t, b.Addr(), version, packets.ConnectParams{ClientIdentifier: topic, WillFlag: true, WillTopic: topic, WillQos: 1})
		if ack.ReasonCode != 0 {
			t.Errorf("MQTT %d: empty will refused: CONNACK %#x", version, ack.ReasonCode)
			continue
		}
		mark := watcher.Mark()
		c.conn.Close() // without DISCONNECT: the will is published
		if m, ok := watcher.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool { return m.Topic == topic }); !ok {
			t.Errorf("MQTT %d: the will was not published", version)
		} else if len(m.Payload) != 0 {
			t.Errorf("MQTT %d: the will's payload is %q, want empty", version, m.Payload)
		}
	}
}

// TestBroker_CloseDoesNotWaitForClients: Close returns at once with
// connections that never logged in, one in the middle of its CONNECT, and
// a logged-in client that does not read (mochi waited for all of them).
func TestBroker_CloseDoesNotWaitForClients(t *testing.T) {
	b, err := Start(Options{Listen: "127.0.0.1:0", BaseTopic: "pidicon"})
	if err != nil {
		t.Fatal(err)
	}
	dialRaw(t, b.Addr(), 4)
	partial := dialRaw(t, b.Addr(), 4)
	partial.write(partial.encode(partial.connectPacket(packets.ConnectParams{ClientIdentifier: "p"}))[:5])
	connectRaw(t, b.Addr(), 5, packets.ConnectParams{ClientIdentifier: "quiet"})
	mqtttest.WaitUntil(t, 5*time.Second, "two connections pending", func() bool { return b.Stats().Pending == 2 })
	done := make(chan struct{})
	began := time.Now()
	go func() {
		b.Close()
		close(done)
	}()
	select {
	case <-done:
		t.Logf("Close took %v", time.Since(began))
	case <-time.After(3 * time.Second):
		t.Fatal("Close still waits after 3s")
	}
}

// TestBroker_DaemonMayPublishLargerPackets: the daemon's own login may
// publish more than MaxPacket (bridge/info of ten thousand displays is
// over a megabyte; the broker cut the daemon off and it reconnected in a
// loop), while another client sending as much is disconnected.
func TestBroker_DaemonMayPublishLargerPackets(t *testing.T) {
	b := start(t, Options{DaemonClientID: daemonID})
	watcher := mqtttest.Connect(t, b.URL())
	watcher.Subscribe("pidicon/bridge/info")
	user, pass := b.DaemonLogin()
	daemon, err := mqtttest.TryConnect(t, b.URL(), mqtttest.Login{ClientID: daemonID, Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 2*MaxPacket)
	daemon.Publish("pidicon/bridge/info", big, true)
	watcher.WaitFor(10*time.Second, "the daemon's large bridge/info", func(m mqtttest.Msg) bool { return len(m.Payload) == len(big) })
	if s := b.Stats(); s.PacketsTooLarge != 0 {
		t.Errorf("%d packets counted too large", s.PacketsTooLarge)
	}
	other, _ := connectRaw(t, b.Addr(), 4, packets.ConnectParams{ClientIdentifier: "other"})
	other.tryWrite(other.encode(publishPacket("elsewhere/x", []byte(big), 0, false, 0)))
	if !other.closedByPeer() {
		t.Fatal("another client sent more than MaxPacket and is still connected")
	}
}

// TestPacketLimit_SplitReads: the limit follows packets however the
// stream is cut into reads, and refuses the first one over it.
func TestPacketLimit_SplitReads(t *testing.T) {
	var stream []byte
	sizes := []int{0, 1, 127, 128, 16383, 16384, 100, 2097151, 5}
	for _, n := range sizes {
		stream = append(stream, 0x30) // PUBLISH
		l := n
		for {
			c := byte(l & 0x7f)
			l >>= 7
			if l > 0 {
				c |= 0x80
			}
			stream = append(stream, c)
			if l == 0 {
				break
			}
		}
		stream = append(stream, make([]byte, n)...)
	}
	for _, max := range []int{2097152, 16384} {
		for _, chunk := range []int{1, 2, 3, 7, 4096, len(stream)} {
			l := packetLimit{max: max}
			var err error
			for i := 0; i < len(stream) && err == nil; i += chunk {
				err = l.scan(stream[i:min(i+chunk, len(stream))])
			}
			wantErr := max < 2097152
			if (err != nil) != wantErr || (err != nil && !errors.Is(err, packets.ErrPacketTooLarge)) {
				t.Errorf("max %d, reads of %d: %v, want an error: %v", max, chunk, err, wantErr)
			}
		}
	}
}
