package main_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// request makes an HTTP request with optional basic-auth login and
// headers (name, value, ...) and returns the response, body read.
func request(t *testing.T, method, url string, body string, login []string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(login) == 2 {
		req.SetBasicAuth(login[0], login[1])
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestWeb_Logins: with http.users the page and its API need a login
// (bcrypt hash or a password from the environment), /healthz and /metrics
// do not; the start-up log names the page's address; refusals are counted;
// check-config and the log keep the passwords secret.
func TestWeb_Logins(t *testing.T) {
	dir := t.TempDir()
	port, httpPort := freePort(t), freePort(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-web-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	config := writeConfig(t, dir, fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
http:
  listen: "127.0.0.1:%d"
  users:
    - {username: alice, password_hash: %q}
    - {username: bob, password_env: BOB_WEB_PASSWORD}
state: {persist: false}
devices: [{id: demo, type: sim}]
`, port, httpPort, hash))
	env := []string{"BOB_WEB_PASSWORD=bob-web-secret"}
	d := startProc(t, config, env...)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	mqtttest.WaitUntil(t, 10*time.Second, "/healthz answers ok without a login", func() bool {
		code, body := get(base + "/healthz")
		return code == http.StatusOK && body == "ok\n"
	})
	if !strings.Contains(d.out.String(), "url="+base+"/") {
		t.Errorf("the start-up log does not give the page's address %s/", base)
	}

	alice, bob := []string{"alice", "alice-web-secret"}, []string{"bob", "bob-web-secret"}
	if resp, body := request(t, "GET", base+"/", "", nil); resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("the page without a login: %s %q", resp.Status, body)
	}
	if resp, _ := request(t, "GET", base+"/", "", []string{"alice", "bob-web-secret"}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the page with a wrong password: %s", resp.Status)
	}
	resp, body := request(t, "GET", base+"/", "", alice)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "app.js") {
		t.Errorf("the page with alice's login: %s", resp.Status)
	}
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if code, _ := get(base + "/metrics"); code != http.StatusOK {
		t.Errorf("/metrics without a login: %d", code)
	}

	stream := testkit.OpenStream(t, base+"/api/stream", http.Header{"Authorization": {basic(bob)}})
	if _, _, ok := stream.WaitSince(0, 5*time.Second, func(d []byte) bool { return strings.Contains(string(d), `"type":"snapshot"`) }); !ok {
		t.Fatal("bob's stream has no snapshot")
	}
	cmd := `{"topic":"pidicon/demo/brightness/set","payload":"12"}`
	if resp, body := request(t, "POST", base+"/api/command", cmd, bob, "Content-Type", "application/json", "Sec-Fetch-Site", "same-origin"); resp.StatusCode != http.StatusOK {
		t.Errorf("bob's command: %s %s", resp.Status, body)
	}
	c := mqtttest.Connect(t, fmt.Sprintf("tcp://127.0.0.1:%d", port))
	c.Subscribe("pidicon/demo/state")
	c.WaitState(2*time.Second, "pidicon", "demo", func(s state.State) bool { return s.Brightness == 12 })
	if resp, body := request(t, "POST", base+"/api/command", cmd, bob, "Content-Type", "application/json",
		"Sec-Fetch-Site", "cross-site", "Origin", "https://elsewhere.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a command from another site, logged in: %s %s, want 403", resp.Status, body)
	}
	if resp, _ := request(t, "POST", base+"/api/command", cmd, nil, "Content-Type", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a command without a login: %s, want 401", resp.Status)
	}
	_, metrics := get(base + "/metrics")
	for _, want := range []string{"pidicon_http_logins_refused_total 1\n", "pidicon_web_pages 1\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, out := runCommand(t, env, "check-config", "--config", config); code != 0 || strings.Contains(out, string(hash)) || !strings.Contains(out, "<redacted>") {
		t.Errorf("check-config: exit %d, the hash redacted: %v", code, !strings.Contains(out, string(hash)))
	}
	stream.Close()
	if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	for _, secret := range []string{"alice-web-secret", "bob-web-secret", string(hash)} {
		if strings.Contains(d.out.String(), secret) {
			t.Errorf("the log holds the secret %q", secret)
		}
	}
}

func basic(login []string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(login[0], login[1])
	return req.Header.Get("Authorization")
}

// TestWeb_AddressTaken: an http.listen set in the config that cannot be
// used stops the start-up with an error; the default address taken
// (another daemon on this machine) is a warning, and the daemon runs.
func TestWeb_AddressTaken(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	dir := t.TempDir()
	config := writeConfig(t, dir, fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
http: {listen: %q}
state: {persist: false}
`, freePort(t), held.Addr().String()))
	d := startProc(t, config)
	if code := d.waitExit(10 * time.Second); code == 0 {
		t.Error("exit code 0 with http.listen taken")
	}
	if out := d.out.String(); !strings.Contains(out, "http.listen") || !strings.Contains(out, "address already in use") {
		t.Errorf("the error does not say http.listen is in use:\n%s", out)
	}

	// The default address: hold it if nothing else does; the daemon warns
	// and runs.
	def, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		t.Skipf("127.0.0.1:8080 is in use by another program, which this test cannot rely on (TestServeHTTP_AddressTaken covers it): %v", err)
	}
	defer def.Close()
	port := freePort(t)
	config = writeConfig(t, dir, fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
state: {path: %q}
`, port, filepath.Join(dir, "state.json")))
	d = startProc(t, config)
	mqtttest.WaitAccepting(t, 10*time.Second, fmt.Sprintf("127.0.0.1:%d", port))
	c := mqtttest.Connect(t, fmt.Sprintf("tcp://127.0.0.1:%d", port))
	c.Subscribe("pidicon/#")
	c.WaitState(5*time.Second, "pidicon", "demo", func(state.State) bool { return true }) // serving
	c.Publish("pidicon/demo/brightness/set", "44", false)
	c.WaitState(5*time.Second, "pidicon", "demo", func(s state.State) bool { return s.Brightness == 44 })
	if out := d.out.String(); !strings.Contains(out, "WRN") || !strings.Contains(out, "default address is taken") {
		t.Errorf("no warning about the taken default address:\n%s", out)
	}
	if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
