package bridge_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
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

// TestBridge_ReadyOnlyOnceEverythingIsPublished: the bridge says it is
// ready only once it has published everything it keeps retained, so that
// a page opened at that moment gets the full state in its snapshot
// (View). The proxy refuses the bridge until the watch is in place.
func TestBridge_ReadyOnlyOnceEverythingIsPublished(t *testing.T) {
	b := embedded(t, nil)
	proxy := mqtttest.StartProxy(t, b.URL())
	proxy.Cut()
	d := startDaemonNoWait(t, proxy.URL(), []string{"demo", "desk"}, nil)
	want := []string{base + "/bridge/info", base + "/bridge/state", topic("demo", "state"), topic("desk", "state")}
	var mu sync.Mutex
	late := make(map[string]bool) // first published after the bridge was ready
	stop := d.bridge.Watch(func(u bridge.Update) {
		mu.Lock()
		defer mu.Unlock()
		if _, seen := late[u.Topic]; seen || !slices.Contains(want, u.Topic) {
			return
		}
		select {
		case <-d.bridge.Restored():
			late[u.Topic] = true
		default:
			late[u.Topic] = false
		}
	})
	defer stop()
	proxy.Resume()
	select {
	case <-d.bridge.Restored():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready within 10s")
	}
	view := make(map[string]bool)
	for _, u := range d.bridge.View() {
		view[u.Topic] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for _, tp := range want {
		if !view[tp] {
			t.Errorf("ready, and %s is not in the view", tp)
		}
		if late[tp] {
			t.Errorf("%s was first published after the bridge said it was ready", tp)
		}
	}
}
