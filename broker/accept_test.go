//go:build linux

package broker

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

// acceptHelperEnv makes the test binary the broker process of
// TestBroker_AcceptRetriesWhenOutOfFiles.
const acceptHelperEnv = "PIDICON_TEST_ACCEPT_HELPER"

// TestBroker_AcceptRetriesWhenOutOfFiles runs a broker (plain and TLS
// listeners) in a child process limited to 64 open files, makes the child
// use up every descriptor, and connects to both listeners: their Accepts
// fail (EMFILE), are counted and logged once a second at most, and are
// retried, so that once descriptors are free again, clients get in on
// both. mochi's listener returned at the first failed Accept: nobody got
// in again.
func TestBroker_AcceptRetriesWhenOutOfFiles(t *testing.T) {
	if os.Getenv(acceptHelperEnv) != "" {
		acceptHelper(t)
		return
	}
	ca := mqtttest.NewCA(t, "pidicon test CA")
	cert, key := ca.Issue(t, "127.0.0.1")
	cmd := exec.Command(os.Args[0], "-test.run=^TestBroker_AcceptRetriesWhenOutOfFiles$")
	cmd.Env = append(os.Environ(), acceptHelperEnv+"=1", "PIDICON_TEST_CERT="+cert, "PIDICON_TEST_KEY="+key)
	var log testkit.Buffer
	cmd.Stderr = &log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("broker log:\n%s", log.String())
		}
	})
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// ask sends a command to the child and returns its answer.
	ask := func(command string) string {
		t.Helper()
		fmt.Fprintln(stdin, command)
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the broker process ended (after %q)", command)
			}
			return line
		case <-time.After(10 * time.Second):
			t.Fatalf("no answer to %q within 10s", command)
			return ""
		}
	}
	var plain, tlsAddr string
	fmt.Sscan(ask("addresses"), &plain, &tlsAddr)
	if !strings.HasPrefix(ask("fill"), "full") {
		t.Fatal("the broker process did not use up its descriptors")
	}
	for _, addr := range []string{plain, tlsAddr} {
		c, err := net.Dial("tcp", addr) // waits in the listen queue
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	var failed int
	mqtttest.WaitUntil(t, 10*time.Second, "failed accepts counted on both listeners", func() bool {
		fmt.Sscan(ask("accept-errors"), &failed)
		return failed >= 4
	})
	if ask("free") != "freed" {
		t.Fatal("the broker process did not free its descriptors")
	}
	if _, err := mqtttest.TryConnect(t, "tcp://"+plain, mqtttest.Login{}); err != nil {
		t.Errorf("plain listener after the descriptors came back: %v", err)
	}
	if _, err := mqtttest.TryConnect(t, "ssl://"+tlsAddr, mqtttest.Login{TLS: ca.ClientTLS()}); err != nil {
		t.Errorf("TLS listener after the descriptors came back: %v", err)
	}
	n := strings.Count(log.String(), "cannot accept connections")
	t.Logf("%d failed accepts, %d log lines", failed, n)
	if n == 0 || n >= failed {
		t.Errorf("%d log lines for %d failed accepts, want at least one and fewer (rate-limited):\n%s", n, failed, log.String())
	}
}

// acceptHelper is the broker process: it lowers its limit of open files,
// starts a broker and answers the parent's commands on stdin.
func acceptHelper(t *testing.T) {
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 64, Max: 64}); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(os.Getenv("PIDICON_TEST_CERT"), os.Getenv("PIDICON_TEST_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Start(Options{
		Listen:    "127.0.0.1:0",
		TLS:       ListenerOptions{Listen: "127.0.0.1:0", TLSCfg: &tls.Config{Certificates: []tls.Certificate{cert}}},
		BaseTopic: "pidicon",
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var held []io.Closer
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "addresses":
			fmt.Println(b.Addr(), b.TLSAddr())
		case "fill":
			for {
				f, err := os.Open(os.DevNull)
				if err != nil {
					break
				}
				held = append(held, f)
			}
			fmt.Println("full", len(held))
		case "accept-errors":
			fmt.Println(b.Stats().AcceptErrors)
		case "free":
			for _, f := range held {
				f.Close()
			}
			held = nil
			fmt.Println("freed")
		}
	}
}
