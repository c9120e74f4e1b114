package bridge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
)

// TestBridge_Watchdog takes a display down: once it has not answered for
// watchdog.after, each action is published exactly once on the broker,
// with its retain flag and QoS, and reported as a warning event naming
// the display and what was published; nothing more while it stays down;
// after it answered again, a new outage publishes them again.
func TestBridge_Watchdog(t *testing.T) {
	const after = 300 * time.Millisecond
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	actions := []bridge.Action{
		{Topic: "zigbee2mqtt/pixoo-plug/set", Payload: []byte(`{"state":"OFF"}`), QoS: 1},
		{Topic: "homeassistant-scripts/pixoo/power_cycle", Payload: []byte("run"), Retain: true, QoS: 0},
	}
	tune, dev := simulated(t, 0, bridge.Watchdog{After: after, Actions: actions})
	startDaemon(t, url, []string{"demo", "other"}, nil, tune)
	c := mqtttest.Connect(t, url)
	c.Subscribe("zigbee2mqtt/#", "homeassistant-scripts/#", base+"/#")

	isAction := func(m mqtttest.Msg) bool {
		return m.Topic == actions[0].Topic || m.Topic == actions[1].Topic
	}
	// published counts the actions on each topic since mark, and the
	// watchdog's events.
	published := func(mark int) (perTopic map[string]int, events []mqtttest.Msg) {
		perTopic = map[string]int{}
		for _, m := range c.Since(mark) {
			switch {
			case isAction(m):
				perTopic[m.Topic]++
			case m.Topic == base+"/bridge/event" && strings.Contains(m.Text(), "watchdog"):
				events = append(events, m)
			}
		}
		return perTopic, events
	}
	// outage takes the display down, waits for both actions and checks
	// that each comes once, and again not within several afters.
	outage := func(round string) {
		t.Helper()
		mark := c.Mark()
		// Before Down: a request cut by it fails, and the display is
		// reported offline, before Down returns.
		start := time.Now()
		if err := dev.server.Down(); err != nil {
			t.Fatal(err)
		}
		for _, a := range actions {
			if _, ok := c.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool { return m.Topic == a.Topic }); !ok {
				t.Fatalf("%s: %s was not published", round, a.Topic)
			}
		}
		if took := time.Since(start); took < after {
			t.Errorf("%s: actions published %v after the display went down, before watchdog.after (%v)", round, took, after)
		}
		// Still down: nothing more, however long (here: 4 x after).
		if m, ok := c.WaitSince(c.Mark(), 4*after, isAction); ok {
			t.Errorf("%s: published again during the same outage: %s %s", round, m.Topic, m.Text())
		}
		perTopic, events := published(mark)
		for _, a := range actions {
			if perTopic[a.Topic] != 1 {
				t.Errorf("%s: %s published %d times, want once", round, a.Topic, perTopic[a.Topic])
			}
		}
		for _, m := range c.Since(mark) {
			if !isAction(m) {
				continue
			}
			a := actions[0]
			if m.Topic == actions[1].Topic {
				a = actions[1]
			}
			if m.Text() != string(a.Payload) || m.QoS != a.QoS || m.Retained {
				t.Errorf("%s: %s got %q QoS %d retained %v, want %q QoS %d (live, so not flagged retained)",
					round, m.Topic, m.Text(), m.QoS, m.Retained, a.Payload, a.QoS)
			}
		}
		if len(events) != len(actions) {
			t.Errorf("%s: %d watchdog events, want %d", round, len(events), len(actions))
		}
		for _, ev := range events {
			js := ev.JSON()
			if js["level"] != "warning" || js["device"] != "demo" || !strings.Contains(js["error"].(string), "demo") {
				t.Errorf("%s: event %s, want a warning naming demo", round, ev.Text())
			}
			if js["topic"] != actions[0].Topic && js["topic"] != actions[1].Topic {
				t.Errorf("%s: event %s does not name the topic published", round, ev.Text())
			}
		}
	}

	outage("first outage")
	retained := mqtttest.Retained(t, url, "homeassistant-scripts/#", "zigbee2mqtt/#")
	if m, ok := retained[actions[1].Topic]; !ok || m.Text() != "run" {
		t.Errorf("the action with retain: true is not retained: %v", retained)
	}
	if _, ok := retained[actions[0].Topic]; ok {
		t.Errorf("the action without retain is retained")
	}

	mark := c.Mark()
	if err := dev.server.Up(); err != nil {
		t.Fatal(err)
	}
	availabilityAfter(t, c, mark, "demo", "online")
	outage("second outage")
}
