package bridge_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/broker"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
)

// daemonBroker is a broker as the daemon uses it, and the login that makes
// a client the daemon on it.
type daemonBroker struct {
	name  string
	start func(t *testing.T, clientID string) (url, username, password string)
}

// daemonBrokers are the embedded broker with the daemon's reserved
// identity (bridge/state is then the daemon's alone, its will included)
// and mosquitto.
func daemonBrokers() []daemonBroker {
	return []daemonBroker{
		{"embedded", func(t *testing.T, clientID string) (string, string, string) {
			b, err := broker.Start(broker.Options{
				Listen:         "127.0.0.1:0",
				BaseTopic:      base,
				DaemonClientID: clientID,
				Logger:         slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			user, pass := b.DaemonLogin()
			return b.URL(), user, pass
		}},
		{"mosquitto", func(t *testing.T, _ string) (string, string, string) {
			return mqtttest.StartMosquitto(t, mqtttest.Options{}).URL(), "", ""
		}},
	}
}

// startBehindProxy runs a bridge with device demo that reaches the broker
// through a proxy, logged in as the daemon, and waits until it is online.
func startBehindProxy(t *testing.T, b daemonBroker) (d *daemon, url string, proxy *mqtttest.Proxy) {
	t.Helper()
	clientID := "pidicon-mqtt-" + base
	url, user, pass := b.start(t, clientID)
	proxy = mqtttest.StartProxy(t, url)
	d = startDaemonOpts(t, proxy.URL(), base, []string{"demo"}, nil, false, func(o *bridge.Options) {
		o.ClientID, o.Username, o.Password = clientID, user, pass
	})
	waitOnline(t, url, base, []string{"demo"})
	return d, url, proxy
}

// bridgeState reports what the daemon published on bridge/state among
// sent (what the proxy saw), in order.
func bridgeState(sent []mqtttest.Packet) []string {
	var out []string
	for _, pk := range sent {
		if pk.Type == mqtttest.TypePublish && pk.Topic == base+"/bridge/state" {
			out = append(out, fmt.Sprintf("%s retain=%v", pk.Payload, pk.Retain))
		}
	}
	return out
}

// TestBridge_LastWillOnConnectionLoss cuts the daemon's connection without
// a DISCONNECT, as a crash or a broken network does: the broker publishes
// the daemon's last will, bridge/state offline, retained (the daemon could
// not have sent it). When the daemon gets through again it is online.
func TestBridge_LastWillOnConnectionLoss(t *testing.T) {
	for _, b := range daemonBrokers() {
		t.Run(b.name, func(t *testing.T) {
			_, url, proxy := startBehindProxy(t, b)
			w := mqtttest.Connect(t, url)
			w.Subscribe(base + "/bridge/state")
			mark := w.Mark()
			// Before the cut the daemon published bridge/state itself:
			// offline as the check of the broker's retained messages at
			// start, then online.
			before := len(proxy.Sent())
			proxy.Cut()
			m, ok := w.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool { return m.Text() == "offline" })
			if !ok {
				t.Fatalf("no bridge/state offline after the connection was cut (the last will); got %v", w.Since(mark))
			}
			if got := mqtttest.Retained(t, url, base+"/bridge/state")[base+"/bridge/state"]; got.Text() != "offline" {
				t.Errorf("retained bridge/state %q after the will, want offline", got.Text())
			}
			for _, s := range bridgeState(proxy.Sent()[before:]) {
				if s != "online retain=true" {
					t.Errorf("the daemon itself published bridge/state %s: the offline must have come from the will (%q)", s, m.Text())
				}
			}
			mark = w.Mark()
			proxy.Resume()
			if _, ok := w.WaitSince(mark, 20*time.Second, func(m mqtttest.Msg) bool { return m.Text() == "online" }); !ok {
				t.Errorf("bridge/state not online again after the connection came back")
			}
		})
	}
}

// TestBridge_CleanStopPublishesOffline stops the daemon: it publishes
// bridge/state offline, retained, itself, then sends DISCONNECT (after
// which a broker drops the will, so nothing else would say offline).
func TestBridge_CleanStopPublishesOffline(t *testing.T) {
	for _, b := range daemonBrokers() {
		t.Run(b.name, func(t *testing.T) {
			d, url, proxy := startBehindProxy(t, b)
			d.stop()
			// The proxy may still be passing the last packets on.
			offline, disconnect := -1, -1
			deadline := time.Now().Add(5 * time.Second)
			for disconnect < 0 && time.Now().Before(deadline) {
				changed := proxy.Changed()
				for i, pk := range proxy.Sent() {
					switch {
					case pk.Type == mqtttest.TypePublish && pk.Topic == base+"/bridge/state" && string(pk.Payload) == "offline" && pk.Retain:
						offline = i
					case pk.Type == mqtttest.TypeDisconnect:
						disconnect = i
					}
				}
				if disconnect < 0 {
					select {
					case <-changed:
					case <-time.After(time.Until(deadline)):
					}
				}
			}
			if offline < 0 {
				t.Fatalf("the daemon published no retained bridge/state offline when it stopped (bridge/state: %v)", bridgeState(proxy.Sent()))
			}
			if disconnect < offline {
				t.Errorf("DISCONNECT at packet %d, offline at %d: want a clean disconnect after offline", disconnect, offline)
			}
			if got := mqtttest.Retained(t, url, base+"/bridge/state")[base+"/bridge/state"]; got.Text() != "offline" {
				t.Errorf("retained bridge/state %q after a clean stop, want offline", got.Text())
			}
		})
	}
}
