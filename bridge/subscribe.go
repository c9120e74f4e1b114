package bridge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// subscribeAttempts bounds the tries of one subscription.
const subscribeAttempts = 5

// errSubscribeRefused means the broker answered a filter with a failure
// code (0x80).
var errSubscribeRefused = errors.New("subscription refused by the broker")

// subscribe subscribes to filters (filter -> QoS) and checks the broker's
// answer per filter, trying again the ones it refused. A broker can refuse
// a filter for a passing reason: mochi-mqtt refuses a SUBSCRIBE whose
// packet id equals one of its own unacknowledged deliveries to us (it keeps
// both directions' ids in one table), which happens when retained messages
// are still arriving.
func subscribe(ctx context.Context, c mqtt.Client, filters map[string]byte, timeout time.Duration) error {
	pending := maps.Clone(filters)
	for attempt := 1; ; attempt++ {
		tok := c.SubscribeMultiple(pending, nil)
		if err := await(ctx, tok, timeout); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("subscribe %v: %w", slices.Sorted(maps.Keys(pending)), err)
		}
		for f, code := range tok.(*mqtt.SubscribeToken).Result() {
			if code <= 2 {
				delete(pending, f)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if attempt == subscribeAttempts {
			return fmt.Errorf("%w: %v", errSubscribeRefused, slices.Sorted(maps.Keys(pending)))
		}
		select {
		case <-time.After(time.Duration(attempt) * 20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Packets of many filters: a broker answers one SUBSCRIBE of 100 filters
// about as fast as one of a single filter, so 10,000 devices cost 100
// round trips, not 10,000. A few packets wait for their answer at a time,
// so a broker that is slow per filter (RabbitMQ 3.10 takes milliseconds
// for each) never holds a long queue of them, and still answers our
// keepalive pings in time.
const (
	filtersPerPacket = 100
	packetsInFlight  = 4
)

// subscribeAll subscribes to filters at qos in packets of filtersPerPacket,
// at most packetsInFlight unanswered. Filters the broker refused are tried
// again as subscribe does. timeout bounds the wait for each answer.
func subscribeAll(ctx context.Context, c mqtt.Client, filters []string, qos byte, timeout time.Duration) error {
	refused := make(map[string]byte)
	check := func(tok mqtt.Token) error {
		if err := await(ctx, tok, timeout); err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		for f, code := range tok.(*mqtt.SubscribeToken).Result() {
			if code > 2 {
				refused[f] = qos
			}
		}
		return nil
	}
	var window []mqtt.Token
	for batch := range slices.Chunk(filters, filtersPerPacket) {
		if len(window) == packetsInFlight {
			if err := check(window[0]); err != nil {
				return err
			}
			window = window[1:]
		}
		subs := make(map[string]byte, len(batch))
		for _, f := range batch {
			subs[f] = qos
		}
		window = append(window, c.SubscribeMultiple(subs, nil))
	}
	for _, tok := range window {
		if err := check(tok); err != nil {
			return err
		}
	}
	if len(refused) == 0 {
		return nil
	}
	return subscribe(ctx, c, refused, timeout)
}

// await waits for tok, up to timeout, and returns its error.
func await(ctx context.Context, tok mqtt.Token, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-timer.C:
		return fmt.Errorf("no answer within %s", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}
