package broker

import (
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestBroker_RetainedPublishAndWildcardSubscribeConcurrently publishes and
// clears retained messages from several clients while others subscribe
// with wildcards, many times over, all at once. mochi's retained index was
// written by a publish while a subscription scanned it; run with -race,
// the race detector fails this test on such a race.
func TestBroker_RetainedPublishAndWildcardSubscribeConcurrently(t *testing.T) {
	b, err := Start(Options{Listen: "127.0.0.1:0", BaseTopic: "pidicon"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	connect := func(id string) mqtt.Client {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(id).SetAutoReconnect(false))
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("connect %s: %v", id, tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(0) })
		return c
	}
	const publishers, subscribers, rounds = 4, 4, 150
	var wg sync.WaitGroup
	for p := range publishers {
		c := connect(fmt.Sprintf("publisher-%d", p))
		wg.Go(func() {
			for i := range rounds {
				topic := fmt.Sprintf("stress/%d/%d/x", p, i%7)
				payload := "v"
				if i%3 == 2 {
					payload = "" // clears the retained message and trims the index
				}
				c.Publish(topic, 1, true, payload).WaitTimeout(5 * time.Second)
			}
		})
	}
	for s := range subscribers {
		c := connect(fmt.Sprintf("subscriber-%d", s))
		filters := []string{"stress/#", "stress/+/+/x", "stress/+/#", "#"}
		wg.Go(func() {
			for i := range rounds {
				f := filters[(s+i)%len(filters)]
				c.Subscribe(f, 0, func(mqtt.Client, mqtt.Message) {}).WaitTimeout(5 * time.Second)
				c.Unsubscribe(f).WaitTimeout(5 * time.Second)
			}
		})
	}
	wg.Wait()
}
