package bridge_test

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/state"
)

// testBroker is a way to get a broker for a test: the embedded one or a
// real mosquitto process.
type testBroker struct {
	name  string
	start func(t *testing.T) (url string, report *event.Log)
}

func brokers() []testBroker {
	return []testBroker{
		{"embedded", func(t *testing.T) (string, *event.Log) {
			report := event.NewLog(50)
			return embedded(t, report).URL(), report
		}},
		{"mosquitto", func(t *testing.T) (string, *event.Log) {
			return mqtttest.StartMosquitto(t, mqtttest.Options{Extra: []string{"set_tcp_nodelay true"}}).URL(), nil
		}},
	}
}

// forEachBroker runs test once per broker.
func forEachBroker(t *testing.T, test func(t *testing.T, url string, report *event.Log)) {
	for _, b := range brokers() {
		t.Run(b.name, func(t *testing.T) {
			url, report := b.start(t)
			test(t, url, report)
		})
	}
}

func TestBridge_RetainedStateForLateSubscriber(t *testing.T) {
	forEachBroker(t, func(t *testing.T, url string, report *event.Log) {
		startDaemon(t, url, []string{"demo", "lab-2"}, report)
		got := mqtttest.Retained(t, url, base+"/#")
		if m := got[base+"/bridge/state"]; m.Text() != "online" {
			t.Errorf("bridge/state = %q, want online", m.Text())
		}
		for _, id := range []string{"demo", "lab-2"} {
			want := map[string]string{
				"activeScene": "startup", "playState": "playing", "brightness": "75",
				"displayOn": "true", "loggingLevel": "warning", "availability": "online",
			}
			for suffix, v := range want {
				m, ok := got[topic(id, suffix)]
				if !ok || m.Text() != v || m.QoS != 1 {
					t.Errorf("%s = %q (present %v, qos %d), want %q at QoS 1", topic(id, suffix), m.Text(), ok, m.QoS, v)
				}
			}
			st, err := state.ParseStateJSON(got[topic(id, "state")].Payload)
			if err != nil {
				t.Errorf("%s state: %v", id, err)
			}
			if st.Brightness != 75 || st.ActiveScene != "startup" {
				t.Errorf("%s state = %+v", id, st)
			}
		}
		var info struct {
			Version string
			Devices []struct{ ID, Name, Type string }
			Scenes  []string
		}
		if err := json.Unmarshal(got[base+"/bridge/info"].Payload, &info); err != nil {
			t.Fatalf("bridge/info: %v", err)
		}
		if info.Version != "test" || len(info.Devices) != 2 || len(info.Scenes) < 4 {
			t.Errorf("bridge/info = %+v", info)
		}
	})
}

func TestBridge_FieldSet(t *testing.T) {
	forEachBroker(t, func(t *testing.T, url string, report *event.Log) {
		d := startDaemon(t, url, []string{"demo"}, report)
		c := mqtttest.Connect(t, url)
		c.Subscribe(base + "/#")
		before, _ := d.store.Get("demo")

		mark := c.Mark()
		c.Publish(topic("demo", "brightness/set"), "40\n", false)
		if _, ok := c.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool {
			return m.Topic == topic("demo", "brightness") && m.Text() == "40"
		}); !ok {
			t.Fatal("no brightness 40 published")
		}
		mqtttest.WaitUntil(t, 5*time.Second, "the device gets brightness 40", func() bool { return d.sims["demo"].Brightness() == 40 })
		st := waitState(t, c, "demo", func(s state.State) bool { return s.Brightness == 40 })
		if st.Timestamp.Before(before.Timestamp) {
			t.Errorf("timestamp went backwards: %v -> %v", before.Timestamp, st.Timestamp)
		}

		// The same value again changes nothing but is acknowledged.
		mark = c.Mark()
		c.Publish(topic("demo", "brightness/set"), "40", false)
		m, ok := c.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool { return m.Topic == topic("demo", "state") })
		if !ok {
			t.Fatal("a set without change was not acknowledged on the state topic")
		}
		again, _ := state.ParseStateJSON(m.Payload)
		if !again.Timestamp.Equal(st.Timestamp) {
			t.Errorf("a set without change moved the timestamp: %v -> %v", st.Timestamp, again.Timestamp)
		}

		// displayOn words, case-insensitive, published in lower case.
		for _, tc := range []struct{ in, want string }{{"OFF", "false"}, {"on", "true"}, {"0", "false"}, {"1", "true"}} {
			mark = c.Mark()
			c.Publish(topic("demo", "displayOn/set"), tc.in, false)
			if _, ok := c.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool {
				return m.Topic == topic("demo", "displayOn") && m.Text() == tc.want
			}); !ok {
				t.Errorf("displayOn/set %s: no %s published", tc.in, tc.want)
			}
		}
		mqtttest.WaitUntil(t, 5*time.Second, "the screen is on", func() bool { return d.sims["demo"].ScreenOn() })

		// activeScene restarts the scene and plays it.
		c.Publish(topic("demo", "playState/set"), "PAUSED", false)
		waitState(t, c, "demo", func(s state.State) bool { return s.PlayState == state.Paused })
		c.Publish(topic("demo", "activeScene/set"), "fill", false)
		waitState(t, c, "demo", func(s state.State) bool { return s.ActiveScene == "fill" && s.PlayState == state.Playing })
	})
}

func TestBridge_JSONSet(t *testing.T) {
	forEachBroker(t, func(t *testing.T, url string, report *event.Log) {
		d := startDaemon(t, url, []string{"demo", "lab-2"}, report)
		c := mqtttest.Connect(t, url)
		c.Subscribe(base + "/#")
		c.Publish(topic("demo", "set"), `{"brightness":10,"displayOn":false}`, false)
		waitState(t, c, "demo", func(s state.State) bool { return s.Brightness == 10 && !s.DisplayOn })
		mqtttest.WaitUntil(t, 5*time.Second, "the device gets brightness 10 and screen off", func() bool {
			return d.sims["demo"].Brightness() == 10 && !d.sims["demo"].ScreenOn()
		})
		if st, _ := d.store.Get("lab-2"); st.Brightness != 75 || !st.DisplayOn {
			t.Errorf("lab-2 changed: %+v", st)
		}
		// activeScene is applied before playState.
		c.Publish(topic("demo", "set"), `{"activeScene":"clock","playState":"paused"}`, false)
		waitState(t, c, "demo", func(s state.State) bool { return s.ActiveScene == "clock" && s.PlayState == state.Paused })
		// All or nothing.
		mark := c.Mark()
		c.Publish(topic("demo", "set"), `{"brightness":20,"playState":"dancing"}`, false)
		c.WaitFor(5*time.Second, "an error event", func(m mqtttest.Msg) bool {
			return m.Topic == base+"/bridge/event" && strings.Contains(m.Text(), "dancing")
		})
		for _, m := range c.Since(mark) {
			if m.Topic == topic("demo", "brightness") {
				t.Errorf("a refused set published %s = %s", m.Topic, m.Text())
			}
		}
		if st, _ := d.store.Get("demo"); st.Brightness != 10 {
			t.Errorf("a refused set changed brightness to %d", st.Brightness)
		}
	})
}

func TestBridge_BadInput(t *testing.T) {
	cases := []struct {
		name, topic string
		payload     []byte
		wantError   string // part of the event's error
		truncated   bool
	}{
		{"brightness not a number", topic("demo", "brightness/set"), []byte("abc"), "brightness", false},
		{"brightness too big", topic("demo", "brightness/set"), []byte("150"), "brightness", false},
		{"brightness negative", topic("demo", "brightness/set"), []byte("-1"), "brightness", false},
		{"brightness huge", topic("demo", "brightness/set"), []byte("4.5e9"), "brightness", false},
		{"brightness empty", topic("demo", "brightness/set"), nil, "brightness", false},
		{"brightness fraction", topic("demo", "brightness/set"), []byte("50.5"), "brightness", false},
		{"playState unknown", topic("demo", "playState/set"), []byte("dancing"), "playState", false},
		{"loggingLevel unknown", topic("demo", "loggingLevel/set"), []byte("verbose"), "loggingLevel", false},
		{"displayOn unknown", topic("demo", "displayOn/set"), []byte("maybe"), "displayOn", false},
		{"unknown scene lists scenes", topic("demo", "activeScene/set"), []byte("no-such-scene"), "startup, clock, fill, empty", false},
		{"malformed JSON", topic("demo", "set"), []byte("{bad json"), "JSON", false},
		{"unknown JSON field", topic("demo", "set"), []byte(`{"brightness":50,"bogus":1}`), "bogus", false},
		{"brightness as string", topic("demo", "set"), []byte(`{"brightness":"50"}`), "brightness", false},
		{"one bad field", topic("demo", "set"), []byte(`{"brightness":20,"playState":"dancing"}`), "playState", false},
		{"unknown device", base + "/nosuch/brightness/set", []byte("50"), "unknown device", false},
		{"unknown field topic", topic("demo", "bogus/set"), []byte("1"), "unknown field", false},
		{"unknown request", base + "/bridge/request/explode", []byte("1"), "unknown request", false},
		{"300 bytes", topic("demo", "brightness/set"), bytes.Repeat([]byte("7"), 300), "brightness", true},
		{"over 16 KiB", topic("demo", "brightness/set"), bytes.Repeat([]byte("A"), 100*1024), "at most", true},
		{"invalid UTF-8", topic("demo", "activeScene/set"), []byte("\xff\xfeclock\xc3("), "UTF-8", false},
	}
	forEachBroker(t, func(t *testing.T, url string, report *event.Log) {
		d := startDaemon(t, url, []string{"demo"}, report)
		c := mqtttest.Connect(t, url)
		c.Subscribe(base + "/#")
		before := mqtttest.Retained(t, url, base+"/demo/#")
		storeBefore, _ := d.store.Get("demo")
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				mark := c.Mark()
				c.PublishBytes(tc.topic, tc.payload, false)
				ev, ok := c.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool {
					return m.Topic == base+"/bridge/event" && m.JSON()["topic"] == tc.topic
				})
				if !ok {
					t.Fatalf("no event for %s", tc.topic)
				}
				checkEvent(t, ev, tc.topic, tc.payload, tc.wantError, tc.truncated)
				// A sync round trip: get publishes the device's topics; by
				// then any duplicate event would have arrived.
				c.Publish(topic("demo", "get"), "", false)
				if _, ok := c.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool { return m.Topic == topic("demo", "availability") }); !ok {
					t.Fatal("no answer to get")
				}
				n := 0
				for _, m := range c.Since(mark) {
					if m.Topic == base+"/bridge/event" {
						n++
					}
					if prev, ok := before[m.Topic]; ok && !bytes.Equal(prev.Payload, m.Payload) {
						t.Errorf("published a different %s: %q", m.Topic, m.Payload)
					}
				}
				if n != 1 {
					t.Errorf("%d events, want 1", n)
				}
			})
		}
		if st, _ := d.store.Get("demo"); st != storeBefore {
			t.Errorf("state changed by bad input: %+v -> %+v", storeBefore, st)
		}
		for topic, m := range mqtttest.Retained(t, url, base+"/#") {
			if strings.HasSuffix(topic, "/set") || strings.HasSuffix(topic, "/event") {
				t.Errorf("retained %s = %q left behind", topic, m.Payload)
			}
		}
	})
}

// checkEvent checks one bridge/event message against the contract.
func checkEvent(t *testing.T, m mqtttest.Msg, topic string, payload []byte, wantError string, truncated bool) {
	t.Helper()
	if m.Retained {
		t.Error("event was retained")
	}
	var ev struct {
		Time, Level, Device, Topic, Payload, Error string
		Truncated                                  *bool
	}
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		t.Fatalf("event is not JSON: %v: %q", err, m.Payload)
	}
	if _, err := time.Parse(time.RFC3339, ev.Time); err != nil || ev.Level != "error" || ev.Topic != topic {
		t.Errorf("event time %q level %q topic %q", ev.Time, ev.Level, ev.Topic)
	}
	parts := strings.Split(topic, "/")
	if parts[1] != "bridge" && ev.Device != parts[1] {
		t.Errorf("event device %q, want %q", ev.Device, parts[1])
	}
	if !strings.Contains(ev.Error, wantError) {
		t.Errorf("event error %q does not mention %q", ev.Error, wantError)
	}
	echo := payload
	if len(echo) > 256 {
		echo = echo[:256]
	}
	if want := strings.ToValidUTF8(string(echo), "\uFFFD"); ev.Payload != want {
		t.Errorf("event payload %q, want %q", ev.Payload, want)
	}
	if got := ev.Truncated != nil && *ev.Truncated; got != truncated {
		t.Errorf("event truncated = %v, want %v", got, truncated)
	}
}

func TestBridge_RetainedSetRefusedByEmbeddedBroker(t *testing.T) {
	report := event.NewLog(50)
	url := embedded(t, report).URL()
	d := startDaemon(t, url, []string{"demo"}, report)
	c := mqtttest.Connect(t, url)
	c.Subscribe(base + "/#")
	c.Publish(topic("demo", "brightness/set"), "61", true)
	ev := c.WaitFor(5*time.Second, "an event", func(m mqtttest.Msg) bool { return m.Topic == base+"/bridge/event" })
	checkEvent(t, ev, topic("demo", "brightness/set"), []byte("61"), "retained", false)
	if got := mqtttest.Retained(t, url, topic("demo", "brightness/set")); len(got) != 0 {
		t.Errorf("the broker kept the retained set: %v", got)
	}
	if st, _ := d.store.Get("demo"); st.Brightness != 75 {
		t.Errorf("a retained set was applied: brightness %d", st.Brightness)
	}
}

func TestBridge_RetainedSetClearedOnAnyBroker(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	// Left on the broker before the daemon starts, as an old client might.
	c := mqtttest.Connect(t, url)
	c.Publish(topic("demo", "brightness/set"), "61", true)
	c.Subscribe(base + "/#")
	d := startDaemon(t, url, []string{"demo"}, nil)
	ev := c.WaitFor(5*time.Second, "an event", func(m mqtttest.Msg) bool { return m.Topic == base+"/bridge/event" })
	checkEvent(t, ev, topic("demo", "brightness/set"), []byte("61"), "retained", false)
	mqtttest.WaitUntil(t, 5*time.Second, "the retained set is cleared", func() bool {
		return len(mqtttest.Retained(t, url, topic("demo", "brightness/set"))) == 0
	})
	if st, _ := d.store.Get("demo"); st.Brightness != 75 {
		t.Errorf("a retained set was applied: brightness %d", st.Brightness)
	}
	// Clearing it must not look like an empty (bad) set to the daemon.
	c.Publish(topic("demo", "get"), "", false)
	c.WaitFor(5*time.Second, "get", func(m mqtttest.Msg) bool { return m.Topic == topic("demo", "availability") })
	n := 0
	for _, m := range c.Since(0) {
		if m.Topic == base+"/bridge/event" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d events, want 1", n)
	}
}

func TestBridge_GetAndRepublish(t *testing.T) {
	forEachBroker(t, func(t *testing.T, url string, report *event.Log) {
		startDaemon(t, url, []string{"demo"}, report)
		c := mqtttest.Connect(t, url)
		c.Subscribe(base + "/#")
		want := []string{"activeScene", "playState", "brightness", "displayOn", "loggingLevel", "state", "availability"}
		mark := c.Mark()
		c.Publish(topic("demo", "get"), "", false)
		waitTopics(t, c, mark, topicsOf("demo", want))
		mark = c.Mark()
		c.Publish(base+"/bridge/request/republish", "", false)
		waitTopics(t, c, mark, append(topicsOf("demo", want), base+"/bridge/state", base+"/bridge/info"))
	})
}

func TestBridge_ShutdownFlushesAndGoesOffline(t *testing.T) {
	forEachBroker(t, func(t *testing.T, url string, report *event.Log) {
		d := startDaemon(t, url, []string{"demo"}, report)
		c := mqtttest.Connect(t, url)
		c.Subscribe(base + "/#")
		c.Publish(topic("demo", "brightness/set"), "33", false)
		waitState(t, c, "demo", func(s state.State) bool { return s.Brightness == 33 })
		d.stop()
		if n := d.flushes.Load(); n != 1 {
			t.Errorf("flushed %d times at shutdown, want 1", n)
		}
		got := mqtttest.Retained(t, url, base+"/bridge/state")
		if m := got[base+"/bridge/state"]; m.Text() != "offline" {
			t.Errorf("bridge/state = %q after shutdown, want offline", m.Text())
		}
	})
}

func TestBridge_RestoreTakesNewerBrokerState(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	c := mqtttest.Connect(t, url)
	newer := `{"activeScene":"fill","playState":"paused","brightness":12,"displayOn":false,"loggingLevel":"debug","timestamp":"2026-01-01T00:00:00.000Z"}`
	c.Publish(topic("demo", "state"), newer, true)
	older := `{"activeScene":"fill","playState":"paused","brightness":99,"displayOn":false,"loggingLevel":"debug","timestamp":"2001-01-01T00:00:00.000Z"}`
	c.Publish(topic("lab-2", "state"), older, true)
	file, err := state.ParseDocument([]byte(`{"version":1,"timestamp":"2020-01-01T00:00:00.000Z","devices":{
		"demo":{"activeScene":"clock","playState":"playing","brightness":50,"displayOn":true,"loggingLevel":"info"},
		"lab-2":{"activeScene":"clock","playState":"playing","brightness":51,"displayOn":true,"loggingLevel":"info"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, url, []string{"demo", "lab-2"}, nil, func(o *bridge.Options) { o.File = file })
	if st, _ := d.store.Get("demo"); st.Brightness != 12 || st.ActiveScene != "fill" {
		t.Errorf("demo = %+v, want the broker's newer state", st)
	}
	if st, _ := d.store.Get("lab-2"); st.Brightness != 51 || st.ActiveScene != "clock" {
		t.Errorf("lab-2 = %+v, want the file's newer state", st)
	}
	mqtttest.WaitUntil(t, 5*time.Second, "demo's device gets brightness 12", func() bool { return d.sims["demo"].Brightness() == 12 })
	// The older file state never reached the hardware (CONTRACT §4: restore,
	// then drive).
	for _, r := range d.sims["demo"].Requests() {
		if r.Command == "Channel/SetBrightness" && r.Body["Brightness"] != json.Number("12") {
			t.Errorf("demo's device was driven to %v before the restore", r.Body["Brightness"])
		}
	}
}

func topicsOf(id string, suffixes []string) []string {
	var out []string
	for _, s := range suffixes {
		out = append(out, topic(id, s))
	}
	return out
}

// waitTopics waits until every topic was received after mark.
func waitTopics(t *testing.T, c *mqtttest.Client, mark int, want []string) {
	t.Helper()
	mqtttest.WaitUntil(t, 5*time.Second, "topics "+strings.Join(want, ", "), func() bool {
		seen := make(map[string]bool)
		for _, m := range c.Since(mark) {
			seen[m.Topic] = true
		}
		for _, w := range want {
			if !seen[w] {
				return false
			}
		}
		return true
	})
}

// waitState waits for a state message of device id that satisfies ok.
func waitState(t *testing.T, c *mqtttest.Client, id string, ok func(state.State) bool) state.State {
	t.Helper()
	return c.WaitState(5*time.Second, base, id, ok)
}

// TestBridge_SceneNotForThisDisplay chooses a scene the display's size
// cannot show: refused like any bad input, with the reason.
func TestBridge_SceneNotForThisDisplay(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	d := startDaemon(t, url, []string{"strip"}, nil, stripDisplay(0))
	c := mqtttest.Connect(t, url)
	c.Subscribe(base + "/#")
	c.Publish(topic("strip", "activeScene/set"), "bars", false)
	ev := c.WaitFor(5*time.Second, "an event", func(m mqtttest.Msg) bool { return m.Topic == base+"/bridge/event" })
	checkEvent(t, ev, topic("strip", "activeScene/set"), []byte("bars"), "cannot draw on a 32x8 display", false)
	if st, _ := d.store.Get("strip"); st.ActiveScene != "startup" {
		t.Errorf("scene %q after a refused set", st.ActiveScene)
	}
}

// TestBridge_FramePreview checks the frame topic: a retained PNG of the
// display's size that follows the scene.
func TestBridge_FramePreview(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	startDaemon(t, url, []string{"demo"}, nil)
	c := mqtttest.Connect(t, url)
	c.Subscribe(base + "/#")
	c.Publish(topic("demo", "activeScene/set"), "empty", false)
	m := c.WaitFor(5*time.Second, "a black frame", func(m mqtttest.Msg) bool {
		if m.Topic != topic("demo", "frame") {
			return false
		}
		img, err := png.Decode(bytes.NewReader(m.Payload))
		if err != nil || img.Bounds().Dx() != 64 || img.Bounds().Dy() != 64 {
			return false
		}
		r, g, b, _ := img.At(32, 32).RGBA()
		return r == 0 && g == 0 && b == 0
	})
	if m.QoS != 0 {
		t.Errorf("frame at QoS %d, want 0 (a newer one follows; no queueing for offline sessions)", m.QoS)
	}
	if got := mqtttest.Retained(t, url, topic("demo", "frame")); len(got) != 1 {
		t.Error("the frame is not retained")
	}
}

// TestBroker_PacketSizeLimit sends the embedded broker the header of a
// packet far larger than MaxPacket, before any login: it must hang up at
// once rather than read it into memory.
func TestBroker_PacketSizeLimit(t *testing.T) {
	report := event.NewLog(50)
	b := embedded(t, report)
	conn, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// CONNECT, remaining length 64 MiB (variable-length encoding).
	if _, err := conn.Write([]byte{0x10, 0x80, 0x80, 0x80, 0x20}); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 16)); err == nil {
		t.Error("the broker answered instead of closing the connection")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("the broker is still reading the oversized packet after 5s")
	}
	// A 100 KiB command still reaches the daemon (and is refused there).
	url := b.URL()
	startDaemon(t, url, []string{"demo"}, report)
	c := mqtttest.Connect(t, url)
	c.Subscribe(base + "/bridge/event")
	c.PublishBytes(topic("demo", "brightness/set"), bytes.Repeat([]byte("7"), 100*1024), false)
	c.WaitFor(5*time.Second, "the event about the oversized command", func(m mqtttest.Msg) bool {
		return strings.Contains(m.Text(), "commands are at most")
	})
}
