// Package mqtttest is MQTT for tests: a real mosquitto broker process on a
// free loopback port, which a test can stop and start again on the same
// port (a broker restart that loses its retained messages), RabbitMQ nodes
// (rabbitmq.go), a proxy that cuts connections, and a client that records
// what it receives and waits on conditions.
//
// StartMosquitto and FindRabbitMQ skip the test when the broker is not
// installed, unless the CI environment variable is set: then they fail,
// because CI installs both and a skipped test would hide a regression.
package mqtttest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

// Mosquitto is one mosquitto process (or none, while stopped).
type Mosquitto struct {
	t      testing.TB
	bin    string
	port   int
	plain  int // port of the plain listener beside a TLS one, or 0
	config string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	out    *bytes.Buffer
}

// Options tune the generated configuration.
type Options struct {
	// Extra lines appended to mosquitto.conf (e.g. "set_tcp_nodelay true").
	Extra []string
	// CertFile and KeyFile (PEM), if set, make the listener TLS (URL then
	// is ssl://); a second, plain listener (PlainURL) serves test clients.
	CertFile, KeyFile string
}

// FindMosquitto returns the mosquitto binary, or skips the test (fails under CI).
func FindMosquitto(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if bin, err := exec.LookPath(p); err == nil {
			return bin
		}
	}
	testkit.SkipOrFail(t, "mosquitto is not installed (apt-get install -y mosquitto mosquitto-clients)")
	return ""
}

// StartMosquitto runs mosquitto on a free port of 127.0.0.1 until the test ends.
func StartMosquitto(t testing.TB, opts Options) *Mosquitto {
	t.Helper()
	bin := FindMosquitto(t)
	dir := t.TempDir()
	b := &Mosquitto{t: t, bin: bin, port: freePort(t), config: filepath.Join(dir, "mosquitto.conf")}
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n", b.port)
	if opts.CertFile != "" {
		if os.Geteuid() == 0 {
			// Started as root, mosquitto reads certificates after dropping
			// to its own user, who cannot read the test's temporary files.
			conf += "user root\n"
		}
		b.plain = freePort(t)
		conf += fmt.Sprintf("certfile %s\nkeyfile %s\nlistener %d 127.0.0.1\n", opts.CertFile, opts.KeyFile, b.plain)
	}
	for _, l := range opts.Extra {
		conf += l + "\n"
	}
	if err := os.WriteFile(b.config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b.StartAgain()
	t.Cleanup(b.Stop)
	return b
}

// URL is the broker's address for MQTT clients (ssl:// with a certificate).
func (b *Mosquitto) URL() string {
	if b.plain != 0 {
		return fmt.Sprintf("ssl://127.0.0.1:%d", b.port)
	}
	return fmt.Sprintf("tcp://127.0.0.1:%d", b.port)
}

// PlainURL is the address of a plain listener: URL's, or the one beside a
// TLS listener.
func (b *Mosquitto) PlainURL() string {
	if b.plain != 0 {
		return fmt.Sprintf("tcp://127.0.0.1:%d", b.plain)
	}
	return b.URL()
}

// Port is the broker's TCP port.
func (b *Mosquitto) Port() int { return b.port }

// Stop kills the broker (its retained messages are lost: no persistence).
func (b *Mosquitto) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Kill()
	<-b.exited
	b.cmd = nil
}

// StartAgain starts the broker on the same port and waits until it accepts
// connections (on the plain listener too, if it has one).
func (b *Mosquitto) StartAgain() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := new(bytes.Buffer)
		cmd := exec.Command(b.bin, "-c", b.config)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			b.t.Fatalf("start mosquitto: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if waitListening(b.port, exited, 5*time.Second) && (b.plain == 0 || waitListening(b.plain, exited, 5*time.Second)) {
			b.cmd, b.exited, b.out = cmd, exited, out
			return
		}
		cmd.Process.Kill()
		<-exited
		// The port may still be held by the previous process for a moment.
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto did not start on port %d: %s", b.port, out.String())
		}
	}
}

// waitListening polls until the port accepts a connection or the process
// exits.
func waitListening(port int, exited <-chan struct{}, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-tick.C:
		}
	}
	return false
}

func freePort(t testing.TB) int { return testkit.FreePort(t) }
