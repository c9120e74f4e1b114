package broker

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
)

// lateTopics is more retained topics than mochi hands a new subscription
// on its own (it drops past 8,192 unacknowledged or queued messages).
const lateTopics = 12000

// startFeedBroker starts a broker holding n retained messages,
// pidicon/d<i>/brightness = i, published by a client at QoS 1 as the
// daemon publishes its state. It returns once mochi has delivered them
// live too (it acknowledges a publish before it delivers it: a subscriber
// that comes just after could still get the last one live).
func startFeedBroker(t *testing.T, n int) *Broker {
	t.Helper()
	b, err := Start(Options{Listen: "127.0.0.1:0", BaseTopic: "pidicon"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	delivered := make(chan struct{})
	var once sync.Once
	canary := connectPaho(t, b, "canary")
	canary.Subscribe(feedTopic(n-1), 0, func(mqtt.Client, mqtt.Message) { once.Do(func() { close(delivered) }) }).WaitTimeout(5 * time.Second)
	pub := connectPaho(t, b, "publisher")
	var last mqtt.Token
	for i := range n {
		last = pub.Publish(feedTopic(i), 1, true, strconv.Itoa(i))
	}
	if last != nil && (!last.WaitTimeout(10*time.Second) || last.Error() != nil) {
		t.Fatalf("publish: %v", last.Error())
	}
	mqtttest.WaitUntil(t, 30*time.Second, fmt.Sprintf("%d retained messages on the broker", n), func() bool {
		return b.retained.len() == n
	})
	if n > 0 {
		select {
		case <-delivered: // and so every one before it: one publisher's messages go in order
		case <-time.After(10 * time.Second):
			t.Fatal("the last message was not delivered live")
		}
	}
	canary.Unsubscribe(feedTopic(n - 1)).WaitTimeout(5 * time.Second)
	return b
}

func feedTopic(i int) string { return fmt.Sprintf("pidicon/d%d/brightness", i) }

func connectPaho(t *testing.T, b *Broker, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(id).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// retainedSeen collects what a subscriber gets: the last payload of each
// topic, and the messages with the retain flag. (A publisher's last
// messages may reach a new subscriber live, without the flag: mochi
// acknowledges a publish before it delivers it.)
type retainedSeen struct {
	mu       sync.Mutex
	last     map[string]string
	retained map[string]int // retained messages by topic
	count    int            // every message
	trace    []string
}

func (s *retainedSeen) handler(_ mqtt.Client, m mqtt.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last, s.retained = make(map[string]string), make(map[string]int)
	}
	s.last[m.Topic()] = string(m.Payload())
	s.count++
	if m.Retained() {
		s.retained[m.Topic()]++
	}
}

// topics is the number of topics that came with the retain flag.
func (s *retainedSeen) topics() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.retained)
}

// TestBroker_LateSubscriberGetsEveryRetainedMessage: a subscriber to
// pidicon/# that connects after 12,000 retained messages were published
// gets every one of them, once, with its payload and the retain flag, at
// QoS 1 and at QoS 0. mochi alone handed it 8,192 and dropped the rest.
func TestBroker_LateSubscriberGetsEveryRetainedMessage(t *testing.T) {
	b := startFeedBroker(t, lateTopics)
	for _, qos := range []byte{1, 0} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			var seen retainedSeen
			sub := connectPaho(t, b, fmt.Sprintf("late-%d", qos))
			if tok := sub.Subscribe("pidicon/#", qos, seen.handler); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			mqtttest.WaitUntil(t, 60*time.Second, "every retained topic", func() bool { return seen.topics() == lateTopics })
			seen.mu.Lock()
			defer seen.mu.Unlock()
			for i := range lateTopics {
				if got := seen.last[feedTopic(i)]; got != strconv.Itoa(i) {
					t.Fatalf("%s = %q, want %d", feedTopic(i), got, i)
				}
				if n := seen.retained[feedTopic(i)]; n != 1 {
					t.Fatalf("%s came %d times with the retain flag, want once", feedTopic(i), n)
				}
			}
		})
	}
}

// TestBroker_LateSubscriberThatDoesNotAcknowledgeHoldsAWindow: a client
// that subscribes at QoS 1 to 12,000 retained messages and acknowledges
// none of them gets feedWindow, not thousands, and the broker holds no
// more for it; each acknowledgement lets one more through. mochi put
// 8,192 of them in flight at once.
func TestBroker_LateSubscriberThatDoesNotAcknowledgeHoldsAWindow(t *testing.T) {
	b := startFeedBroker(t, lateTopics)
	c, _ := connectRaw(t, b.Addr(), 4, packets.ConnectParams{ClientIdentifier: "silent"})
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "pidicon/#", Qos: 1}}})
	c.readType(packets.Suback)
	var ids []uint16
	for len(ids) < feedWindow {
		pk := c.readType(packets.Publish)
		ids = append(ids, pk.PacketID)
	}
	cl, ok := b.server.Clients.Get("silent")
	if !ok {
		t.Fatal("client not on the broker")
	}
	inflight := func() int { return cl.State.Inflight.Len() }
	if n := inflight(); n != feedWindow {
		t.Fatalf("%d messages in flight after %d were read, want %d", n, len(ids), feedWindow)
	}
	for _, id := range ids[:10] {
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id})
	}
	for range 10 {
		c.readType(packets.Publish)
	}
	if n := inflight(); n > feedWindow {
		t.Fatalf("%d messages in flight, want at most %d", n, feedWindow)
	}
}

// TestBroker_RetainedMessageChangedWhileFedIsNotLeftStale: a retained
// message that changes, or is deleted, after the feed read it and before
// it sent it is not left stale at the subscriber: the change comes after
// the feed's message (live messages wait for the feed), and the feed
// sends the topic again when it sees the change.
func TestBroker_RetainedMessageChangedWhileFedIsNotLeftStale(t *testing.T) {
	for _, tc := range []struct {
		name, change string
	}{
		{"changed", "new"},
		{"deleted", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startFeedBroker(t, 1)
			topic := feedTopic(0)
			var seen retainedSeen
			sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("late").SetAutoReconnect(false).
				SetDefaultPublishHandler(func(c mqtt.Client, m mqtt.Message) {
					seen.handler(c, m)
					seen.mu.Lock()
					seen.trace = append(seen.trace, fmt.Sprintf("%q retained=%v", m.Payload(), m.Retained()))
					seen.mu.Unlock()
				}))
			if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			defer sub.Disconnect(0)
			pub := connectPaho(t, b, "changer")
			var first sync.Once
			hook := func(string) {
				first.Do(func() {
					if tok := pub.Publish(topic, 1, true, tc.change); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
						t.Errorf("publish the change: %v", tok.Error())
					}
				})
			}
			b.afterFeedRead.Store(&hook)
			if tok := sub.Subscribe("pidicon/#", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			defer func() {
				if t.Failed() {
					seen.mu.Lock()
					t.Logf("messages: %v", seen.trace)
					seen.mu.Unlock()
				}
			}()
			mqtttest.WaitUntil(t, 10*time.Second, "the old value, then the change", func() bool {
				seen.mu.Lock()
				defer seen.mu.Unlock()
				return len(seen.trace) >= 2 && seen.last[topic] == tc.change
			})
			seen.mu.Lock()
			defer seen.mu.Unlock()
			if got := seen.trace[0]; got != `"0" retained=true` {
				t.Errorf("first message %s, want the old value from the feed", got)
			}
		})
	}
}

// TestBroker_MessagesAfterASubscribeComeAfterItsRetained: a client that
// subscribes and then publishes a message to itself gets it after every
// retained message of the subscription, as the daemon's restore expects
// (it takes its sync message as the end of the retained state; with the
// feed sending on its own, the sync message overtook it).
func TestBroker_MessagesAfterASubscribeComeAfterItsRetained(t *testing.T) {
	b := startFeedBroker(t, lateTopics)
	var mu sync.Mutex
	retained, atSync := 0, -1
	synced := make(chan struct{})
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("restorer").SetAutoReconnect(false).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case m.Topic() == "sync/restorer" && atSync < 0:
				atSync = retained
				close(synced)
			case m.Retained():
				retained++
			}
		}))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(0)
	if tok := c.SubscribeMultiple(map[string]byte{"pidicon/#": 0, "sync/restorer": 0}, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c.Publish("sync/restorer", 0, false, "end")
	select {
	case <-synced:
	case <-time.After(30 * time.Second):
		t.Fatal("no sync message")
	}
	mu.Lock()
	defer mu.Unlock()
	if atSync != lateTopics {
		t.Fatalf("the sync message came after %d of %d retained messages", atSync, lateTopics)
	}
}

// TestBroker_RetainHandlingAndSubscriptionIdentifier: MQTT 5 retain
// handling is kept (0: on every subscribe; 1: only for a new
// subscription; 2: never), and a retained message carries the
// subscription's identifier.
func TestBroker_RetainHandlingAndSubscriptionIdentifier(t *testing.T) {
	b := startFeedBroker(t, 3)
	marker := connectPaho(t, b, "marker")
	if tok := marker.Publish("marker/x", 1, true, "m"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c, _ := connectRaw(t, b.Addr(), 5, packets.ConnectParams{ClientIdentifier: "v5"})
	id := uint16(0)
	send := func(filter string, handling byte, identifier int) {
		id++
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: id,
			Properties: packets.Properties{SubscriptionIdentifier: []int{identifier}},
			Filters:    packets.Subscriptions{{Filter: filter, Qos: 0, RetainHandling: handling, Identifier: identifier}}})
	}
	// subscribe counts the retained messages of a subscription: those that
	// come before the marker's, which a later subscription brings (a
	// client's retained messages are sent one subscription after the
	// other).
	subscribe := func(handling byte, identifier int) int {
		t.Helper()
		send("pidicon/+/brightness", handling, identifier)
		send("marker/#", 0, 99)
		n := 0
		for {
			pk, err := c.read()
			if err != nil {
				t.Fatal(err)
			}
			if pk.FixedHeader.Type != packets.Publish {
				continue
			}
			if !pk.FixedHeader.Retain {
				continue // the publisher's last message, delivered live after its PUBACK
			}
			if pk.TopicName == "marker/x" {
				return n
			}
			if len(pk.Properties.SubscriptionIdentifier) != 1 || pk.Properties.SubscriptionIdentifier[0] != identifier {
				t.Fatalf("retained publish %s with identifiers %v, want %d", pk.TopicName, pk.Properties.SubscriptionIdentifier, identifier)
			}
			n++
		}
	}
	for _, step := range []struct {
		handling byte
		want     int
	}{{1, 3}, {1, 0}, {0, 3}, {2, 0}, {0, 3}} {
		if got := subscribe(step.handling, 7); got != step.want {
			t.Fatalf("retain handling %d: %d retained messages, want %d", step.handling, got, step.want)
		}
	}
}

// TestBroker_SysTopicsStillRetained: a subscription to a $SYS topic is
// answered with its retained message (mochi's own path).
func TestBroker_SysTopicsStillRetained(t *testing.T) {
	b := startFeedBroker(t, 0)
	got := make(chan string, 1)
	sub := connectPaho(t, b, "sys")
	sub.Subscribe("$SYS/broker/version", 0, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- string(m.Payload()):
		default:
		}
	}).WaitTimeout(5 * time.Second)
	select {
	case v := <-got:
		if v == "" {
			t.Fatal("empty $SYS/broker/version")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no retained $SYS/broker/version")
	}
}

func TestMatchFilter(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/b", "$SYS/b", false},
		{"$SYS/#", "$SYS/x", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "ab", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a//c", true},
		{"a/b", "a/b", true},
		{"a/b", "a/b/", false},
		{"a/b", "a/bc", false},
		{"+", "a", true},
		{"+", "a/b", false},
		{"+/+", "/x", true},
		{"pidicon/#", "pidicon/d1/state", true},
		{"pidicon/+/state", "pidicon/d1/brightness", false},
	} {
		if got := matchFilter(tc.filter, tc.topic); got != tc.want {
			t.Errorf("matchFilter(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

// TestRetainedIndex_CursorSeesEveryTopicThatStays: topics added and
// deleted while a cursor walks the index do not hide one that stays.
func TestRetainedIndex_CursorSeesEveryTopicThatStays(t *testing.T) {
	var x retainedIndex
	const n = 3 * feedScan
	for i := range n {
		x.store(fmt.Sprintf("t/%d", i), &retainedMessage{})
	}
	seen := make(map[string]bool)
	var batch []retainedTopic
	cursor, done := 0, false
	for round := 0; !done; round++ {
		batch, cursor, done = x.next(batch[:0], "t/#", cursor)
		for _, tp := range batch {
			seen[tp.name] = true
		}
		// Churn: delete an odd topic, add a new one (it may reuse the slot).
		x.deleted(fmt.Sprintf("t/%d", 2*round+1))
		x.store(fmt.Sprintf("new/%d", round), &retainedMessage{})
	}
	for i := 0; i < n; i += 2 {
		if !seen[fmt.Sprintf("t/%d", i)] {
			t.Fatalf("t/%d was never seen", i)
		}
	}
}

// TestBroker_LiveRetainedPublishKeepsItsFlagWhereAsked: a retained
// publish reaches live subscribers without the retain flag, except an
// MQTT 5 subscription with retain as published.
func TestBroker_LiveRetainedPublishKeepsItsFlagWhereAsked(t *testing.T) {
	b := startFeedBroker(t, 0)
	subscriber := func(id string, version byte, rap bool) *rawClient {
		c, _ := connectRaw(t, b.Addr(), version, packets.ConnectParams{ClientIdentifier: id})
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: "live/#", Qos: 0, RetainAsPublished: rap}}})
		c.readType(packets.Suback)
		waitFeedIdle(t, b, id)
		return c
	}
	kept, plain5, plain3 := subscriber("kept", 5, true), subscriber("plain5", 5, false), subscriber("plain3", 4, false)
	pub := connectPaho(t, b, "publisher")
	if tok := pub.Publish("live/x", 1, true, "v"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	for _, tc := range []struct {
		c    *rawClient
		want bool
	}{{kept, true}, {plain5, false}, {plain3, false}} {
		if pk := tc.c.readType(packets.Publish); pk.FixedHeader.Retain != tc.want || string(pk.Payload) != "v" {
			t.Errorf("retain %v payload %q, want retain %v", pk.FixedHeader.Retain, pk.Payload, tc.want)
		}
	}
	// And it is retained for the next subscriber.
	late := subscriber("late", 4, false)
	if pk := late.readType(packets.Publish); !pk.FixedHeader.Retain || string(pk.Payload) != "v" {
		t.Errorf("late subscriber: retain %v payload %q", pk.FixedHeader.Retain, pk.Payload)
	}
}

// waitFeedIdle waits until the retained feed of client id has sent what it
// had (a message published before would also come from it, retained).
func waitFeedIdle(t *testing.T, b *Broker, id string) {
	t.Helper()
	mqtttest.WaitUntil(t, 5*time.Second, id+"'s retained feed idle", func() bool {
		cl, ok := b.server.Clients.Get(id)
		if !ok {
			return false
		}
		c := connOf(cl.Net.Conn)
		f := c.feed.Load()
		return f != nil && !f.busy.Load()
	})
}
