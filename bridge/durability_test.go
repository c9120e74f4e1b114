package bridge_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/state"
)

// TestBridge_BrokerRestartRepublishes restarts a real mosquitto without
// persistence under a running daemon: the broker comes back empty and the
// daemon must publish every retained topic again.
func TestBridge_BrokerRestartRepublishes(t *testing.T) {
	mosq := mqtttest.StartMosquitto(t, mqtttest.Options{})
	url := mosq.URL()
	d := startDaemon(t, url, []string{"demo", "lab-2"}, nil)
	c := mqtttest.Connect(t, url)
	c.Subscribe(base + "/#")
	c.Publish(topic("demo", "brightness/set"), "42", false)
	waitState(t, c, "demo", func(s state.State) bool { return s.Brightness == 42 })

	mosq.Stop()
	mosq.StartAgain()

	want := []string{"activeScene", "playState", "brightness", "displayOn", "loggingLevel", "state", "availability"}
	mqtttest.WaitUntil(t, 15*time.Second, "every retained topic is back after the broker restart", func() bool {
		got := mqtttest.Retained(t, url, base+"/#")
		for _, id := range []string{"demo", "lab-2"} {
			for _, s := range want {
				if _, ok := got[topic(id, s)]; !ok {
					return false
				}
			}
		}
		return got[base+"/bridge/state"].Text() == "online" && got[topic("demo", "brightness")].Text() == "42"
	})
	// Commands work again after the reconnect.
	c2 := mqtttest.Connect(t, url)
	c2.Subscribe(base + "/#")
	c2.Publish(topic("demo", "brightness/set"), "43", false)
	waitState(t, c2, "demo", func(s state.State) bool { return s.Brightness == 43 })
	if st, _ := d.store.Get("demo"); st.Brightness != 43 {
		t.Errorf("store has brightness %d", st.Brightness)
	}
}

// TestBridge_RestoreNewestWins is the start-up restore table: one device
// per case, the file and the broker's retained state prepared before the
// daemon starts.
func TestBridge_RestoreNewestWins(t *testing.T) {
	type source struct {
		brightness int
		ts         string // "" for no per-device timestamp
	}
	const fileTS = "2026-01-01T00:00:00.000Z"
	cases := []struct {
		id             string
		file, broker   *source
		brokerPayload  string // raw retained payload, instead of broker
		wantBrightness int
		wantEvent      bool
	}{
		{id: "file-newer", file: &source{11, "2026-06-01T00:00:00.000Z"}, broker: &source{12, "2026-05-01T00:00:00.000Z"}, wantBrightness: 11},
		{id: "broker-newer", file: &source{21, "2026-06-01T00:00:00.000Z"}, broker: &source{22, "2026-07-01T00:00:00.000Z"}, wantBrightness: 22},
		{id: "only-file", file: &source{31, "2026-06-01T00:00:00.000Z"}, wantBrightness: 31},
		{id: "only-broker", broker: &source{42, "2026-06-01T00:00:00.000Z"}, wantBrightness: 42},
		{id: "neither", wantBrightness: 75},
		{id: "equal-file-wins", file: &source{61, "2026-06-01T00:00:00.000Z"}, broker: &source{62, "2026-06-01T00:00:00.000Z"}, wantBrightness: 61},
		{id: "file-top-level-timestamp", file: &source{71, ""}, broker: &source{72, "2025-12-31T00:00:00.000Z"}, wantBrightness: 71},
		{id: "broker-malformed", file: &source{81, "2026-06-01T00:00:00.000Z"}, brokerPayload: `{"brightness":"lots","timestamp":"2030-01-01T00:00:00.000Z"}`, wantBrightness: 81, wantEvent: true},
		{id: "broker-in-the-future", file: &source{91, "2026-06-01T00:00:00.000Z"}, broker: &source{92, "2099-01-01T00:00:00.000Z"}, wantBrightness: 91, wantEvent: true},
	}
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	c := mqtttest.Connect(t, url)
	var entries []string
	var ids []string
	for _, tc := range cases {
		ids = append(ids, tc.id)
		if tc.file != nil {
			ts := ""
			if tc.file.ts != "" {
				ts = fmt.Sprintf(`,"timestamp":%q`, tc.file.ts)
			}
			entries = append(entries, fmt.Sprintf(`%q:{"activeScene":"clock","playState":"playing","brightness":%d,"displayOn":true,"loggingLevel":"info"%s}`,
				tc.id, tc.file.brightness, ts))
		}
		switch {
		case tc.broker != nil:
			c.Publish(topic(tc.id, "state"), fmt.Sprintf(`{"activeScene":"fill","playState":"paused","brightness":%d,"displayOn":false,"loggingLevel":"debug","timestamp":%q}`,
				tc.broker.brightness, tc.broker.ts), true)
		case tc.brokerPayload != "":
			c.Publish(topic(tc.id, "state"), tc.brokerPayload, true)
		}
	}
	doc, err := state.ParseDocument([]byte(fmt.Sprintf(`{"version":1,"timestamp":%q,"devices":{%s}}`, fileTS, strings.Join(entries, ","))))
	if err != nil {
		t.Fatal(err)
	}
	c.Subscribe(base + "/bridge/event")
	d := startDaemon(t, url, ids, nil, func(o *bridge.Options) { o.File = doc })
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			st, _ := d.store.Get(tc.id)
			if st.Brightness != tc.wantBrightness {
				t.Errorf("brightness %d, want %d", st.Brightness, tc.wantBrightness)
			}
			if st.Timestamp.IsZero() {
				t.Error("no timestamp after restore")
			}
			if tc.wantEvent {
				c.WaitFor(5*time.Second, "an event about the malformed retained state", func(m mqtttest.Msg) bool {
					return m.Topic == base+"/bridge/event" && m.JSON()["topic"] == topic(tc.id, "state")
				})
			}
		})
	}
}

// TestBridge_SeedFileClaimedByHost reads a state file of the original
// pidicon daemon (devices keyed by IP address): the entry whose key is a
// configured device's host is that device's; other entries are kept.
func TestBridge_SeedFileClaimedByHost(t *testing.T) {
	doc, err := state.ParseDocument([]byte(`{
	  "version": 1,
	  "timestamp": "2026-01-01T00:00:00.000Z",
	  "daemon": {"startTime": "2025-12-31T00:00:00.000Z", "lastHeartbeat": "2026-01-01T00:00:00.000Z"},
	  "devices": {
	    "192.168.1.50": {"activeScene": "clock", "playState": "paused", "brightness": 33, "displayOn": true, "loggingLevel": null},
	    "192.168.1.99": {"activeScene": "fill", "playState": "playing", "brightness": 90, "displayOn": true, "loggingLevel": "info"}
	  }
	}`))
	if err != nil {
		t.Fatal(err)
	}
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	d := startDaemon(t, url, []string{"demo"}, nil, func(o *bridge.Options) {
		o.File = doc
		o.Devices[0].Host = "192.168.1.50:80"
	})
	st, _ := d.store.Get("demo")
	if st.Brightness != 33 || st.ActiveScene != "clock" || st.PlayState != state.Paused {
		t.Errorf("demo = %+v, want the seed entry of 192.168.1.50", st)
	}
	if st.LoggingLevel != state.LevelWarning {
		t.Errorf("loggingLevel %q, want the default for a null value", st.LoggingLevel)
	}
	// The next write is in our format, keeps the unclaimed entry and drops
	// the claimed IP key in favour of the device id.
	path := filepath.Join(t.TempDir(), "runtime-state.json")
	p := state.NewPersister(d.store, state.PersisterOptions{Path: path, Debounce: time.Hour, MaxDelay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	d.store.Put("demo", st) // a change to write
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	written, err := state.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := written.Devices["demo"]; !ok {
		t.Error("demo missing from the written file")
	}
	if _, ok := written.Devices["192.168.1.99"]; !ok {
		t.Error("the unclaimed seed entry 192.168.1.99 was dropped")
	}
	if _, ok := written.Devices["192.168.1.50"]; ok {
		t.Error("the claimed seed entry 192.168.1.50 is still there")
	}
}

// TestBridge_BrokerDownAtStart starts the daemon while the broker is down:
// it keeps trying (with backoff) and, once the broker is up, restores,
// publishes and takes commands.
func TestBridge_BrokerDownAtStart(t *testing.T) {
	mosq := mqtttest.StartMosquitto(t, mqtttest.Options{})
	url := mosq.URL()
	mosq.Stop()
	d := startDaemonNoWait(t, url, []string{"demo"}, nil)
	br := d.bridge
	mqtttest.WaitUntil(t, 10*time.Second, "the daemon reports the broker down", func() bool {
		err := br.Ready()
		return err != nil && strings.Contains(err.Error(), "connection refused")
	})
	mosq.StartAgain()
	waitOnline(t, url, base, []string{"demo"})
	c := mqtttest.Connect(t, url)
	c.Subscribe(base + "/#")
	c.Publish(topic("demo", "brightness/set"), "9", false)
	waitState(t, c, "demo", func(s state.State) bool { return s.Brightness == 9 })
}
