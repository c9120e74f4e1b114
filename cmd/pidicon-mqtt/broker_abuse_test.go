package main_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
)

// startLimited runs the daemon like startProc, with its limit of open
// files lowered to files (prlimit, from util-linux).
func startLimited(t *testing.T, files int, config string) *proc {
	t.Helper()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	cmd := exec.Command(prlimit, fmt.Sprintf("--nofile=%d:%d", files, files), binary, "--config", config)
	cmd.Env = cleanEnv()
	return startCmd(t, cmd)
}

// idleConns opens n TCP connections to addr that send nothing, closed
// when the test ends or by the returned func.
func idleConns(t *testing.T, addr string, n int) func() {
	t.Helper()
	var conns []net.Conn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
		conns = nil
	}
	t.Cleanup(closeAll)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection to %s: %v", addr, err)
		}
		conns = append(conns, c)
	}
	return closeAll
}

// TestDaemon_BrokerSurvivesFewFileDescriptors runs the daemon with 64
// open files at most and opens 70 idle connections to each of its plain
// and TLS listeners: clients still get in on both while they are open and
// after they are closed, the daemon stays ready, and /metrics counts the
// connections dropped. mochi's listeners stopped for good at the first
// failed accept (out of descriptors): no client got in again, and once
// the daemon's own connection dropped, neither did it.
func TestDaemon_BrokerSurvivesFewFileDescriptors(t *testing.T) {
	dir := t.TempDir()
	ca := mqtttest.NewCA(t, "pidicon test CA")
	cert, key := ca.Issue(t, "127.0.0.1")
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }
	plain, tlsAddr, httpAddr := addr(), addr(), addr()
	config := writeConfig(t, dir, fmt.Sprintf(`
broker:
  listen: %q
  tls: {listen: %q, cert_file: %q, key_file: %q}
http: {listen: %q}
state: {persist: false}
devices: [{id: demo, type: sim}]
`, plain, tlsAddr, cert, key, httpAddr))
	d := startLimited(t, 64, config)
	healthz := "http://" + httpAddr + "/healthz"
	ready := func() bool { code, body := get(healthz); return code == http.StatusOK && body == "ok\n" }
	mqtttest.WaitUntil(t, 15*time.Second, "/healthz answers ok", ready)

	for _, l := range []struct{ name, addr, url string }{
		{"plain", plain, "tcp://" + plain},
		{"TLS", tlsAddr, "ssl://" + tlsAddr},
	} {
		login := mqtttest.Login{TLS: ca.ClientTLS()}
		closeIdle := idleConns(t, l.addr, 70)
		c, err := mqtttest.TryConnect(t, l.url, login)
		if err != nil {
			t.Fatalf("%s listener, 70 idle connections open: %v", l.name, err)
		}
		c.Subscribe("pidicon/demo/brightness")
		closeIdle()
		if _, err := mqtttest.TryConnect(t, l.url, login); err != nil {
			t.Fatalf("%s listener, idle connections closed: %v", l.name, err)
		}
	}
	if !ready() {
		t.Error("the daemon is not ready after the idle connections")
	}
	m := scrape(mustPort(t, httpAddr))
	t.Logf("connections dropped: %v, accept errors: %v", m["pidicon_broker_connections_dropped_total"], m["pidicon_broker_accept_errors_total"])
	if m["pidicon_broker_connections_dropped_total"] < 100 {
		t.Errorf("pidicon_broker_connections_dropped_total %v, want at least 100", m["pidicon_broker_connections_dropped_total"])
	}
	if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

func mustPort(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(port, &n)
	return n
}

// TestDaemon_SIGTERMWithIdleConnections: SIGTERM stops the daemon (exit
// 0) within 5 s whatever its broker's clients do: connections that sent
// nothing, half a CONNECT, or a TLS or WebSocket handshake and nothing
// more, and a logged-in client that never reads. The broker waited for
// every client not logged in until it left (19 s once), or until a second
// signal.
func TestDaemon_SIGTERMWithIdleConnections(t *testing.T) {
	dir := t.TempDir()
	ca := mqtttest.NewCA(t, "pidicon test CA")
	cert, key := ca.Issue(t, "127.0.0.1")
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }
	plain, tlsAddr, wsAddr, httpAddr := addr(), addr(), addr(), addr()
	config := writeConfig(t, dir, fmt.Sprintf(`
broker:
  listen: %q
  allow_anonymous: true
  tls: {listen: %q, cert_file: %q, key_file: %q}
  websocket: {listen: %q}
http: {listen: %q}
state: {persist: false}
devices: [{id: demo, type: sim}]
`, plain, tlsAddr, cert, key, wsAddr, httpAddr))
	d := startProc(t, config)
	mqtttest.WaitUntil(t, 15*time.Second, "/healthz answers ok", func() bool {
		code, _ := get("http://" + httpAddr + "/healthz")
		return code == http.StatusOK
	})
	idleConns(t, plain, 5)
	idleConns(t, tlsAddr, 5)
	idleConns(t, wsAddr, 5)
	half, err := net.Dial("tcp", plain)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	half.Write([]byte{0x10, 0x20, 0x00, 0x04, 'M', 'Q'}) // the start of a CONNECT
	tlsOnly, err := tls.Dial("tcp", tlsAddr, ca.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer tlsOnly.Close()
	upgraded, err := net.Dial("tcp", wsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer upgraded.Close()
	fmt.Fprintf(upgraded, "GET /mqtt HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n", wsAddr)
	buf := make([]byte, 12)
	upgraded.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := upgraded.Read(buf); err != nil || !strings.HasPrefix(string(buf), "HTTP/1.1 101") {
		t.Fatalf("WebSocket upgrade: %q %v", buf, err)
	}
	// A logged-in MQTT 3.1.1 client, keepalive 0, subscribed to all,
	// that never reads.
	quiet, err := net.Dial("tcp", plain)
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	quiet.Write([]byte{0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x00, 0x00, 0x05, 'q', 'u', 'i', 'e', 't'})
	quiet.Write([]byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x01, '#', 0x01})

	began := time.Now()
	if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	t.Logf("exited %v after SIGTERM", time.Since(began))
}
