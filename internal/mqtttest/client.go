package mqtttest

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pidicon/pidicon-mqtt/state"
)

// Msg is one message a Client received.
type Msg struct {
	Topic    string
	Payload  []byte
	Retained bool
	QoS      byte
}

// Text is the payload as a string.
func (m Msg) Text() string { return string(m.Payload) }

// JSON decodes the payload into a map, or returns nil.
func (m Msg) JSON() map[string]any {
	var v map[string]any
	if json.Unmarshal(m.Payload, &v) != nil {
		return nil
	}
	return v
}

// Client is a test's MQTT client. It records every message of its
// subscriptions in order.
type Client struct {
	t      testing.TB
	client mqtt.Client

	mu      sync.Mutex
	msgs    []Msg
	changed chan struct{} // closed and replaced on every message
}

// Connect connects a new client to url (clean session, random id) and
// disconnects it when the test ends.
func Connect(t testing.TB, url string) *Client {
	t.Helper()
	return ConnectWith(t, url, Login{})
}

// Login is how ConnectWith and TryConnect log in; the zero value is an
// anonymous client with a random id.
type Login struct {
	ClientID           string // empty: random
	Username, Password string
	// TLS is used for ssl:// and wss:// URLs.
	TLS *tls.Config
	// WillTopic, if set, gives the client a will with WillPayload, at QoS
	// 1, retained if WillRetain.
	WillTopic   string
	WillPayload string
	WillRetain  bool
}

// ConnectWith connects a new client to url with login (clean session) and
// disconnects it when the test ends.
func ConnectWith(t testing.TB, url string, login Login) *Client {
	t.Helper()
	c, err := TryConnect(t, url, login)
	if err != nil {
		t.Fatalf("connect test client to %s: %v", url, err)
	}
	return c
}

// TryConnect is ConnectWith that returns the broker's refusal instead of
// failing the test. It speaks MQTT 3.1.1 only (no fallback to 3.1).
func TryConnect(t testing.TB, url string, login Login) (*Client, error) {
	t.Helper()
	c := &Client{t: t, changed: make(chan struct{})}
	id := login.ClientID
	if id == "" {
		id = "test-" + randomHex(6)
	}
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetProtocolVersion(4).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			c.mu.Lock()
			c.msgs = append(c.msgs, Msg{Topic: m.Topic(), Payload: m.Payload(), Retained: m.Retained(), QoS: m.Qos()})
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
		})
	if login.Username != "" {
		opts.SetUsername(login.Username).SetPassword(login.Password)
	}
	if login.TLS != nil {
		opts.SetTLSConfig(login.TLS)
	}
	if login.WillTopic != "" {
		opts.SetWill(login.WillTopic, login.WillPayload, 1, login.WillRetain)
	}
	c.client = mqtt.NewClient(opts)
	tok := c.client.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect: no answer within 10s")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.client.Disconnect(50) })
	return c, nil
}

// Connected reports whether the client's connection is up.
func (c *Client) Connected() bool { return c.client.IsConnectionOpen() }

// probePrefix starts the topics of Subscribe's probes.
const probePrefix = "mqtttest-probe/"

// Subscribe subscribes at QoS 1 and returns once every retained message of
// the filters has arrived: it subscribes to a retained probe topic last, and
// brokers send retained messages filter by filter in order.
func (c *Client) Subscribe(filters ...string) {
	c.t.Helper()
	probe := probePrefix + randomHex(6)
	c.Publish(probe, "probe", true)
	subs := make(map[string]byte)
	for _, f := range filters {
		subs[f] = 1
	}
	c.subscribe(subs)
	// The probe goes in its own SUBSCRIBE after the first one's SUBACK:
	// map order is random within one SUBSCRIBE.
	c.subscribe(map[string]byte{probe: 1})
	c.WaitFor(10*time.Second, "the subscription's retained messages", func(m Msg) bool { return m.Topic == probe })
	c.Publish(probe, "", true)
	c.client.Unsubscribe(probe).WaitTimeout(5 * time.Second)
}

// subscribe subscribes and checks the broker's answer for each filter,
// trying again a few times: mochi-mqtt refuses a SUBSCRIBE whose packet id
// equals one of its own unacknowledged deliveries (one id table for both
// directions), which happens while retained messages arrive.
func (c *Client) subscribe(filters map[string]byte) {
	c.t.Helper()
	pending := make(map[string]byte)
	for f, q := range filters {
		pending[f] = q
	}
	for attempt := 0; attempt < 10 && len(pending) > 0; attempt++ {
		tok := c.client.SubscribeMultiple(pending, nil)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			c.t.Fatalf("subscribe %v: %v", pending, tok.Error())
		}
		for f, code := range tok.(*mqtt.SubscribeToken).Result() {
			if code <= 2 {
				delete(pending, f)
			}
		}
	}
	if len(pending) > 0 {
		c.t.Fatalf("subscribe %v: refused by the broker", pending)
	}
}

// Publish publishes at QoS 1 and waits for the acknowledgement.
func (c *Client) Publish(topic, payload string, retain bool) {
	c.t.Helper()
	c.PublishBytes(topic, []byte(payload), retain)
}

// PublishBytes publishes a raw payload at QoS 1 and waits for the
// acknowledgement.
func (c *Client) PublishBytes(topic string, payload []byte, retain bool) {
	c.t.Helper()
	tok := c.client.Publish(topic, 1, retain, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		c.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// PublishQoS0 publishes at QoS 0 and waits until the message is written.
func (c *Client) PublishQoS0(topic, payload string, retain bool) {
	c.t.Helper()
	tok := c.client.Publish(topic, 0, retain, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		c.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// TryPublish publishes a non-retained message at QoS 1, waits for the
// acknowledgement and returns the error instead of failing the test (for
// goroutines other than the test's).
func (c *Client) TryPublish(topic, payload string) error {
	tok := c.client.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10 * time.Second) {
		return errors.New("publish: no acknowledgement within 10s")
	}
	return tok.Error()
}

// Mark is a position in the received messages, for Since and WaitFor.
func (c *Client) Mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// Since returns the messages received after mark.
func (c *Client) Since(mark int) []Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Msg(nil), c.msgs[mark:]...)
}

// Last returns the last message on topic.
func (c *Client) Last(topic string) (Msg, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.msgs) - 1; i >= 0; i-- {
		if c.msgs[i].Topic == topic {
			return c.msgs[i], true
		}
	}
	return Msg{}, false
}

// Current maps each topic to its last message.
func (c *Client) Current() map[string]Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Msg)
	for _, m := range c.msgs {
		out[m.Topic] = m
	}
	return out
}

// WaitFor waits for a message (received at any time) that matches, and
// fails the test after timeout.
func (c *Client) WaitFor(timeout time.Duration, what string, match func(Msg) bool) Msg {
	c.t.Helper()
	m, ok := c.WaitSince(0, timeout, match)
	if !ok {
		c.t.Fatalf("no message within %s: %s", timeout, what)
	}
	return m
}

// WaitSince waits for a message received after mark that matches.
func (c *Client) WaitSince(mark int, timeout time.Duration, match func(Msg) bool) (Msg, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	i := mark
	for {
		c.mu.Lock()
		msgs, changed := c.msgs, c.changed
		c.mu.Unlock()
		for ; i < len(msgs); i++ {
			if match(msgs[i]) {
				return msgs[i], true
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			return Msg{}, false
		}
	}
}

// Retained returns every retained message under filters right now, from a
// fresh subscription.
func Retained(t testing.TB, url string, filters ...string) map[string]Msg {
	t.Helper()
	return RetainedWith(t, url, Login{}, filters...)
}

// RetainedWith is Retained for a client that logs in with login.
func RetainedWith(t testing.TB, url string, login Login, filters ...string) map[string]Msg {
	t.Helper()
	c := ConnectWith(t, url, login)
	c.Subscribe(filters...)
	out := make(map[string]Msg)
	for _, m := range c.Since(0) {
		if m.Retained && len(m.Payload) > 0 && !strings.HasPrefix(m.Topic, probePrefix) {
			out[m.Topic] = m
		}
	}
	c.client.Disconnect(50)
	return out
}

// WaitUntil polls cond until it holds, and fails the test after timeout.
func WaitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		<-tick.C
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// WaitState waits up to timeout for a state message of device id under
// base whose state satisfies ok, and returns that state.
func (c *Client) WaitState(timeout time.Duration, base, id string, ok func(state.State) bool) state.State {
	c.t.Helper()
	var st state.State
	c.WaitFor(timeout, id+" state", func(m Msg) bool {
		if m.Topic != base+"/"+id+"/state" {
			return false
		}
		s, err := state.ParseStateJSON(m.Payload)
		if err == nil && ok(s) {
			st = s
			return true
		}
		return false
	})
	return st
}

// WaitAccepting waits up to timeout until something accepts TCP
// connections at url (tcp://host:port, or host:port).
func WaitAccepting(t testing.TB, timeout time.Duration, url string) {
	t.Helper()
	addr := strings.TrimPrefix(url, "tcp://")
	WaitUntil(t, timeout, addr+" accepts connections", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}
