package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/broker"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/web"
)

// guarded serves what serveHTTP serves for cfg and users, on a test server
// (the decision follows cfg.Listen, not where the test listens), with a
// page that answers "page".
func guarded(t *testing.T, cfg HTTPConfig, users []broker.User) (*httptest.Server, *webAccess) {
	t.Helper()
	o := &observed{bridge: bridge.New(bridge.Options{BaseTopic: "pidicon"})}
	access := newWebAccess(cfg, users, slog.New(slog.NewTextHandler(t.Output(), nil)))
	o.access = access
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })
	srv := httptest.NewServer(o.handler(access.guard(page)))
	t.Cleanup(srv.Close)
	return srv, access
}

// call makes a request and returns the status, the body and the
// WWW-Authenticate header.
func call(t *testing.T, method, url, host string, login []string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if len(login) == 2 {
		req.SetBasicAuth(login[0], login[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("WWW-Authenticate")
}

// TestWebAccess is CONTRACT §9's security: /healthz and /metrics open on
// any address; on a non-loopback address the page needs http.users or
// http.allow_anonymous, else 403 saying how; logins with bcrypt or plain
// passwords; on loopback without logins, only the local names (DNS
// rebinding).
func TestWebAccess(t *testing.T) {
	hash := bcryptHash(t) // "carol-secret"
	users := []broker.User{{Username: "alice", Password: "alice-secret"}, {Username: "carol", PasswordHash: []byte(hash)}}
	type request struct {
		method, path, host string
		login              []string
		want               int
		text               string
	}
	open := func(path string) request { return request{method: "GET", path: path, want: 0} } // 0: not 401, not 403
	for _, tc := range []struct {
		name     string
		cfg      HTTPConfig
		users    []broker.User
		requests []request
	}{
		{"non-loopback without users", HTTPConfig{Listen: "0.0.0.0:8080"}, nil, []request{
			{method: "GET", path: "/", want: 403, text: "http.users"},
			{method: "GET", path: "/", want: 403, text: "http.allow_anonymous: true"},
			{method: "POST", path: "/api/command", want: 403},
			{method: "GET", path: "/api/stream", login: []string{"alice", "alice-secret"}, want: 403},
			open("/healthz"), open("/metrics"),
		}},
		{"non-loopback, anonymous allowed", HTTPConfig{Listen: "0.0.0.0:8080", AllowAnonymous: true}, nil, []request{
			{method: "GET", path: "/", host: "192.168.1.5:8080", want: 200, text: "page"},
		}},
		{"non-loopback with users", HTTPConfig{Listen: ":8080"}, users, []request{
			{method: "GET", path: "/", want: 401, text: "log in"},
			{method: "GET", path: "/", login: []string{"alice", "wrong"}, want: 401, text: "wrong"},
			{method: "GET", path: "/", login: []string{"nobody", "alice-secret"}, want: 401},
			{method: "GET", path: "/", login: []string{"alice", "alice-secret"}, want: 200, text: "page"},
			{method: "GET", path: "/", login: []string{"carol", "carol-secret"}, want: 200, text: "page"},
			{method: "GET", path: "/api/frame/demo", login: []string{"carol", "carol-secret"}, want: 200, text: "page"}, // checked once
			{method: "GET", path: "/", login: []string{"carol", "carol-secrets"}, want: 401},
			open("/healthz"), open("/metrics"),
		}},
		{"loopback with users", HTTPConfig{Listen: "127.0.0.1:8080"}, users, []request{
			{method: "GET", path: "/", want: 401},
			{method: "GET", path: "/", login: []string{"alice", "alice-secret"}, want: 200},
		}},
		{"users and anonymous", HTTPConfig{Listen: "0.0.0.0:8080", AllowAnonymous: true}, users, []request{
			{method: "GET", path: "/", want: 200},
			{method: "GET", path: "/", login: []string{"alice", "wrong"}, want: 401},
		}},
		{"loopback without users", HTTPConfig{Listen: "127.0.0.1:8080"}, nil, []request{
			{method: "GET", path: "/", host: "127.0.0.1:8080", want: 200},
			{method: "GET", path: "/", host: "localhost:8080", want: 200},
			{method: "GET", path: "/", host: "[::1]:8080", want: 200},
			{method: "GET", path: "/", host: "pidicon.localhost", want: 200},
			{method: "GET", path: "/", host: "attacker.example:8080", want: 403, text: "local address only"},
			{method: "POST", path: "/api/command", host: "attacker.example", want: 403},
			{method: "GET", path: "/healthz", host: "attacker.example", want: 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, access := guarded(t, tc.cfg, tc.users)
			var refused uint64
			for _, r := range tc.requests {
				code, body, challenge := call(t, r.method, srv.URL+r.path, r.host, r.login)
				switch {
				case r.want == 0 && (code == 401 || code == 403):
					t.Errorf("%s %s: %d %s, want it open", r.method, r.path, code, body)
				case r.want != 0 && code != r.want:
					t.Errorf("%s %s (host %q, login %v): %d %q, want %d", r.method, r.path, r.host, r.login, code, body, r.want)
				case !strings.Contains(body, r.text):
					t.Errorf("%s %s: %q lacks %q", r.method, r.path, body, r.text)
				}
				if code == 401 && !strings.HasPrefix(challenge, "Basic ") {
					t.Errorf("%s %s: 401 without a Basic challenge", r.method, r.path)
				}
				if code == 401 && len(r.login) == 2 {
					refused++
				}
			}
			if got := access.refused.Load(); got != refused {
				t.Errorf("%d refused logins counted, want %d", got, refused)
			}
		})
	}
}

// TestServeHTTP_AddressTaken: the default address taken (another daemon
// on this machine) is a warning and the daemon runs without the page; an
// address set in the config or the environment that cannot be used stops
// the start-up.
func TestServeHTTP_AddressTaken(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	b := bridge.New(bridge.Options{BaseTopic: "pidicon"})
	for _, isDefault := range []bool{true, false} {
		var logs testkit.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		page := web.New(web.Options{Bridge: b, Events: event.NewLog(1), BaseTopic: "pidicon"})
		cfg := HTTPConfig{Listen: held.Addr().String(), listenIsDefault: isDefault}
		stop, err := serveHTTP(cfg, nil, &observed{bridge: b}, page, log)
		switch {
		case isDefault && err != nil:
			t.Errorf("the default address taken: %v, want a warning", err)
		case isDefault && !strings.Contains(logs.String(), "level=WARN") || isDefault && !strings.Contains(logs.String(), "taken"):
			t.Errorf("the default address taken: no warning in %q", logs.String())
		case !isDefault && (err == nil || !strings.Contains(err.Error(), "http.listen")):
			t.Errorf("an address set in the config taken: %v, want an error naming http.listen", err)
		}
		if stop != nil {
			stop()
		}
	}
}

// TestConfig_HTTPListen: the page is on 127.0.0.1:8080 unless the config
// or the environment says otherwise; only then is a taken address fatal.
func TestConfig_HTTPListen(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		vars       map[string]string
		listen     string
		isDefault  bool
	}{
		{"nothing set", "state: {persist: false}", nil, DefaultHTTPListen, true},
		{"in the file", "http: {listen: '127.0.0.1:9090'}", nil, "127.0.0.1:9090", false},
		{"the default, written in the file", "http: {listen: '127.0.0.1:8080'}", nil, DefaultHTTPListen, false},
		{"in the environment", "state: {persist: false}", map[string]string{"PIDICON_HTTP_LISTEN": ":8080"}, ":8080", false},
		{"off", "http: {listen: ''}", nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadYAML(t, tc.yaml, tc.vars)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.HTTP.Listen != tc.listen || cfg.HTTP.listenIsDefault != tc.isDefault {
				t.Errorf("http.listen %q (default: %v), want %q (%v)", cfg.HTTP.Listen, cfg.HTTP.listenIsDefault, tc.listen, tc.isDefault)
			}
		})
	}
}
