package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/web"
)

// openRaw opens the stream on a bare connection and reads nothing from
// it: a page whose tab hangs, or whose network stalls.
func openRaw(t *testing.T, r *rig) (net.Conn, *http.Request) {
	t.Helper()
	u, err := url.Parse(r.url + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	t.Cleanup(func() { conn.Close() })
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	return conn, req
}

// pump changes demo's state (a long text, so that each message is large)
// until done holds, and returns how many changes it took.
func pump(t *testing.T, r *rig, done func() bool) int {
	t.Helper()
	long := strings.Repeat("pidicon ", 60)
	set, _ := json.Marshal(map[string]any{"activeScene": "text", "sceneParams": map[string]any{"text": long}})
	submit(t, r, topicOf("demo", "set"), set)
	deadline := time.Now().Add(60 * time.Second)
	n := 0
	for ; !done(); n++ {
		if time.Now().After(deadline) {
			t.Fatalf("still not done after %d changes", n)
		}
		params, _ := json.Marshal(map[string]any{"text": fmt.Sprintf("%s%d", long, n)})
		submit(t, r, topicOf("demo", "sceneParams/set"), params)
	}
	return n
}

// submit carries out a command, which must take less than a second: a
// page that holds up the daemon fails here.
func submit(t *testing.T, r *rig, topic string, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := r.bridge.Submit(ctx, topic, payload); err != nil {
		t.Fatalf("%s: %v", topic, err)
	}
}

// TestStream_StuckPageDelaysNothing: a page that never reads never delays
// the MQTT state or the other pages (its messages are dropped, not
// queued), and it is disconnected after WriteTimeout.
func TestStream_StuckPageDelaysNothing(t *testing.T) {
	const writeTimeout = 3 * time.Second
	r := startRig(t, []string{"demo"}, func(o *web.Options) {
		o.QueueLength = 16
		o.WriteTimeout = writeTimeout
	})
	c := mqtttest.Connect(t, r.mqtt)
	c.Subscribe(topicOf("demo", "state"))
	good := testkit.OpenStream(t, r.url+"/api/stream", nil)
	openRaw(t, r)
	mqtttest.WaitUntil(t, 5*time.Second, "both pages are open", func() bool { return r.web.Stats().Pages == 2 })

	n := pump(t, r, func() bool { return r.web.Stats().Blocked > 0 })
	t.Logf("the stuck page blocked its stream after %d changes", n)

	// While the stuck page's handler is blocked in a write: every change
	// reaches MQTT and the good page within a second.
	var worst time.Duration
	for i := range 20 {
		v := 5 * i
		start := time.Now()
		mark, mqttMark := good.Mark(), c.Mark()
		submit(t, r, topicOf("demo", "brightness/set"), fmt.Appendf(nil, "%d", v))
		waitState(t, good, mark, time.Second, "demo", func(st state.State) bool { return st.Brightness == v })
		if _, ok := c.WaitSince(mqttMark, time.Second, func(m mqtttest.Msg) bool {
			st, err := state.ParseStateJSON(m.Payload)
			return err == nil && st.Brightness == v
		}); !ok {
			t.Fatalf("brightness %d not on MQTT within 1s", v)
		}
		worst = max(worst, time.Since(start))
	}
	t.Logf("slowest change to MQTT and the good page while a page is stuck: %v", worst)
	if s := r.web.Stats(); s.Resyncs == 0 || s.Blocked != 1 {
		t.Errorf("stats %+v: want the stuck page blocked and its queue dropped (a resync)", s)
	}

	mqtttest.WaitUntil(t, writeTimeout+5*time.Second, "the stuck page is disconnected", func() bool {
		s := r.web.Stats()
		return s.Disconnected == 1 && s.Pages == 1
	})
}

// TestStream_SlowPageResyncs: a page that stops reading for a while loses
// the changes it missed and, once it reads again, gets the full state,
// then the changes that follow.
func TestStream_SlowPageResyncs(t *testing.T) {
	r := startRig(t, []string{"demo"}, func(o *web.Options) { o.QueueLength = 16 })
	conn, req := openRaw(t, r)
	mqtttest.WaitUntil(t, 5*time.Second, "the page is open", func() bool { return r.web.Stats().Pages == 1 })
	n := pump(t, r, func() bool { return r.web.Stats().Resyncs > 0 })
	t.Logf("the page's queue overflowed after %d changes", n)
	submit(t, r, topicOf("demo", "brightness/set"), []byte("33"))

	// The page reads again.
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	snapshots := 0
	found := make(chan struct{})
	go func() {
		defer close(found)
		testkit.ReadEvents(resp.Body, func(data []byte) {
			var m struct{ Type string }
			if json.Unmarshal(data, &m); m.Type == "snapshot" {
				snapshots++
			}
			if st, ok := stateOf(data, "demo"); ok && st.Brightness == 33 && snapshots == 2 {
				conn.Close() // done: the resync came, with the latest state
			}
		})
	}()
	select {
	case <-found:
	case <-time.After(10 * time.Second):
		conn.Close()
		<-found
		t.Fatalf("no second snapshot with brightness 33 within 10s of reading again (%d snapshots)", snapshots)
	}
	if snapshots != 2 {
		t.Errorf("%d snapshots, want 2 (the first, and one after falling behind)", snapshots)
	}
}
