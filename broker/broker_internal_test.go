package broker

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
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
	msgs := b.server.Topics.Messages("pidicon/demo/state")
	if len(msgs) != 1 {
		t.Fatalf("%d retained messages, want 1", len(msgs))
	}
	if exp := msgs[0].Expiry; exp != 0 {
		t.Errorf("the retained message expires at %v", time.Unix(exp, 0))
	}
}
