package bridge_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
)

// TestBridge_ReadyOnlyOnceCommandsAreSubscribed: the bridge says it is
// ready (healthz, the web page) only once the broker has acknowledged its
// subscription to the command topics, so that a client that waits for it
// and then sends a command does not lose it. The proxy holds the
// subscription: the bridge must not be ready while it is held.
func TestBridge_ReadyOnlyOnceCommandsAreSubscribed(t *testing.T) {
	b := embedded(t, nil)
	proxy := mqtttest.StartProxy(t, b.URL())
	isCommands := func(pk mqtttest.Packet) bool {
		return pk.Type == mqtttest.TypeSubscribe && slices.ContainsFunc(pk.Filters, func(f string) bool { return strings.HasSuffix(f, "/set") })
	}
	proxy.Hold(isCommands)
	d := startDaemonNoWait(t, proxy.URL(), []string{"demo"}, nil)
	mqtttest.WaitUntil(t, 10*time.Second, "the bridge subscribes to the commands", func() bool {
		for _, pk := range proxy.Sent() {
			if isCommands(pk) {
				return true
			}
		}
		return false
	})
	if err := d.bridge.Ready(); err == nil {
		t.Fatal("ready while the subscription to the commands is not acknowledged")
	}
}
