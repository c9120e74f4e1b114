package main_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/state"
)

// get fetches an HTTP URL and returns the status code and body (0 when
// nothing answers).
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// runCommand runs the binary with args and the environment env, and
// returns its exit code and output.
func runCommand(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// waitExit waits for the daemon to exit on its own and returns the code.
func (p *proc) waitExit(limit time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		p.t.Fatalf("daemon still running after %s", limit)
		return -1
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDaemon_EmbeddedBrokerSecurity runs the daemon with users (from an
// environment variable, a file and a bcrypt hash), a TLS and a WebSocket
// listener and the HTTP endpoint, at debug level: logins are checked on
// every listener, clients that are not the daemon cannot change its
// retained topics (even with the daemon's client id), a legitimate set
// works, /healthz and /metrics answer, and no password reaches the log or
// check-config's output.
func TestDaemon_EmbeddedBrokerSecurity(t *testing.T) {
	dir := t.TempDir()
	ca := mqtttest.NewCA(t, "pidicon test CA")
	cert, key := ca.Issue(t, "127.0.0.1")
	hash, err := bcrypt.GenerateFromPassword([]byte("carol-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	bobFile := writeFile(t, dir, "bob-password", "bob-secret\n")
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }
	plain, tlsAddr, wsAddr, httpAddr := addr(), addr(), addr(), addr()
	config := writeConfig(t, dir, fmt.Sprintf(`
log: {level: debug}
broker:
  listen: %q
  users:
    - {username: alice, password_env: ALICE_PASSWORD}
    - {username: bob, password_file: %q}
    - {username: carol, password_hash: '%s'}
  tls: {listen: %q, cert_file: %q, key_file: %q}
  websocket: {listen: %q}
http: {listen: %q}
state: {persist: false}
devices: [{id: demo, type: sim}]
`, plain, bobFile, hash, tlsAddr, cert, key, wsAddr, httpAddr))
	secrets := []string{"alice-secret", "bob-secret", "carol-secret", string(hash)}
	env := []string{"ALICE_PASSWORD=alice-secret"}

	d := startProc(t, config, env...)
	healthz := "http://" + httpAddr + "/healthz"
	mqtttest.WaitUntil(t, 15*time.Second, "/healthz answers ok", func() bool {
		code, body := get(healthz)
		return code == http.StatusOK && body == "ok\n"
	})

	url := "tcp://" + plain
	for _, login := range []mqtttest.Login{
		{},
		{Username: "alice", Password: "bob-secret"},
		{Username: "mallory", Password: "alice-secret"},
		{ClientID: "pidicon-mqtt-pidicon", Username: "bob", Password: "bob-secret"}, // the daemon's client id
		{Username: "alice", Password: "alice-secret", WillTopic: "pidicon/bridge/state", WillPayload: "offline", WillRetain: true},
	} {
		if _, err := mqtttest.TryConnect(t, url, login); err == nil {
			t.Errorf("login %+v accepted", login)
		}
	}
	alice := mqtttest.ConnectWith(t, url, mqtttest.Login{Username: "alice", Password: "alice-secret"})
	alice.Subscribe("pidicon/#")
	waitState(t, alice, "demo", func(s state.State) bool { return s.Brightness == 75 })
	bob := mqtttest.ConnectWith(t, "ssl://"+tlsAddr, mqtttest.Login{Username: "bob", Password: "bob-secret", TLS: ca.ClientTLS()})
	carol := mqtttest.ConnectWith(t, "ws://"+wsAddr+"/mqtt", mqtttest.Login{Username: "carol", Password: "carol-secret"})

	mark := alice.Mark()
	forged := `{"activeScene":"clock","playState":"stopped","brightness":3,"displayOn":false,"loggingLevel":"debug","timestamp":"2099-01-01T00:00:00.000Z"}`
	alice.Publish("pidicon/demo/state", forged, true)
	bob.Publish("pidicon/bridge/state", "offline", true)
	carol.Publish("pidicon/demo/brightness", "3", true)
	for _, tp := range []string{"pidicon/demo/state", "pidicon/bridge/state", "pidicon/demo/brightness"} {
		if _, ok := alice.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool {
			return m.Topic == "pidicon/bridge/event" && strings.Contains(m.Text(), `"topic":"`+tp+`"`) &&
				strings.Contains(m.Text(), "only the daemon publishes")
		}); !ok {
			t.Errorf("no event for the forged %s", tp)
		}
	}
	got := mqtttest.RetainedWith(t, url, mqtttest.Login{Username: "alice", Password: "alice-secret"}, "pidicon/#")
	if st, err := state.ParseStateJSON(got["pidicon/demo/state"].Payload); err != nil || st.Brightness != 75 {
		t.Errorf("retained state after the forgeries: %s (%v)", got["pidicon/demo/state"].Payload, err)
	}
	if got["pidicon/bridge/state"].Text() != "online" || got["pidicon/demo/brightness"].Text() != "75" {
		t.Errorf("bridge/state %q, brightness %q", got["pidicon/bridge/state"].Text(), got["pidicon/demo/brightness"].Text())
	}

	// Legitimate commands work on every listener.
	bob.Publish("pidicon/demo/brightness/set", "40", false)
	waitState(t, alice, "demo", func(s state.State) bool { return s.Brightness == 40 })
	carol.Publish("pidicon/demo/set", `{"brightness":41}`, false)
	waitState(t, alice, "demo", func(s state.State) bool { return s.Brightness == 41 })

	code, metrics := get("http://" + httpAddr + "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, metrics)
	}
	for _, want := range []string{
		"pidicon_ready 1\n",
		"pidicon_mqtt_connected 1\n",
		"# TYPE pidicon_mqtt_messages_received_total counter\n",
		"# TYPE pidicon_mqtt_messages_published_total counter\n",
		`pidicon_device_pushes_total{device="demo"} `,
		`pidicon_device_skipped_total{device="demo"} `,
		`pidicon_device_errors_total{device="demo"} `,
		`pidicon_device_online{device="demo"} 1`,
		"pidicon_broker_publishes_denied_total 3\n",
		"pidicon_broker_logins_refused_total 5\n",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
	if code, out := runCommand(t, []string{"PIDICON_HTTP_LISTEN=" + httpAddr}, "healthcheck"); code != 0 || out != "ok\n" {
		t.Errorf("healthcheck: exit %d, %q", code, out)
	}
	if code, out := runCommand(t, env, "check-config", "--config", config); code != 0 {
		t.Errorf("check-config: exit %d:\n%s", code, out)
	} else {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("check-config printed the secret %q", s)
			}
		}
	}

	if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if code, out := runCommand(t, []string{"PIDICON_HTTP_LISTEN=" + httpAddr}, "healthcheck"); code == 0 {
		t.Errorf("healthcheck of a stopped daemon: exit 0, %q", out)
	}
	logs := d.out.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds the secret %q", s)
		}
	}
	if !strings.Contains(logs, "refused") || !strings.Contains(logs, "only the daemon publishes") {
		t.Errorf("the log does not report refused logins and denied publishes:\n%s", logs)
	}
}

// TestDaemon_OpenBrokerNeedsUsers: an embedded broker that anyone could
// reach without a password is refused at start-up with a message that
// says how to fix it; broker.allow_anonymous: true starts with a warning.
func TestDaemon_OpenBrokerNeedsUsers(t *testing.T) {
	for name, tc := range map[string]struct{ broker, want string }{
		"non-loopback listener": {`{listen: "0.0.0.0:%d"}`, "add broker.users"},
		"websocket listener":    {`{listen: "127.0.0.1:%d", websocket: {listen: "127.0.0.1:0"}}`, "add broker.users"},
	} {
		t.Run(name, func(t *testing.T) {
			config := writeConfig(t, t.TempDir(), fmt.Sprintf("broker: "+tc.broker+"\nstate: {persist: false}\n", freePort(t)))
			d := startProc(t, config)
			if code := d.waitExit(5 * time.Second); code == 0 {
				t.Error("exit code 0")
			}
			out := d.out.String()
			if !strings.Contains(out, tc.want) || !strings.Contains(out, "allow_anonymous") {
				t.Errorf("the message does not say how to fix it:\n%s", out)
			}
		})
	}
	t.Run("allow_anonymous", func(t *testing.T) {
		port := freePort(t)
		config := writeConfig(t, t.TempDir(), fmt.Sprintf("broker: {listen: \"127.0.0.1:%d\", allow_anonymous: true}\nstate: {persist: false}\n", port))
		d := startProc(t, config)
		mqtttest.WaitAccepting(t, 10*time.Second, fmt.Sprintf("127.0.0.1:%d", port))
		mqtttest.WaitUntil(t, 5*time.Second, "a warning about allow_anonymous", func() bool {
			return strings.Contains(d.out.String(), "broker.allow_anonymous is on")
		})
		d.stop(syscall.SIGTERM, 5*time.Second)
	})
}

// TestDaemon_ExternalBrokerLogin connects a second daemon to the first
// one's embedded broker as a user: with the password from
// PIDICON_MQTT_PASSWORD it comes online, with a wrong one from
// mqtt.password_file it says why it cannot connect; neither password is
// logged, at debug level.
func TestDaemon_ExternalBrokerLogin(t *testing.T) {
	dir := t.TempDir()
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startProc(t, writeConfig(t, t.TempDir(), fmt.Sprintf(`
broker: {listen: %q, users: [{username: alice, password: alice-secret}]}
state: {persist: false}
devices: [{id: demo, type: sim}]
`, brokerAddr)))
	mqtttest.WaitAccepting(t, 10*time.Second, brokerAddr)
	url := "tcp://" + brokerAddr
	watch := mqtttest.ConnectWith(t, url, mqtttest.Login{Username: "alice", Password: "alice-secret"})
	watch.Subscribe("other/#")

	external := fmt.Sprintf(`
log: {level: debug}
mqtt: {url: %q, base_topic: other, username: alice}
state: {persist: false}
devices: [{id: lab, type: sim}]
`, url)
	t.Run("password from the environment", func(t *testing.T) {
		b := startProc(t, writeConfig(t, t.TempDir(), external), "PIDICON_MQTT_PASSWORD=alice-secret")
		watch.WaitFor(10*time.Second, "the second daemon online", func(m mqtttest.Msg) bool {
			return m.Topic == "other/bridge/state" && m.Text() == "online"
		})
		b.stop(syscall.SIGTERM, 5*time.Second)
		if strings.Contains(b.out.String(), "alice-secret") {
			t.Error("the log holds the password")
		}
	})
	t.Run("wrong password from a file", func(t *testing.T) {
		httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		file := writeFile(t, dir, "mqtt-password", "not-alices-password\n")
		b := startProc(t, writeConfig(t, t.TempDir(), external+fmt.Sprintf("http: {listen: %q}\n", httpAddr)),
			"PIDICON_MQTT_PASSWORD_FILE="+file)
		mqtttest.WaitUntil(t, 10*time.Second, "the refusal is logged with a hint", func() bool {
			out := b.out.String()
			return strings.Contains(out, "cannot connect to the MQTT broker") && strings.Contains(out, "check mqtt.username and mqtt.password")
		})
		code, body := get("http://" + httpAddr + "/healthz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "not connected") {
			t.Errorf("/healthz: %d %q", code, body)
		}
		b.stop(syscall.SIGTERM, 5*time.Second)
		if strings.Contains(b.out.String(), "not-alices-password") || strings.Contains(a.out.String(), "not-alices-password") {
			t.Error("a log holds the password")
		}
	})
	a.stop(syscall.SIGTERM, 5*time.Second)
	if strings.Contains(a.out.String(), "alice-secret") {
		t.Error("the broker's log holds the password")
	}
}

// TestDaemon_TLSToExternalBroker connects to a mosquitto TLS listener
// whose certificate a CA made in the test signed.
func TestDaemon_TLSToExternalBroker(t *testing.T) {
	ca := mqtttest.NewCA(t, "broker CA")
	cert, key := ca.Issue(t, "127.0.0.1", "broker.test")
	mosq := mqtttest.StartMosquitto(t, mqtttest.Options{CertFile: cert, KeyFile: key, Extra: []string{"set_tcp_nodelay true"}})
	wrongCA := mqtttest.NewCA(t, "another CA")
	run := func(t *testing.T, tlsCfg string, env ...string) (*proc, string) {
		t.Helper()
		httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		config := writeConfig(t, t.TempDir(), fmt.Sprintf(`
mqtt: {url: %q, base_topic: pidicon, tls: %s}
http: {listen: %q}
state: {persist: false}
devices: [{id: demo, type: sim}]
`, mosq.URL(), tlsCfg, httpAddr))
		return startProc(t, config, env...), "http://" + httpAddr + "/healthz"
	}
	online := func(t *testing.T) {
		t.Helper()
		c := mqtttest.Connect(t, mosq.PlainURL())
		c.Subscribe("pidicon/#")
		c.WaitFor(10*time.Second, "bridge/state online", func(m mqtttest.Msg) bool {
			return m.Topic == "pidicon/bridge/state" && m.Text() == "online"
		})
	}
	t.Run("trusted CA", func(t *testing.T) {
		d, healthz := run(t, fmt.Sprintf("{ca_file: %q}", ca.File))
		online(t)
		mqtttest.WaitUntil(t, 10*time.Second, "/healthz ok", func() bool { code, _ := get(healthz); return code == http.StatusOK })
		d.stop(syscall.SIGTERM, 5*time.Second)
	})
	t.Run("server name", func(t *testing.T) {
		d, _ := run(t, fmt.Sprintf("{ca_file: %q, server_name: broker.test}", ca.File))
		online(t)
		d.stop(syscall.SIGTERM, 5*time.Second)
	})
	t.Run("wrong CA", func(t *testing.T) {
		d, healthz := run(t, fmt.Sprintf("{ca_file: %q}", wrongCA.File))
		mqtttest.WaitUntil(t, 10*time.Second, "a clear error in the log", func() bool {
			out := d.out.String()
			return strings.Contains(out, "cannot connect to the MQTT broker") &&
				strings.Contains(out, "certificate signed by unknown authority") && strings.Contains(out, "mqtt.tls.ca_file")
		})
		code, body := get(healthz)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "unknown authority") {
			t.Errorf("/healthz: %d %q", code, body)
		}
		if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
			t.Errorf("exit code %d after SIGTERM while never connected", code)
		}
	})
	t.Run("wrong server name", func(t *testing.T) {
		d, _ := run(t, fmt.Sprintf("{ca_file: %q, server_name: other.test}", ca.File))
		mqtttest.WaitUntil(t, 10*time.Second, "a clear error in the log", func() bool {
			return strings.Contains(d.out.String(), "not valid for this host name")
		})
		d.stop(syscall.SIGTERM, 5*time.Second)
	})
	t.Run("insecure_skip_verify", func(t *testing.T) {
		d, _ := run(t, fmt.Sprintf("{ca_file: %q, insecure_skip_verify: true}", wrongCA.File))
		online(t)
		if !strings.Contains(d.out.String(), "insecure_skip_verify is on") {
			t.Errorf("no warning:\n%s", d.out.String())
		}
		d.stop(syscall.SIGTERM, 5*time.Second)
	})
}
