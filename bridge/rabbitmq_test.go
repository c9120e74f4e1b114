package bridge_test

import (
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/state"
)

// What an operator tries with RabbitMQ (3.10, the MQTT plugin), on one
// node and on a cluster of two. RabbitMQ hands retained messages only to
// subscriptions of the exact topic, so every subscription here is exact.

// TestRabbitMQ_SetsAndWill: field and JSON sets, and the last will when the
// daemon's connection breaks; the daemon comes back by itself.
func TestRabbitMQ_SetsAndWill(t *testing.T) {
	node := rabbit.Get(t)
	proxy := mqtttest.StartProxy(t, node.URL())
	id := deviceID(t)
	d := startDaemonExact(t, proxy.URL(), []string{id}, nil)
	c := mqtttest.Connect(t, node.URL())
	c.Subscribe(topic(id, "state"), base+"/bridge/state")

	c.Publish(topic(id, "brightness/set"), "40", false)
	waitState(t, c, id, func(s state.State) bool { return s.Brightness == 40 })
	c.Publish(topic(id, "set"), `{"activeScene":"clock","playState":"paused","displayOn":false}`, false)
	waitState(t, c, id, func(s state.State) bool {
		return s.ActiveScene == "clock" && s.PlayState == state.Paused && !s.DisplayOn
	})
	mqtttest.WaitUntil(t, 5*time.Second, "the display is off", func() bool { return !d.sims[id].ScreenOn() })

	mark := c.Mark()
	proxy.Cut()
	if _, ok := c.WaitSince(mark, 30*time.Second, func(m mqtttest.Msg) bool {
		return m.Topic == base+"/bridge/state" && m.Text() == "offline"
	}); !ok {
		t.Fatal("no last will (bridge/state offline) after the connection broke")
	}
	proxy.Resume()
	if _, ok := c.WaitSince(mark, time.Minute, func(m mqtttest.Msg) bool {
		return m.Topic == base+"/bridge/state" && m.Text() == "online"
	}); !ok {
		t.Fatal("the daemon did not come back online")
	}
	c.Publish(topic(id, "brightness/set"), "41", false)
	waitState(t, c, id, func(s state.State) bool { return s.Brightness == 41 })
}

// TestRabbitMQ_QueuedCommandsAfterRestart: a QoS 1 set published while
// the daemon is down waits in its session and is applied when it is back.
func TestRabbitMQ_QueuedCommandsAfterRestart(t *testing.T) {
	url := rabbit.Get(t).URL()
	id := deviceID(t)
	d := startDaemonExact(t, url, []string{id}, nil)
	d.stop()
	c := mqtttest.Connect(t, url)
	c.Subscribe(topic(id, "state"))
	c.Publish(topic(id, "brightness/set"), "33", false)
	d = startDaemonExact(t, url, []string{id}, nil)
	waitState(t, c, id, func(s state.State) bool { return s.Brightness == 33 })
	mqtttest.WaitUntil(t, 5*time.Second, "the display gets brightness 33", func() bool { return d.sims[id].Brightness() == 33 })
}

// TestRabbitMQ_NodeRestart restarts the node under a running daemon: the
// node keeps its retained messages (its on-disk store), the daemon
// reconnects, republishes and takes commands; a daemon started afterwards
// restores the state from the node.
func TestRabbitMQ_NodeRestart(t *testing.T) {
	node := rabbit.Get(t)
	url := node.URL()
	id := deviceID(t)
	d := startDaemonExact(t, url, []string{id}, nil)
	c := mqtttest.Connect(t, url)
	c.Subscribe(topic(id, "state"))
	c.Publish(topic(id, "brightness/set"), "44", false)
	waitState(t, c, id, func(s state.State) bool { return s.Brightness == 44 })

	node.Stop()
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	// paho's reconnect backoff doubles up to 30 s.
	mqtttest.WaitUntil(t, 2*time.Minute, "the daemon reconnects", func() bool { return d.bridge.Ready() == nil })
	c = mqtttest.Connect(t, url)
	c.Subscribe(topic(id, "state"))
	if st := waitState(t, c, id, func(state.State) bool { return true }); st.Brightness != 44 {
		t.Errorf("state after the node restart has brightness %d, want 44", st.Brightness)
	}
	c.Publish(topic(id, "brightness/set"), "45", false)
	waitState(t, c, id, func(s state.State) bool { return s.Brightness == 45 })
	d.stop()

	// No file: the state comes from the node alone.
	d = startDaemonExact(t, url, []string{id}, nil, func(o *bridge.Options) { o.File = nil })
	if st, _ := d.store.Get(id); st.Brightness != 45 {
		t.Errorf("restored brightness %d from the restarted node, want 45", st.Brightness)
	}
}

// TestRabbitMQ_Cluster runs the daemon on one node of a two-node cluster.
// Commands published on the other node reach it and live state messages
// reach subscribers on both nodes; retained messages stay on the node they
// were published on (RabbitMQ 3.10 keeps them per node): a client that
// connects to the other node later does not get them.
func TestRabbitMQ_Cluster(t *testing.T) {
	a := rabbit.Get(t)
	b := rabbit.Join(t)
	id := deviceID(t)
	d := startDaemonExact(t, a.URL(), []string{id}, nil)
	onB := mqtttest.Connect(t, b.URL())
	onB.Subscribe(topic(id, "state"))

	onB.Publish(topic(id, "brightness/set"), "50", false)
	waitState(t, onB, id, func(s state.State) bool { return s.Brightness == 50 })
	mqtttest.WaitUntil(t, 5*time.Second, "the display gets brightness 50", func() bool { return d.sims[id].Brightness() == 50 })

	fresh := func(url string) (state.State, bool) {
		m, ok := mqtttest.Retained(t, url, topic(id, "state"))[topic(id, "state")]
		st, _ := state.ParseStateJSON(m.Payload)
		return st, ok
	}
	if st, ok := fresh(a.URL()); !ok || st.Brightness != 50 {
		t.Errorf("a new subscriber on the daemon's node got %+v (present %v), want brightness 50", st, ok)
	}
	if st, ok := fresh(b.URL()); ok {
		t.Errorf("a new subscriber on the other node got the retained state %+v: RabbitMQ now shares retained messages across the cluster; docs/BROKERS.md says it does not", st)
	}
}
