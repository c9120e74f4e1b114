package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pidicon/pidicon-mqtt/broker"

	"golang.org/x/crypto/bcrypt"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
)

// bcryptHash is a bcrypt hash of "carol-secret" (lowest cost: fast tests).
func bcryptHash(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("carol-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestConfig_ValidateSecurity(t *testing.T) {
	cases := []refusal{
		{"user without a name", "broker: {users: [{password: x}]}", "username is empty"},
		{"reserved username", "broker: {users: [{username: " + broker.DaemonUsername + ", password: x}]}", "reserved"},
		{"duplicate username", "broker: {users: [{username: a, password: x}, {username: a, password: y}]}", "also used"},
		{"user without a password", "broker: {users: [{username: a}]}", "exactly one"},
		{"user with two passwords", "broker: {users: [{username: a, password: x, password_env: A}]}", "exactly one"},
		{"bad bcrypt hash", "broker: {users: [{username: a, password_hash: 'plain'}]}", "bcrypt"},
		{"TLS listener without certificate", "broker: {tls: {listen: '127.0.0.1:8883'}}", "cert_file and key_file"},
		{"TLS certificate without listener", "broker: {tls: {cert_file: c.pem, key_file: k.pem}}", "no listen address"},
		{"open TLS listener without users", "broker: {tls: {listen: '0.0.0.0:8883', cert_file: c.pem, key_file: k.pem}}", "broker.tls.listen"},
		{"WebSocket without users", "broker: {websocket: {listen: '127.0.0.1:9001'}}", "web page"},
		{"wss with a certificate only", "broker: {users: [{username: a, password: x}], websocket: {listen: '127.0.0.1:9001', cert_file: c.pem}}", "go together"},
		{"two listeners on one address", "broker: {listen: '127.0.0.1:1883', users: [{username: a, password: x}], websocket: {listen: '127.0.0.1:1883'}}", "listens there too"},
		{"bad listen address", "broker: {listen: 'localhost'}", "host:port"},
		{"http.listen on the broker's address", "http: {listen: '127.0.0.1:1883'}", "listens there too"},
		{"bad http.listen", "http: {listen: '8080'}", "http.listen"},
		{"password and password_file", "mqtt: {url: 'tcp://h:1883', password: x, password_file: /run/secrets/p}", "both set"},
		{"TLS settings on a plain URL", "mqtt: {url: 'tcp://h:1883', tls: {ca_file: ca.pem}}", "does not use TLS"},
		{"TLS settings on the embedded broker", "mqtt: {tls: {ca_file: ca.pem}}", "external broker"},
		{"client certificate without key", "mqtt: {url: 'ssl://h:8883', tls: {cert_file: c.pem}}", "go together"},
		{"login in the URL and username", "mqtt: {url: 'tcp://u:p@h:1883', username: u}", "has a login"},
		{"bad URL", "mqtt: {url: 'tcp://h:port'}", "mqtt.url"},
		{"URL without host", "mqtt: {url: 'tcp:///x'}", "no host"},
	}
	checkRefused(t, cases)
}

func TestConfig_SecureSetupsAreValid(t *testing.T) {
	for name, text := range map[string]string{
		"open listener with users":      "broker: {listen: '0.0.0.0:1883', users: [{username: a, password_env: A_PASSWORD}]}",
		"WebSocket with users":          "broker: {users: [{username: a, password: x}], websocket: {listen: '0.0.0.0:9001'}}",
		"WebSocket and allow_anonymous": "broker: {allow_anonymous: true, websocket: {listen: '127.0.0.1:9001'}}",
		"TLS to an external broker":     "mqtt: {url: 'mqtts://h:8883', username: u, password_file: /run/secrets/p, tls: {ca_file: ca.pem, server_name: broker.lan}}",
		"ports chosen at run time":      "broker: {listen: '127.0.0.1:0', users: [{username: a, password: x}], websocket: {listen: '127.0.0.1:0'}}",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := loadYAML(t, text, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}

func TestSecrets_Load(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	bobFile := write("bob", "bob-secret\n") // as echo writes it
	mqttFile := write("mqtt", "mqtt-secret\r\n")
	hash := bcryptHash(t)

	t.Run("broker users", func(t *testing.T) {
		cfg, err := loadYAML(t, `
broker:
  users:
    - {username: alice, password_env: ALICE_PASSWORD}
    - {username: bob, password_file: `+bobFile+`}
    - {username: carol, password_hash: '`+hash+`'}
    - {username: dave, password: dave-secret}
`, nil)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := prepare(cfg, env(map[string]string{"ALICE_PASSWORD": "alice-secret"}))
		if err != nil {
			t.Fatal(err)
		}
		want := []broker.User{
			{Username: "alice", Password: "alice-secret"},
			{Username: "bob", Password: "bob-secret"},
			{Username: "carol", PasswordHash: []byte(hash)},
			{Username: "dave", Password: "dave-secret"},
		}
		if len(sec.users) != len(want) {
			t.Fatalf("users %+v", sec.users)
		}
		for i, u := range sec.users {
			if u.Username != want[i].Username || u.Password != want[i].Password || !bytes.Equal(u.PasswordHash, want[i].PasswordHash) {
				t.Errorf("user %d = %+v, want %+v", i, u, want[i])
			}
		}
	})
	t.Run("mqtt password from a file", func(t *testing.T) {
		cfg, err := loadYAML(t, "mqtt: {url: 'tcp://h:1883', username: u, password_file: "+mqttFile+"}", nil)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := prepare(cfg, env(nil))
		if err != nil || sec.mqttPassword != "mqtt-secret" || sec.mqttUsername != "u" {
			t.Errorf("password %q user %q err %v", sec.mqttPassword, sec.mqttUsername, err)
		}
	})
	t.Run("mqtt password from PIDICON_MQTT_PASSWORD", func(t *testing.T) {
		cfg, err := loadYAML(t, "mqtt: {url: 'tcp://h:1883', username: u}", map[string]string{"PIDICON_MQTT_PASSWORD": "env-secret"})
		if err != nil {
			t.Fatal(err)
		}
		sec, err := prepare(cfg, env(nil))
		if err != nil || sec.mqttPassword != "env-secret" {
			t.Errorf("password %q err %v", sec.mqttPassword, err)
		}
	})
	t.Run("login in the URL", func(t *testing.T) {
		cfg, err := loadYAML(t, "mqtt: {url: 'tcp://u:url-secret@h:1883'}", nil)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := prepare(cfg, env(nil))
		if err != nil || sec.mqttURL != "tcp://h:1883" || sec.mqttUsername != "u" || sec.mqttPassword != "url-secret" {
			t.Errorf("url %q user %q password %q err %v", sec.mqttURL, sec.mqttUsername, sec.mqttPassword, err)
		}
	})
	t.Run("TLS", func(t *testing.T) {
		ca := mqtttest.NewCA(t, "test CA")
		cert, key := ca.Issue(t, "127.0.0.1")
		cfg, err := loadYAML(t, "mqtt: {url: 'ssl://127.0.0.1:8883', tls: {ca_file: "+ca.File+", cert_file: "+cert+", key_file: "+key+", server_name: broker.lan}}", nil)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := prepare(cfg, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if c := sec.mqttTLS; c == nil || c.RootCAs == nil || len(c.Certificates) != 1 || c.ServerName != "broker.lan" || c.InsecureSkipVerify {
			t.Errorf("TLS config %+v", c)
		}
		cfg, err = loadYAML(t, "mqtt: {url: 'tcp://127.0.0.1:1883'}", nil)
		if err != nil {
			t.Fatal(err)
		}
		if sec, _ := prepare(cfg, env(nil)); sec.mqttTLS != nil {
			t.Error("TLS on a tcp:// URL")
		}
	})
	t.Run("problems", func(t *testing.T) {
		notPEM := write("not-pem", "hello")
		empty := write("empty", "\n")
		cases := []struct{ name, yaml, want string }{
			{"unset variable", "broker: {users: [{username: a, password_env: NOT_SET}]}", "NOT_SET is not set"},
			{"missing file", "broker: {users: [{username: a, password_file: " + filepath.Join(dir, "nope") + "}]}", "no such file"},
			{"empty file", "broker: {users: [{username: a, password_file: " + empty + "}]}", "is empty"},
			{"missing mqtt password file", "mqtt: {url: 'tcp://h:1883', password_file: " + filepath.Join(dir, "nope") + "}", "mqtt.password_file"},
			{"CA file without certificate", "mqtt: {url: 'ssl://h:8883', tls: {ca_file: " + notPEM + "}}", "no PEM certificate"},
			{"broker certificate missing", "broker: {users: [{username: a, password: x}], tls: {listen: '127.0.0.1:8883', cert_file: " +
				filepath.Join(dir, "nope") + ", key_file: " + filepath.Join(dir, "nope") + "}}", "broker.tls"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				cfg, err := loadYAML(t, tc.yaml, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, err = prepare(cfg, env(nil))
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want one mentioning %q", err, tc.want)
				}
			})
		}
	})
}

// TestCheckConfig_Problems runs check-config on configs with each kind of
// problem the contract lists: it fails, naming each one.
func TestCheckConfig_Problems(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "mqtt: {ulr: 'tcp://h:1883'}", []string{"ulr"}},
		{"unknown nested key", "broker: {users: [{username: a, pasword: x}]}", []string{"pasword"}},
		{"bad id", "devices: [{id: Kitchen, type: sim}]", []string{`"Kitchen"`}},
		{"duplicate id", "devices: [{id: a, type: sim}, {id: a, type: sim}]", []string{`id "a" is also used`}},
		{"duplicate host", "devices: [{id: a, type: pixoo64, host: 10.0.0.1}, {id: b, type: pixoo64, host: 10.0.0.1}]", []string{`host "10.0.0.1" is also used`}},
		{"bad duration", "state: {debounce: soon}", []string{"state.debounce"}},
		{"bad probe interval", "devices: [{id: a, type: sim, probe_interval: often}]", []string{"probe_interval"}},
		{"bad URL", "mqtt: {url: 'http://h:1883'}", []string{"mqtt.url", "scheme"}},
		{"everything at once",
			"mqtt: {ulr: x, url: 'tcp//h'}\nstate: {debounce: soon}\ndevices: [{id: Bad, type: sim}, {id: a, type: sim}, {id: a, type: sim}]",
			[]string{"ulr", "state.debounce", "mqtt.url", `"Bad"`, `id "a" is also used`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := checkConfig(path, &out, env(nil))
			if err == nil {
				t.Fatalf("check-config passed:\n%s", out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q missing from:\n%v", w, err)
				}
			}
		})
	}
}

// TestCheckConfig_RedactsSecrets prints a config full of secrets: none of
// them appears, the rest does.
func TestCheckConfig_RedactsSecrets(t *testing.T) {
	hash := bcryptHash(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	text := `
mqtt: {url: 'tcp://user:url-secret@127.0.0.1:1883', password: mqtt-secret}
broker:
  users:
    - {username: dave, password: dave-secret}
    - {username: carol, password_hash: '` + hash + `'}
    - {username: alice, password_env: ALICE_PASSWORD}
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := checkConfig(path, &out, env(map[string]string{"ALICE_PASSWORD": "alice-secret"}))
	if err == nil {
		t.Fatal("a login in mqtt.url with mqtt.password set passed")
	}
	// Valid once the URL has no login of its own.
	text = strings.Replace(text, "user:url-secret@", "", 1)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkConfig(path, &out, env(map[string]string{"ALICE_PASSWORD": "alice-secret"})); err != nil {
		t.Fatal(err)
	}
	printed := out.String()
	for _, secret := range []string{"mqtt-secret", "dave-secret", hash, "alice-secret", "url-secret"} {
		if strings.Contains(printed, secret) {
			t.Errorf("check-config printed the secret %q:\n%s", secret, printed)
		}
	}
	for _, want := range []string{redacted, "password_env: ALICE_PASSWORD", "username: carol", "startup_scene: startup"} {
		if !strings.Contains(printed, want) {
			t.Errorf("%q missing from:\n%s", want, printed)
		}
	}

	cfg, err := loadYAML(t, "mqtt: {url: 'tcp://user:url-secret@127.0.0.1:1883'}", nil)
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := effectiveConfig(cfg)
	if err != nil || strings.Contains(string(rendered), "url-secret") || !strings.Contains(string(rendered), "user:xxxxx@") {
		t.Errorf("mqtt.url with a login rendered as:\n%s (%v)", rendered, err)
	}
}

func TestHealthURL(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080/healthz",
		":8080":          "http://127.0.0.1:8080/healthz",
		"0.0.0.0:8080":   "http://127.0.0.1:8080/healthz",
		"[::]:8080":      "http://[::1]:8080/healthz",
		"10.0.0.2:9000":  "http://10.0.0.2:9000/healthz",
	} {
		if got, err := healthURL(listen); err != nil || got != want {
			t.Errorf("healthURL(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
}

func TestHashPassword(t *testing.T) {
	var out bytes.Buffer
	if err := hashPassword(strings.NewReader("s3cret\n"), &out); err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(out.String())
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")); err != nil {
		t.Errorf("%q is not a hash of the password: %v", hash, err)
	}
	if err := hashPassword(strings.NewReader(""), &out); err == nil {
		t.Error("no error without a password")
	}
}

func TestPrometheusLabel(t *testing.T) {
	if got, want := label("version", "v1 \"x\"\\\n"), `{version="v1 \"x\"\\\n"}`; got != want {
		t.Errorf("label = %s, want %s", got, want)
	}
}

// TestConfig_ComposeExampleIsValid checks examples/config.yaml as
// examples/docker-compose.yml runs it (the password from a secret file).
func TestConfig_ComposeExampleIsValid(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "mqtt_password")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PIDICON_MQTT_PASSWORD_FILE", secret)
	cfg, err := loadConfig("../../examples/config.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	sec, err := prepare(cfg, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if sec.mqttURL != "tcp://mosquitto:1883" || sec.mqttUsername != "pidicon" || sec.mqttPassword != "s3cret" {
		t.Errorf("url %q user %q password %q", sec.mqttURL, sec.mqttUsername, sec.mqttPassword)
	}
}
