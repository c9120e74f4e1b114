package bridge_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/mock"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/state"
)

// mockDevices replaces every device by an in-memory display, so that many
// devices cost no HTTP servers.
func mockDevices(o *bridge.Options) {
	for i := range o.Devices {
		d := &o.Devices[i]
		d.Kind = mock.Kind()
		d.Controller = device.NewController(device.Options{
			ID: d.ID, Name: d.Name, Driver: mock.New(scene.Size{W: 64, H: 64}), Scenes: scene.Builtin(),
		})
	}
}

// TestBridge_RepublishPacedForDefaultMosquitto starts a daemon with many
// devices on a mosquitto with its default settings, under a QoS 1
// subscriber of everything that was there first. mosquitto queues at most
// 1,000 messages for a subscriber and delivers only 20 at a time, each
// round trip slowed by Nagle's algorithm: a daemon that published its
// thousands of retained topics in one burst would make it drop most of
// them. The subscriber must get every one.
func TestBridge_RepublishPacedForDefaultMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("pacing test: thousands of messages through a default mosquitto")
	}
	const n = 300
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	sub := mqtttest.Connect(t, url)
	sub.Subscribe(base + "/#")
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("m%03d", i))
	}
	startDaemon(t, url, ids, nil, mockDevices)
	want := n * (len(state.Fields()) + 2) // the fields, state, availability
	mqtttest.WaitUntil(t, 60*time.Second, fmt.Sprintf("the subscriber gets all %d state topics", want), func() bool {
		return countDeviceTopics(sub) >= want
	})
}

// countDeviceTopics counts the distinct field, state and availability
// topics received.
func countDeviceTopics(c *mqtttest.Client) int {
	seen := map[string]bool{}
	for _, m := range c.Since(0) {
		parts := strings.Split(m.Topic, "/")
		if len(parts) != 3 || parts[1] == "bridge" {
			continue
		}
		switch parts[2] {
		case "metrics", "frame":
			continue
		}
		seen[m.Topic] = true
	}
	return len(seen)
}
