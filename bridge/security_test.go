package bridge_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/broker"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// daemonID is the daemon's client id on a secured broker.
const daemonID = "pidicon-mqtt-pidicon"

// users of the secured brokers: alice has a plain password, bob a bcrypt
// hash (lowest cost, so that the race detector does not slow the tests).
func users(t *testing.T) []broker.User {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("bob-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return []broker.User{
		{Username: "alice", Password: "alice-secret"},
		{Username: "bob", PasswordHash: hash},
	}
}

// secured starts the embedded broker as the daemon does: the daemon's
// client id reserved, users, the policy on the daemon's topics. Its auth
// log goes to the returned buffer (and the test's output).
func secured(t *testing.T, report *event.Log, tune func(*broker.Options)) (*broker.Broker, *testkit.Buffer) {
	t.Helper()
	logs := new(testkit.Buffer)
	opts := broker.Options{
		Listen:          "127.0.0.1:0",
		BaseTopic:       base,
		DiscoveryPrefix: "homeassistant",
		DaemonClientID:  daemonID,
		Users:           users(t),
		Logger:          slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})),
		AuthLogger:      slog.New(slog.NewTextHandler(logs, nil)),
		Report:          report.Report,
	}
	if tune != nil {
		tune(&opts)
	}
	b, err := broker.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, logs
}

// asDaemon makes a bridge log in with the broker's daemon identity.
func asDaemon(b *broker.Broker) setup {
	return func(o *bridge.Options) {
		o.ClientID = daemonID
		o.Username, o.Password = b.DaemonLogin()
	}
}

func TestBroker_Login(t *testing.T) {
	b, logs := secured(t, event.NewLog(50), nil)
	url := b.URL()
	_, daemonPassword := b.DaemonLogin()
	cases := []struct {
		name  string
		login mqtttest.Login
		ok    bool
	}{
		{"plain password", mqtttest.Login{Username: "alice", Password: "alice-secret"}, true},
		{"bcrypt hash", mqtttest.Login{Username: "bob", Password: "bob-secret"}, true},
		{"wrong password", mqtttest.Login{Username: "alice", Password: "bob-secret"}, false},
		{"wrong password of a hash", mqtttest.Login{Username: "bob", Password: "alice-secret"}, false},
		{"unknown user", mqtttest.Login{Username: "mallory", Password: "alice-secret"}, false},
		{"anonymous", mqtttest.Login{}, false},
		{"the daemon's client id with a user's login", mqtttest.Login{ClientID: daemonID, Username: "alice", Password: "alice-secret"}, false},
		{"the daemon's client id anonymously", mqtttest.Login{ClientID: daemonID}, false},
		{"the daemon's username, wrong password", mqtttest.Login{Username: broker.DaemonUsername, Password: "guess"}, false},
		{"the daemon's login with another client id", mqtttest.Login{Username: broker.DaemonUsername, Password: daemonPassword}, false},
		{"the daemon's login and client id", mqtttest.Login{ClientID: daemonID, Username: broker.DaemonUsername, Password: daemonPassword}, true},
		{"a will on the daemon's bridge/state", mqtttest.Login{Username: "alice", Password: "alice-secret",
			WillTopic: base + "/bridge/state", WillPayload: "offline", WillRetain: true}, false},
		{"a retained will on a set topic", mqtttest.Login{Username: "alice", Password: "alice-secret",
			WillTopic: topic("demo", "brightness/set"), WillPayload: "1", WillRetain: true}, false},
		{"a will on the user's own topic", mqtttest.Login{Username: "alice", Password: "alice-secret",
			WillTopic: "alice/status", WillPayload: "gone", WillRetain: true}, true},
	}
	refused := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mqtttest.TryConnect(t, url, tc.login)
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Error("accepted")
			}
		})
		if !tc.ok {
			refused++
		}
	}
	if got := b.Stats().LoginsRefused; got != uint64(refused) {
		t.Errorf("LoginsRefused = %d, want %d", got, refused)
	}
	// Logged (rate-limited), never with a password.
	out := logs.String()
	if !strings.Contains(out, "refused") {
		t.Errorf("no refused login in the log:\n%s", out)
	}
	for _, secret := range []string{"alice-secret", "bob-secret", daemonPassword, "guess"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds the password %q:\n%s", secret, out)
		}
	}
}

func TestBroker_AnonymousAccess(t *testing.T) {
	t.Run("no users: anyone", func(t *testing.T) {
		b, _ := secured(t, event.NewLog(50), func(o *broker.Options) { o.Users = nil })
		for _, login := range []mqtttest.Login{{}, {Username: "whoever", Password: "anything"}} {
			if _, err := mqtttest.TryConnect(t, b.URL(), login); err != nil {
				t.Errorf("%+v refused: %v", login, err)
			}
		}
	})
	t.Run("users and allow anonymous", func(t *testing.T) {
		b, _ := secured(t, event.NewLog(50), func(o *broker.Options) { o.AllowAnonymous = true })
		if _, err := mqtttest.TryConnect(t, b.URL(), mqtttest.Login{}); err != nil {
			t.Errorf("anonymous refused: %v", err)
		}
		if _, err := mqtttest.TryConnect(t, b.URL(), mqtttest.Login{Username: "alice", Password: "wrong"}); err == nil {
			t.Error("a wrong password accepted")
		}
	})
}

// TestBroker_OnlyTheDaemonPublishesState has clients that are not the
// daemon (one with valid credentials, one anonymous) try to overwrite the
// daemon's retained topics at QoS 0 and 1: every attempt is dropped and
// reported, the retained state stays, the clients stay connected, and a
// legitimate set still works.
func TestBroker_OnlyTheDaemonPublishesState(t *testing.T) {
	report := event.NewLog(50)
	b, _ := secured(t, report, func(o *broker.Options) { o.AllowAnonymous = true })
	url := b.URL()
	d := startDaemon(t, url, []string{"demo"}, report, asDaemon(b), withHA)

	before := mqtttest.Retained(t, url, base+"/#", "homeassistant/#")
	if len(before) == 0 || before[topic("demo", "state")].Text() == "" {
		t.Fatalf("no retained state before the test: %v", before)
	}
	var discovery string
	for tp := range before {
		if strings.HasPrefix(tp, "homeassistant/") && strings.HasSuffix(tp, "/config") {
			discovery = tp
			break
		}
	}
	if discovery == "" {
		t.Fatal("no discovery config retained")
	}

	watch := mqtttest.Connect(t, url)
	watch.Subscribe(base + "/bridge/event")
	alice := mqtttest.ConnectWith(t, url, mqtttest.Login{Username: "alice", Password: "alice-secret"})
	anon := mqtttest.Connect(t, url)
	forged := `{"activeScene":"clock","playState":"stopped","brightness":3,"displayOn":false,"loggingLevel":"debug","timestamp":"2099-01-01T00:00:00.000Z"}`
	attempts := []struct {
		topic, payload string
	}{
		{topic("demo", "state"), forged},
		{topic("demo", "brightness"), "3"},
		{topic("demo", "availability"), "offline"},
		{topic("demo", "metrics"), "{}"},
		{topic("demo", "frame"), "x"},
		{topic("demo", "state"), ""}, // delete the retained state
		{base + "/bridge/state", "offline"},
		{base + "/bridge/info", "{}"},
		{base + "/bridge/event", `{"level":"error"}`},
		{base + "/bridge/sync", daemonID},
		{discovery, ""},
	}
	mark := watch.Mark()
	for _, c := range []*mqtttest.Client{alice, anon} {
		for _, a := range attempts {
			c.PublishBytes(a.topic, []byte(a.payload), true) // QoS 1: acknowledged, dropped
			c.PublishQoS0(a.topic, a.payload, true)
		}
	}
	want := 2 * 2 * len(attempts)
	mqtttest.WaitUntil(t, 5*time.Second, "every attempt counted", func() bool { return b.Stats().PublishesDenied == uint64(want) })

	// One event per attempt, naming the topic and why.
	for _, a := range attempts {
		ev, ok := watch.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool {
			return m.Topic == base+"/bridge/event" && strings.Contains(m.Text(), `"topic":"`+a.topic+`"`)
		})
		if !ok {
			t.Errorf("no event for the attempt on %s", a.topic)
			continue
		}
		if !strings.Contains(ev.Text(), "only the daemon publishes") {
			t.Errorf("event %s does not say why", ev.Payload)
		}
		if strings.HasPrefix(a.topic, base+"/demo/") && !strings.Contains(ev.Text(), `"device":"demo"`) {
			t.Errorf("event %s does not name the device", ev.Payload)
		}
	}

	after := mqtttest.Retained(t, url, base+"/#", "homeassistant/#")
	for tp, m := range before {
		if tp == topic("demo", "metrics") || tp == topic("demo", "frame") {
			continue // the daemon itself updates these
		}
		if got := after[tp]; !bytes.Equal(got.Payload, m.Payload) {
			t.Errorf("retained %s changed: %q, was %q", tp, got.Payload, m.Payload)
		}
	}
	if !alice.Connected() || !anon.Connected() {
		t.Error("a client was disconnected for a denied publish")
	}
	if st, _ := d.store.Get("demo"); st.Brightness != 75 {
		t.Errorf("store brightness %d, want 75", st.Brightness)
	}

	// A legitimate set still works, from both.
	alice.Subscribe(base + "/#")
	alice.Publish(topic("demo", "brightness/set"), "40", false)
	waitState(t, alice, "demo", func(s state.State) bool { return s.Brightness == 40 })
	anon.Publish(topic("demo", "set"), `{"brightness":41}`, false)
	waitState(t, alice, "demo", func(s state.State) bool { return s.Brightness == 41 })

	// Outside the daemon's namespaces a client publishes what it likes.
	alice.Publish("alice/lamp", "on", true)
	alice.Publish("homeassistant/status", "online", false)
	if got := mqtttest.Retained(t, url, "alice/#"); got["alice/lamp"].Text() != "on" {
		t.Errorf("alice's own retained topic: %v", got)
	}
}

// TestBroker_DaemonClientIDCannotBeTakenOver checks that a client using
// the daemon's client id (which would take over its session and fire its
// will, bridge/state offline) is refused, and the daemon stays online.
func TestBroker_DaemonClientIDCannotBeTakenOver(t *testing.T) {
	report := event.NewLog(50)
	b, _ := secured(t, report, func(o *broker.Options) { o.AllowAnonymous = true })
	url := b.URL()
	startDaemon(t, url, []string{"demo"}, report, asDaemon(b))
	watch := mqtttest.Connect(t, url)
	watch.Subscribe(base + "/#")
	mark := watch.Mark()
	for _, login := range []mqtttest.Login{
		{ClientID: daemonID},
		{ClientID: daemonID, Username: "alice", Password: "alice-secret"},
		{ClientID: daemonID, Username: broker.DaemonUsername, Password: "guess"},
	} {
		if _, err := mqtttest.TryConnect(t, url, login); err == nil {
			t.Errorf("%+v connected with the daemon's client id", login)
		}
	}
	watch.Publish(topic("demo", "brightness/set"), "12", false)
	waitState(t, watch, "demo", func(s state.State) bool { return s.Brightness == 12 })
	for _, m := range watch.Since(mark) {
		if m.Topic == base+"/bridge/state" && m.Text() == "offline" {
			t.Error("bridge/state went offline: the daemon's session was taken over")
		}
	}
}

// TestBroker_TLSAndWebSocketListeners logs in over the TLS listener and
// over WebSocket (ws:// and wss://): the same users and the same policy.
func TestBroker_TLSAndWebSocketListeners(t *testing.T) {
	ca := mqtttest.NewCA(t, "test CA")
	cert, key := ca.Issue(t, "127.0.0.1", "localhost")
	pair := loadPair(t, cert, key)
	report := event.NewLog(50)
	b, _ := secured(t, report, func(o *broker.Options) {
		o.AllowAnonymous = true // for the harness's own watcher on the plain listener
		o.TLS = broker.ListenerOptions{Listen: "127.0.0.1:0", TLSCfg: pair}
		o.WebSocket = broker.ListenerOptions{Listen: "127.0.0.1:0"}
	})
	wss, _ := secured(t, report, func(o *broker.Options) {
		o.WebSocket = broker.ListenerOptions{Listen: "127.0.0.1:0", TLSCfg: pair}
	})
	startDaemon(t, b.URL(), []string{"demo"}, report, asDaemon(b))

	alice := mqtttest.Login{Username: "alice", Password: "alice-secret", TLS: ca.ClientTLS()}
	urls := map[string]string{
		"tls":       "ssl://" + b.TLSAddr(),
		"websocket": "ws://" + b.WebSocketAddr() + "/mqtt",
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			c := mqtttest.ConnectWith(t, url, alice)
			c.Subscribe(base + "/#")
			waitState(t, c, "demo", func(state.State) bool { return true })
			c.Publish(topic("demo", "brightness"), "1", true) // dropped
			c.Publish(topic("demo", "brightness/set"), "33", false)
			waitState(t, c, "demo", func(s state.State) bool { return s.Brightness == 33 })
			if got := mqtttest.Retained(t, b.URL(), topic("demo", "brightness")); got[topic("demo", "brightness")].Text() != "33" {
				t.Errorf("retained brightness %v, want 33", got)
			}
			c.Publish(topic("demo", "brightness/set"), "75", false)
			waitState(t, c, "demo", func(s state.State) bool { return s.Brightness == 75 })

			wrong := alice
			wrong.Password = "wrong"
			if _, err := mqtttest.TryConnect(t, url, wrong); err == nil {
				t.Error("a wrong password accepted")
			}
			if _, err := mqtttest.TryConnect(t, url, mqtttest.Login{TLS: ca.ClientTLS()}); err != nil {
				t.Errorf("anonymous refused although allowed: %v", err)
			}
		})
	}
	t.Run("wss", func(t *testing.T) {
		url := "wss://" + wss.WebSocketAddr() + "/mqtt"
		c := mqtttest.ConnectWith(t, url, alice)
		c.Publish("alice/hello", "hi", true)
		if _, err := mqtttest.TryConnect(t, url, mqtttest.Login{TLS: ca.ClientTLS()}); err == nil {
			t.Error("anonymous accepted on a broker with users")
		}
	})
	t.Run("tls with an unknown CA", func(t *testing.T) {
		other := mqtttest.NewCA(t, "another CA")
		_, err := mqtttest.TryConnect(t, urls["tls"], mqtttest.Login{Username: "alice", Password: "alice-secret", TLS: other.ClientTLS()})
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("error %v, want a certificate error", err)
		}
	})
}

// TestBroker_ListenerAddressInUse: a busy port fails the start-up instead
// of leaving the broker without that listener.
func TestBroker_ListenerAddressInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = broker.Start(broker.Options{
		Listen:    "127.0.0.1:0",
		BaseTopic: base,
		WebSocket: broker.ListenerOptions{Listen: busy.Addr().String()},
	})
	if err == nil || !strings.Contains(err.Error(), "WebSocket") {
		t.Errorf("error %v, want one about the WebSocket listener", err)
	}
}

// TestBridge_ReadyAndStats checks the readiness and counters behind
// /healthz and /metrics.
func TestBridge_ReadyAndStats(t *testing.T) {
	report := event.NewLog(50)
	url := embedded(t, report).URL()
	d := startDaemon(t, url, []string{"demo", "lab"}, report)
	if err := d.bridge.Ready(); err != nil {
		t.Errorf("Ready() = %v once online", err)
	}
	c := mqtttest.Connect(t, url)
	c.Subscribe(base + "/#")
	received := d.bridge.Stats().Received
	c.Publish(topic("demo", "brightness/set"), "20", false)
	waitState(t, c, "demo", func(s state.State) bool { return s.Brightness == 20 })
	mqtttest.WaitUntil(t, 5*time.Second, "metrics of both devices", func() bool {
		s := d.bridge.Stats()
		return len(s.Devices) == 2 && s.Devices[0].Online && s.Devices[1].Online &&
			s.Devices[0].Metrics.Pushes > 0 && s.Devices[1].Metrics.Pushes > 0
	})
	s := d.bridge.Stats()
	if !s.Connected || !s.Restored || s.Received <= received || s.Published == 0 {
		t.Errorf("stats %+v", s)
	}
	if s.Devices[0].ID != "demo" || s.Devices[1].ID != "lab" {
		t.Errorf("devices %s, %s: want config order", s.Devices[0].ID, s.Devices[1].ID)
	}
	d.stop()
	if err := d.bridge.Ready(); err == nil {
		t.Error("still ready after shutdown")
	}
}

// TestBridge_ConnectFailureIsExplained: a broker whose certificate is not
// signed by the configured CA never connects; the log and Ready say why.
func TestBridge_ConnectFailureIsExplained(t *testing.T) {
	// The MQTT client's connect loop sleeps a second between attempts and
	// ends after the bridge: wait for it, so that TestMain's leak check
	// does not find it.
	ignore := goleak.IgnoreCurrent()
	ca := mqtttest.NewCA(t, "broker CA")
	cert, key := ca.Issue(t, "127.0.0.1")
	b, err := broker.Start(broker.Options{
		Listen:    "127.0.0.1:0",
		BaseTopic: base,
		Users:     users(t),
		TLS:       broker.ListenerOptions{Listen: "127.0.0.1:0", TLSCfg: loadPair(t, cert, key)},
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := new(testkit.Buffer)
	br := bridge.New(bridge.Options{
		URL:       "ssl://" + b.TLSAddr(),
		BaseTopic: base,
		ClientID:  "pidicon-tls-test",
		Username:  "alice",
		Password:  "alice-secret",
		TLS:       mqtttest.NewCA(t, "the wrong CA").ClientTLS(),
		Logger:    slog.New(slog.NewTextHandler(logs, nil)),
		Store:     state.NewStore(),
	})
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- br.Run(ctx) }()
	mqtttest.WaitUntil(t, 10*time.Second, "the connection failure is logged", func() bool {
		return strings.Contains(logs.String(), "cannot connect to the MQTT broker")
	})
	out := logs.String()
	if !strings.Contains(out, "certificate signed by unknown authority") || !strings.Contains(out, "mqtt.tls.ca_file") {
		t.Errorf("the log does not say why or what to do:\n%s", out)
	}
	if err := br.Ready(); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("Ready() = %v, want the certificate error", err)
	}
	if strings.Contains(out, "alice-secret") {
		t.Error("the log holds the password")
	}
	cancel()
	<-done
	b.Close()
	mqtttest.WaitUntil(t, 10*time.Second, "the MQTT client's goroutines end", func() bool { return goleak.Find(ignore) == nil })
}

func loadPair(t *testing.T, certFile, keyFile string) *tls.Config {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// TestBroker_NoSweepLoginWhenTheCheckIsInconclusive: when the start-up
// check of the broker cannot finish, the daemon looks for retained
// commands on their exact topics, over a second connection. The embedded
// broker refuses retained commands, and the daemon's login is good for the
// daemon's client id only, so there the daemon must not try: it would be
// refused and warn of a fault that is not there.
func TestBroker_NoSweepLoginWhenTheCheckIsInconclusive(t *testing.T) {
	report := event.NewLog(50)
	b, logs := secured(t, report, func(o *broker.Options) { o.AllowAnonymous = true })
	d := startDaemon(t, b.URL(), []string{"demo"}, report, asDaemon(b), func(o *bridge.Options) {
		o.RestoreWait = time.Nanosecond // the check cannot finish
		o.RetainedCommandsRefused = true
	})
	d.stop() // waits for a look in progress, if any
	if got := b.Stats().LoginsRefused; got != 0 {
		t.Errorf("the broker refused %d logins:\n%s", got, logs.String())
	}
}
