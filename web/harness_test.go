package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/broker"
	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/mock"
	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/web"
)

// TestMain checks that every test leaves no goroutine behind: the streams,
// the bridge, the broker and the clients all stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const base = "pidicon"

// rig is the daemon's parts in-process, for real: the embedded broker on a
// free loopback port, a bridge with mock displays, and the web server on
// an HTTP test server.
type rig struct {
	t      *testing.T
	mqtt   string // the broker's URL
	bridge *bridge.Bridge
	events *event.Log
	web    *web.Server
	url    string // the web server's base URL
}

// startRig runs the rig with the given mock displays until the test ends;
// tune changes the web server's options.
func startRig(t *testing.T, ids []string, tune func(*web.Options)) *rig {
	t.Helper()
	logs := slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})
	events := event.NewLog(50)
	b, err := broker.Start(broker.Options{
		Listen:    "127.0.0.1:0",
		BaseTopic: base,
		Logger:    slog.New(logs),
		Report:    events.Report,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	images, err := picture.OpenStore(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	var devices []bridge.Device
	for _, id := range ids {
		kind := mock.Kind()
		drv, _, err := kind.Open(device.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		devices = append(devices, bridge.Device{
			ID: id, Name: "Display " + id, Kind: kind,
			Defaults: state.State{ActiveScene: "fill", PlayState: state.Playing, Brightness: 75, DisplayOn: true, LoggingLevel: state.LevelWarning},
			Controller: device.NewController(device.Options{
				ID: id, Name: id, Version: "test", Driver: drv, Scenes: scene.Builtin(), Images: images, LogHandler: logs,
			}),
		})
	}
	br := bridge.New(bridge.Options{
		URL:         b.URL(),
		BaseTopic:   base,
		ClientID:    "pidicon-web-test",
		RestoreWait: 200 * time.Millisecond,
		Version:     "test",
		Logger:      slog.New(logs),
		Store:       state.NewStore(),
		Events:      events,
		Devices:     devices,
		Images:      images,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bridge: %v", err)
		}
	})
	mqtttest.WaitUntil(t, 10*time.Second, "the bridge is ready", func() bool { return br.Ready() == nil })

	opts := web.Options{Bridge: br, Events: events, BaseTopic: base, Logger: slog.New(logs)}
	if tune != nil {
		tune(&opts)
	}
	w := web.New(opts)
	srv := httptest.NewUnstartedServer(w.Handler())
	// Small send buffers, as on a slow link: a page that stops reading
	// blocks the server's writes after kilobytes, not megabytes.
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(w.Close) // first: it ends the streams srv.Close waits for
	return &rig{t: t, mqtt: b.URL(), bridge: br, events: events, web: w, url: srv.URL}
}

// smallBuffers is a listener whose connections have a send buffer of
// 16 KiB, without the kernel's automatic growth.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

// msg is a message of the stream, any type.
type msg struct {
	Type    string          `json:"type"`
	Topic   string          `json:"topic"`
	Payload json.RawMessage `json:"payload"`
	Device  string          `json:"device"`
	Version uint64          `json:"version"`
	Event   event.Event     `json:"event"`
	Ready   bool            `json:"ready"`
	Reason  string          `json:"reason"`
	Base    string          `json:"base"`
	Topics  []struct {
		Topic   string          `json:"topic"`
		Payload json.RawMessage `json:"payload"`
	} `json:"topics"`
	Frames map[string]uint64 `json:"frames"`
	Events []event.Event     `json:"events"`
}

func decode(t testing.TB, data []byte) msg {
	t.Helper()
	var m msg
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("stream message %s: %v", data, err)
	}
	return m
}

// stateOf returns id's state from a message of the stream: a change of
// its state topic, or a snapshot (which a page that fell behind gets).
func stateOf(data []byte, id string) (state.State, bool) {
	var m msg
	if json.Unmarshal(data, &m) != nil {
		return state.State{}, false
	}
	t := base + "/" + id + "/state"
	payload := m.Payload
	switch {
	case m.Type == "topic" && m.Topic == t:
	case m.Type == "snapshot":
		payload = nil
		for _, tp := range m.Topics {
			if tp.Topic == t {
				payload = tp.Payload
			}
		}
	default:
		return state.State{}, false
	}
	st, err := state.ParseStateJSON(payload)
	return st, err == nil
}

// waitState waits for a state of id on the stream after mark that
// satisfies ok.
func waitState(t testing.TB, s *testkit.Stream, mark int, timeout time.Duration, id string, ok func(state.State) bool) {
	t.Helper()
	if _, _, found := s.WaitSince(mark, timeout, func(data []byte) bool {
		st, isState := stateOf(data, id)
		return isState && ok(st)
	}); !found {
		t.Fatalf("no state of %s within %s on the stream", id, timeout)
	}
}

// post sends a request to the web server and returns the status and body.
func (r *rig) post(path, contentType string, body []byte, header ...string) (int, string) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// command posts a command as the page does.
func (r *rig) command(topic string, payload any, header ...string) (int, string) {
	r.t.Helper()
	body, err := json.Marshal(map[string]any{"topic": topic, "payload": payload})
	if err != nil {
		r.t.Fatal(err)
	}
	return r.post("/api/command", "application/json", body, append([]string{"Sec-Fetch-Site", "same-origin"}, header...)...)
}

func topicOf(id, leaf string) string { return fmt.Sprintf("%s/%s/%s", base, id, leaf) }
