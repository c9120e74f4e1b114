package broker

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
)

// TestBroker_RetainedMessagesDoNotExpire publishes a retained message to the
// embedded broker and checks that it is kept without an expiry: mochi's
// default would delete it a day later.
func TestBroker_RetainedMessagesDoNotExpire(t *testing.T) {
	b, err := Start(Options{Listen: "127.0.0.1:0", BaseTopic: "pidicon"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("expiry-test"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	if tok := c.Publish("pidicon/demo/state", 1, true, `{"brightness":1}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	msg, _, ok := b.retained.get("pidicon/demo/state", time.Now().AddDate(10, 0, 0))
	if !ok {
		t.Fatal("no retained message ten years on")
	}
	if msg.expiry != 0 {
		t.Errorf("the retained message expires at %v", time.Unix(msg.expiry, 0))
	}
}

// TestRetainedMessage_ExpiresAsItsPublisherSaid: an MQTT 5 message expiry
// on a retained message holds: it is gone for new subscribers after it.
func TestRetainedMessage_ExpiresAsItsPublisherSaid(t *testing.T) {
	var x retainedIndex
	now := time.Now()
	x.store("a", newRetainedMessage(packets.Packet{Payload: []byte("1"), Properties: packets.Properties{MessageExpiryInterval: 10}}, now))
	if _, _, ok := x.get("a", now.Add(5*time.Second)); !ok {
		t.Fatal("gone before its expiry")
	}
	if _, _, ok := x.get("a", now.Add(11*time.Second)); ok {
		t.Fatal("still there after its expiry")
	}
}

// TestListeners_CloseClientsWithoutMochisCloseFn: mochi's way to close a
// listener's clients (Server.closeListenerClients, through
// Clients.GetByListener) takes the clients' read lock twice, and a client
// leaving at that moment deadlocks it (mochi issue 488; seen here as a
// Close that never returned). The listeners ignore it and close their
// clients through Broker.disconnectClients, which still sends an MQTT 5
// client its DISCONNECT.
func TestListeners_CloseClientsWithoutMochisCloseFn(t *testing.T) {
	b, err := Start(Options{Listen: "127.0.0.1:0", BaseTopic: "pidicon", WebSocket: ListenerOptions{Listen: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, connack := connectRaw(t, b.Addr(), 5, packets.ConnectParams{ClientIdentifier: "closing", Clean: true})
	if connack.ReasonCode != 0 {
		t.Fatalf("CONNACK reason %#x", connack.ReasonCode)
	}
	mochis := func(string) { t.Error("the listener called mochi's CloseFn, which can deadlock") }
	b.tcp.Close(mochis)
	b.ws.Close(mochis)
	pk, err := c.read()
	if err != nil {
		t.Fatalf("no DISCONNECT before the connection closed: %v", err)
	}
	if pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != packets.ErrServerShuttingDown.Code {
		t.Errorf("got packet type %d reason %#x, want a DISCONNECT, server shutting down", pk.FixedHeader.Type, pk.ReasonCode)
	}
}
