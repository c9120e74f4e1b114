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
		timer := time.NewTimer(timeout)
		select {
		case <-tok.Done():
			timer.Stop()
		case <-timer.C:
			return fmt.Errorf("subscribe %v: no answer within %s", slices.Sorted(maps.Keys(pending)), timeout)
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
		if err := tok.Error(); err != nil {
			return fmt.Errorf("subscribe: %w", err)
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
