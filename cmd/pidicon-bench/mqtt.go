package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// errNoAck is returned when the broker does not answer in time.
var errNoAck = errors.New("no answer from the broker in time")

// client is one MQTT connection of the load tool: clean session, QoS 1, no
// reconnect (a lost connection fails the run rather than skewing it).
type client struct {
	c       mqtt.Client
	timeout time.Duration
}

// dial connects a client named role to url. onMsg gets every message of
// its subscriptions on paho's goroutine, in order, and must return fast.
func dial(ctx context.Context, url, role string, timeout time.Duration, onMsg func(mqtt.Message)) (*client, error) {
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID("pidicon-bench-" + role + "-" + randomHex(4)).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectTimeout(timeout).
		SetKeepAlive(60 * time.Second).
		SetWriteTimeout(timeout)
	if onMsg != nil {
		opts.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { onMsg(m) })
	}
	c := &client{c: mqtt.NewClient(opts), timeout: timeout}
	if err := c.wait(ctx, c.c.Connect()); err != nil {
		return nil, fmt.Errorf("connect %s to %s: %w", role, url, err)
	}
	return c, nil
}

// wait waits for tok, at most the client's timeout or until ctx is done.
func (c *client) wait(ctx context.Context, tok mqtt.Token) error {
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-timer.C:
		return errNoAck
	case <-ctx.Done():
		return ctx.Err()
	}
}

// subscribe subscribes at the given QoS and checks the broker's answer for
// each filter. It asks again for refused filters a few times: mochi refuses
// a SUBSCRIBE whose packet id is that of one of its own deliveries still
// unacknowledged, which happens while retained messages pour in.
func (c *client) subscribe(ctx context.Context, filters map[string]byte) error {
	pending := maps.Clone(filters)
	for attempt := 0; attempt < 10 && len(pending) > 0; attempt++ {
		tok := c.c.SubscribeMultiple(pending, nil)
		if err := c.wait(ctx, tok); err != nil {
			return fmt.Errorf("subscribe %v: %w", slices.Sorted(maps.Keys(pending)), err)
		}
		for f, code := range tok.(*mqtt.SubscribeToken).Result() {
			if code <= 2 {
				delete(pending, f)
			}
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("subscribe %v: refused by the broker", slices.Sorted(maps.Keys(pending)))
	}
	return nil
}

// publish publishes at QoS 1 and waits for the acknowledgement.
func (c *client) publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	if err := c.wait(ctx, c.c.Publish(topic, 1, retain, payload)); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// send publishes at QoS 1 without waiting; a lost message shows up as a
// missing answer.
func (c *client) send(topic string, payload []byte, retain bool) {
	c.c.Publish(topic, 1, retain, payload)
}

// close disconnects, letting in-flight acknowledgements finish briefly.
func (c *client) close() { c.c.Disconnect(100) }

// publishAll publishes every message (QoS 1) with at most window
// unacknowledged, and returns the first error.
func (c *client) publishAll(ctx context.Context, window int, topics []string, payload []byte, retain bool) error {
	inFlight := make([]mqtt.Token, 0, window)
	for _, t := range topics {
		if len(inFlight) == window {
			if err := c.wait(ctx, inFlight[0]); err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			inFlight = inFlight[1:]
		}
		inFlight = append(inFlight, c.c.Publish(t, 1, retain, payload))
	}
	for _, tok := range inFlight {
		if err := c.wait(ctx, tok); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
