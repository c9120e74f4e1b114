package bridge_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

// TestBridge_LongTopicEchoedShort: a command to an unknown device named by
// a 60 KB topic is refused with one event and one log line, each of which
// repeats the topic cut to event.MaxTopic bytes with a marker (it was
// repeated in full three times in the event and twice in the log).
func TestBridge_LongTopicEchoedShort(t *testing.T) {
	forEachBroker(t, func(t *testing.T, url string, report *event.Log) {
		logs := new(testkit.Buffer)
		startDaemon(t, url, []string{"demo"}, report, func(o *bridge.Options) {
			o.Logger = slog.New(slog.NewTextHandler(logs, nil))
		})
		c := mqtttest.Connect(t, url)
		c.Subscribe(base + "/bridge/event")
		id := strings.Repeat("a", 60000)
		long := topic(id, "brightness/set")
		mark := c.Mark()
		c.Publish(long, "50", false)
		m, ok := c.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool {
			return m.Topic == base+"/bridge/event" && strings.Contains(m.Text(), "unknown device")
		})
		if !ok {
			t.Fatal("no event for the unknown device")
		}
		if len(m.Payload) > 2048 {
			t.Errorf("event of %d bytes for a %d-byte topic: %.400s…", len(m.Payload), len(long), m.Payload)
		}
		ev := m.JSON()
		if got, _ := ev["topic"].(string); !strings.HasPrefix(got, base+"/aaaa") || !strings.Contains(got, "bytes]") {
			t.Errorf("event topic %.400q: want its start and a marker", got)
		}
		mqtttest.WaitUntil(t, 5*time.Second, "the refusal in the log", func() bool {
			return strings.Contains(logs.String(), "command rejected")
		})
		for _, line := range strings.Split(logs.String(), "\n") {
			if len(line) > 2048 {
				t.Errorf("log line of %d bytes: %.400s…", len(line), line)
			}
		}
	})
}
