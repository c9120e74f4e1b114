package bridge_test

import (
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/state"
)

// The tests of this file run on brokers that differ in whom they hand
// retained messages: mosquitto and the embedded broker to every matching
// subscription, RabbitMQ 3.10 only to subscriptions of the exact topic. So
// they subscribe to exact topics only, and name their devices after the
// test: the RabbitMQ node is shared and keeps what earlier tests retained.

// rabbitBroker is the shared RabbitMQ node as a testBroker.
func rabbitBroker() testBroker {
	return testBroker{"rabbitmq", func(t *testing.T) (string, *event.Log) { return rabbit.Get(t).URL(), nil }}
}

// forEachBrokerAndRabbitMQ runs test on the embedded broker, mosquitto and
// RabbitMQ.
func forEachBrokerAndRabbitMQ(t *testing.T, test func(t *testing.T, url string, report *event.Log)) {
	for _, b := range append(brokers(), rabbitBroker()) {
		t.Run(b.name, func(t *testing.T) {
			url, report := b.start(t)
			test(t, url, report)
		})
	}
}

// deviceID is a device id of this test alone.
func deviceID(t *testing.T) string {
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	return fmt.Sprintf("t%08x", h.Sum32())
}

// startDaemonExact is startDaemon for any broker: it waits for the daemon
// on exact topics.
func startDaemonExact(t *testing.T, url string, ids []string, report *event.Log, tune ...setup) *daemon {
	t.Helper()
	d := startDaemonNoWait(t, url, ids, report, tune...)
	waitOnlineExact(t, url, ids)
	return d
}

// waitOnlineExact waits until bridge/state is online and every device's
// state and availability are published, subscribed by exact topics.
func waitOnlineExact(t *testing.T, url string, ids []string) {
	t.Helper()
	w := mqtttest.Connect(t, url)
	filters := []string{base + "/bridge/state"}
	for _, id := range ids {
		filters = append(filters, topic(id, "state"), topic(id, "availability"))
	}
	w.Subscribe(filters...)
	w.WaitFor(20*time.Second, "bridge/state online", func(m mqtttest.Msg) bool {
		return m.Topic == base+"/bridge/state" && m.Text() == "online"
	})
	for _, want := range filters[1:] {
		w.WaitFor(20*time.Second, want, func(m mqtttest.Msg) bool { return m.Topic == want })
	}
}

// fileWith is a state file holding one device at brightness, written at ts.
func fileWith(t *testing.T, id string, brightness int, ts time.Time) *state.Document {
	t.Helper()
	doc, err := state.ParseDocument(fmt.Appendf(nil, `{"version":1,"devices":{%q:{"activeScene":"clock","playState":"playing","brightness":%d,"displayOn":true,"loggingLevel":"info","timestamp":%q}}}`,
		id, brightness, state.FormatTime(ts)))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestBridge_BrokerNewerThanFileWins is a set acknowledged shortly before
// a SIGKILL, inside the state file's write debounce: the file still holds
// the older brightness, the broker the newer one, and the restart must
// restore the newer one on every broker, also one that hands retained
// messages only to exact subscriptions.
func TestBridge_BrokerNewerThanFileWins(t *testing.T) {
	forEachBrokerAndRabbitMQ(t, func(t *testing.T, url string, report *event.Log) {
		id := deviceID(t)
		file := fileWith(t, id, 75, time.Now().Add(-time.Minute))
		withFile := func(o *bridge.Options) { o.File = file }
		d := startDaemonExact(t, url, []string{id}, report, withFile)
		if st, _ := d.store.Get(id); st.Brightness != 75 {
			t.Fatalf("first start: brightness %d, want the file's 75", st.Brightness)
		}
		c := mqtttest.Connect(t, url)
		c.Subscribe(topic(id, "state"))
		c.Publish(topic(id, "brightness/set"), "40", false)
		waitState(t, c, id, func(s state.State) bool { return s.Brightness == 40 })
		// The harness's Flush writes nothing: the file keeps the older 75,
		// as after a SIGKILL.
		d.stop()

		d = startDaemonExact(t, url, []string{id}, report, withFile)
		if st, _ := d.store.Get(id); st.Brightness != 40 {
			t.Errorf("restored brightness %d, want the broker's newer 40 over the file's older 75", st.Brightness)
		}
		mqtttest.WaitUntil(t, 5*time.Second, "the display gets brightness 40", func() bool { return d.sims[id].Brightness() == 40 })
	})
}

// TestBridge_RetainedCommandsClearedOnEveryBroker leaves retained commands
// on a device's set, get and notify topics before the daemon starts: each is
// cleared and reported once, never applied, also on a broker that hands
// retained messages only to exact subscriptions. (The embedded broker
// refuses them at the publish: TestBridge_RetainedSetRefusedByEmbeddedBroker.)
func TestBridge_RetainedCommandsClearedOnEveryBroker(t *testing.T) {
	mosquitto := brokers()[1]
	for _, b := range []testBroker{mosquitto, rabbitBroker()} {
		t.Run(b.name, func(t *testing.T) {
			url, report := b.start(t)
			id := deviceID(t)
			commands := map[string]string{
				topic(id, "brightness/set"):  "61",
				topic(id, "activeScene/set"): "fill",
				topic(id, "set"):             `{"brightness":62}`,
				topic(id, "get"):             "now",
				topic(id, "notify"):          "Door open",
			}
			c := mqtttest.Connect(t, url)
			for tp, payload := range commands {
				c.Publish(tp, payload, true)
			}
			c.Subscribe(base+"/bridge/event", topic(id, "availability"))
			d := startDaemonExact(t, url, []string{id}, report)

			events := func() map[string]int {
				n := make(map[string]int)
				for _, m := range c.Since(0) {
					if m.Topic == base+"/bridge/event" {
						if tp, _ := m.JSON()["topic"].(string); strings.HasPrefix(tp, base+"/"+id+"/") {
							n[tp]++
						}
					}
				}
				return n
			}
			mqtttest.WaitUntil(t, 20*time.Second, "an event for each retained command", func() bool { return len(events()) == len(commands) })
			for tp, payload := range commands {
				ev, _ := c.WaitSince(0, time.Second, func(m mqtttest.Msg) bool {
					return m.Topic == base+"/bridge/event" && m.JSON()["topic"] == tp
				})
				checkEvent(t, ev, tp, []byte(payload), "retained", false)
			}
			mqtttest.WaitUntil(t, 10*time.Second, "the retained commands are cleared", func() bool {
				for tp := range commands {
					if len(mqtttest.Retained(t, url, tp)) > 0 {
						return false
					}
				}
				return true
			})
			// A get round trip: a duplicate event would have come by now.
			mark := c.Mark()
			c.Publish(topic(id, "get"), "", false)
			if _, ok := c.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool { return m.Topic == topic(id, "availability") }); !ok {
				t.Fatal("no answer to get")
			}
			for tp, n := range events() {
				if n != 1 {
					t.Errorf("%d events for %s, want 1", n, tp)
				}
			}
			if st, _ := d.store.Get(id); st.Brightness != 75 || st.ActiveScene != "startup" {
				t.Errorf("a retained command was applied: %+v", st)
			}
		})
	}
}

// TestBridge_WarnsOfBrokersThatWithholdRetained: the daemon checks at
// start-up what the broker does with retained messages and says so in
// Warnings (listed by /healthz) when clients will not get the full state.
func TestBridge_WarnsOfBrokersThatWithholdRetained(t *testing.T) {
	cases := []struct {
		broker testBroker
		want   string // part of the one warning, or "" for none
	}{
		{brokers()[0], ""},
		{brokers()[1], ""},
		{rabbitBroker(), "only to subscriptions of exact topics"},
		{testBroker{"forgetful", func(t *testing.T) (string, *event.Log) { return forgetfulBroker(t), nil }}, "does not keep retained messages"},
	}
	for _, tc := range cases {
		t.Run(tc.broker.name, func(t *testing.T) {
			url, report := tc.broker.start(t)
			id := deviceID(t)
			d := startDaemonNoWait(t, url, []string{id}, report)
			mqtttest.WaitUntil(t, 20*time.Second, "the daemon is ready", func() bool { return d.bridge.Ready() == nil })
			got := d.bridge.Warnings()
			switch {
			case tc.want == "" && len(got) != 0:
				t.Errorf("warnings %q, want none", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("warnings %q, want one about %q", got, tc.want)
			}
		})
	}
}

// forgetfulBroker is a mochi-mqtt broker on a free port that keeps no
// retained message: it takes the retain flag off every publish.
func forgetfulBroker(t *testing.T) string {
	t.Helper()
	s := mochi.New(&mochi.Options{InlineClient: false})
	if err := s.AddHook(new(dropRetain), nil); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := s.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "tcp://" + tcp.Address()
}

// dropRetain is a mochi hook that lets every client in and takes the
// retain flag off every publish.
type dropRetain struct{ mochi.HookBase }

func (*dropRetain) ID() string { return "drop-retain" }

func (*dropRetain) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck || b == mochi.OnPublish
}

func (*dropRetain) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }

func (*dropRetain) OnACLCheck(*mochi.Client, string, bool) bool { return true }

func (*dropRetain) OnPublish(_ *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	pk.FixedHeader.Retain = false
	return pk, nil
}

// TestBridge_RemovedDeviceClearedOnEveryBroker: a device removed from the
// config loses its retained topics and discovery configs (CONTRACT §3),
// also on a broker that hands retained messages only to exact
// subscriptions, where the wildcards of the restore find nothing and only
// the state file still names the device.
func TestBridge_RemovedDeviceClearedOnEveryBroker(t *testing.T) {
	forEachBrokerAndRabbitMQ(t, func(t *testing.T, url string, report *event.Log) {
		kept := deviceID(t)
		gone := kept + "-gone"
		ofGone := []string{
			topic(gone, "state"), topic(gone, "brightness"), topic(gone, "availability"),
			prefix + "/light/" + base + "/" + gone + "_display/config",
			prefix + "/select/" + base + "/" + gone + "_scene/config",
		}
		d := startDaemonExact(t, url, []string{kept, gone}, report, withHA)
		mqtttest.WaitUntil(t, 10*time.Second, "the topics of both devices are retained", func() bool {
			return len(mqtttest.Retained(t, url, ofGone...)) == len(ofGone)
		})
		d.stop()

		// The file keeps the removed device's entry (it is not lost).
		ts := state.FormatTime(time.Now().Add(-time.Minute))
		entry := `{"activeScene":"clock","playState":"playing","brightness":50,"displayOn":true,"loggingLevel":"info","timestamp":%q}`
		file, err := state.ParseDocument(fmt.Appendf(nil, `{"version":1,"devices":{%q:`+entry+`,%q:`+entry+`}}`, kept, ts, gone, ts))
		if err != nil {
			t.Fatal(err)
		}
		startDaemonExact(t, url, []string{kept}, report, withHA, func(o *bridge.Options) { o.File = file })
		mqtttest.WaitUntil(t, 10*time.Second, "the removed device's retained topics and discovery configs are cleared", func() bool {
			return len(mqtttest.Retained(t, url, ofGone...)) == 0
		})
		if got := mqtttest.Retained(t, url, topic(kept, "state"), prefix+"/light/"+base+"/"+kept+"_display/config"); len(got) != 2 {
			t.Errorf("the configured device kept %d of its 2 retained topics checked", len(got))
		}
	})
}
