package mqtttest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

// RabbitMQ is one RabbitMQ node with the MQTT plugin, run as a process of
// the test (no system service): its data, logs, Erlang cookie and
// configuration live in a temporary folder, and every port (MQTT, AMQP,
// Erlang distribution, epmd) is a free port of 127.0.0.1. A node can be
// stopped and started again on the same ports, and a second node can join
// it as a cluster.
//
// RabbitMQ takes seconds to start; SharedRabbitMQ keeps one node for all
// the tests of a package.
type RabbitMQ struct {
	bin      string
	dir      string // the node's folder: home, data, logs, configuration
	name     string // the node name, e.g. pidicon-1a2b3c@localhost
	env      []string
	mqtt     int // MQTT port
	epmdPort int

	epmd     *exec.Cmd     // the epmd this node started, or nil (joined)
	epmdDone chan struct{} // closed when epmd has exited

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	out    *testkit.Buffer
}

// RabbitMQOptions tune a node.
type RabbitMQOptions struct {
	// Join, if set, makes the new node join Join's cluster at its first
	// start (it shares Join's epmd and Erlang cookie).
	Join *RabbitMQ
}

// rabbitStartTimeout bounds one start of a node. RabbitMQ needs 2 to 3 s
// of CPU to start; on a loaded machine that takes far longer.
const rabbitStartTimeout = 2 * time.Minute

// erlangCookie is the cookie of every test node (they run on 127.0.0.1
// only and accept no other node's connection without it).
const erlangCookie = "PIDICONMQTTTESTCOOKIE"

// FindRabbitMQ returns the rabbitmq-server script, or skips the test (fails
// under CI, which installs it).
func FindRabbitMQ(t testing.TB) string {
	t.Helper()
	bin, err := lookRabbitMQ()
	if err == nil {
		return bin
	}
	testkit.SkipOrFail(t, "rabbitmq-server is not installed (apt-get install -y rabbitmq-server)")
	return ""
}

// lookRabbitMQ finds rabbitmq-server. The Debian package's
// /usr/sbin/rabbitmq-server is a wrapper that switches to the rabbitmq user
// when run as root; the script it calls runs the node as the caller.
func lookRabbitMQ() (string, error) {
	for _, p := range []string{"/usr/lib/rabbitmq/bin/rabbitmq-server", "rabbitmq-server"} {
		if bin, err := exec.LookPath(p); err == nil {
			return bin, nil
		}
	}
	return "", errors.New("rabbitmq-server not found")
}

// StartRabbitMQ starts a node and waits until its MQTT listener accepts
// connections. It is not tied to a test: Close stops it and removes its
// folder.
func StartRabbitMQ(bin string, opts RabbitMQOptions) (*RabbitMQ, error) {
	dir, err := os.MkdirTemp("", "pidicon-rabbitmq-")
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: %w", err)
	}
	r, err := newRabbitMQ(bin, dir, opts)
	if err == nil {
		err = r.Start()
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// newRabbitMQ prepares a node in dir (and starts its epmd); on an error
// the returned node still owns dir, for Close.
func newRabbitMQ(bin, dir string, opts RabbitMQOptions) (*RabbitMQ, error) {
	r := &RabbitMQ{bin: bin, dir: dir}
	ports, err := freePorts(4)
	if err != nil {
		return r, fmt.Errorf("rabbitmq: %w", err)
	}
	epmdPort, amqp, dist, mqtt := ports[0], ports[1], ports[2], ports[3]
	if opts.Join != nil {
		epmdPort = opts.Join.epmdPort
	}
	r.name, r.mqtt, r.epmdPort = "pidicon-"+randomHex(4)+"@localhost", mqtt, epmdPort
	home := filepath.Join(dir, "home")
	for _, d := range []string{home, filepath.Join(dir, "data"), filepath.Join(dir, "log")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return r, fmt.Errorf("rabbitmq: %w", err)
		}
	}
	conf := fmt.Sprintf(`listeners.tcp.default = 127.0.0.1:%d
mqtt.listeners.tcp.default = 127.0.0.1:%d
mqtt.allow_anonymous = true
mqtt.retained_message_store = rabbit_mqtt_retained_msg_store_dets
log.console = true
log.console.level = warning
log.file.level = info
`, amqp, mqtt)
	if opts.Join != nil {
		conf += "cluster_formation.peer_discovery_backend = classic_config\n" +
			"cluster_formation.classic_config.nodes.1 = " + opts.Join.name + "\n"
	}
	files := map[string]string{
		filepath.Join(home, ".erlang.cookie"): erlangCookie,
		filepath.Join(dir, "rabbitmq.conf"):   conf,
		filepath.Join(dir, "enabled_plugins"): "[rabbitmq_mqtt].\n",
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o400); err != nil {
			return r, fmt.Errorf("rabbitmq: %w", err)
		}
	}
	r.env = append(os.Environ(),
		"HOME="+home,
		fmt.Sprintf("ERL_EPMD_PORT=%d", epmdPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_NODENAME="+r.name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		fmt.Sprintf("RABBITMQ_NODE_PORT=%d", amqp),
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", dist),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "data"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		// Neither the system's environment file nor its advanced config.
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "none.env"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(dir, "none.config"),
		// Distribution on loopback only; the epmd started here, never one
		// started by erl (it would outlive the test); no busy waiting of
		// the schedulers, which costs CPU on a shared machine.
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false +sbwt none +sbwtdcpu none +sbwtdio none",
	)
	if opts.Join == nil {
		if err := r.startEpmd(epmdPort); err != nil {
			return r, err
		}
	}
	return r, nil
}

// startEpmd runs the Erlang port mapper of this node (and of the nodes that
// join it) on 127.0.0.1.
func (r *RabbitMQ) startEpmd(port int) error {
	bin, err := exec.LookPath("epmd")
	if err != nil {
		return fmt.Errorf("rabbitmq: epmd (Erlang) not found: %w", err)
	}
	cmd := exec.Command(bin, "-address", "127.0.0.1", "-port", fmt.Sprint(port))
	cmd.SysProcAttr = procAttr(syscall.SIGKILL)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("rabbitmq: start epmd: %w", err)
	}
	r.epmd, r.epmdDone = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(r.epmdDone) }()
	if !waitListening(port, r.epmdDone, 10*time.Second) {
		return fmt.Errorf("rabbitmq: epmd did not listen on port %d", port)
	}
	return nil
}

// URL is the node's MQTT address.
func (r *RabbitMQ) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", r.mqtt) }

// Name is the node's Erlang node name.
func (r *RabbitMQ) Name() string { return r.name }

// Start starts the node (again, on the same ports and with its data) and
// waits until its MQTT listener accepts connections.
func (r *RabbitMQ) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return nil
	}
	out := new(testkit.Buffer)
	cmd := exec.Command(r.bin)
	cmd.Dir = r.dir
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: the script, the Erlang VM and its helpers
	// are stopped together. SIGTERM if the test binary dies: the script
	// then stops the VM.
	cmd.SysProcAttr = procAttr(syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("rabbitmq: start %s: %w", r.bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	r.cmd, r.exited, r.out = cmd, exited, out
	if !waitListening(r.mqtt, exited, rabbitStartTimeout) {
		r.stopLocked(syscall.SIGKILL)
		return fmt.Errorf("rabbitmq node %s did not open its MQTT port %d within %s:\n%s",
			r.name, r.mqtt, rabbitStartTimeout, r.tail(out))
	}
	return nil
}

// Stop stops the node the way a service manager does (SIGTERM: a clean
// shutdown that keeps its data, retained messages included).
func (r *RabbitMQ) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLocked(syscall.SIGTERM)
}

// Kill kills the node at once (SIGKILL to the script, the VM and its
// helpers).
func (r *RabbitMQ) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLocked(syscall.SIGKILL)
}

// stopStep bounds each step of a stop; after a SIGTERM that did not end
// the node in time, SIGKILL follows.
const stopStep = time.Minute

func (r *RabbitMQ) stopLocked(sig syscall.Signal) {
	if r.cmd == nil {
		return
	}
	pid := r.cmd.Process.Pid
	if sig == syscall.SIGTERM {
		// The script traps SIGTERM and stops the VM cleanly.
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(stopStep):
		}
	}
	syscall.Kill(-pid, syscall.SIGKILL) // the VM's helpers, or everything
	select {
	case <-r.exited:
	case <-time.After(stopStep):
	}
	r.cmd = nil
}

// Log is what the node wrote to its console (warnings and errors), for a
// failing test's message.
func (r *RabbitMQ) Log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tail(r.out)
}

func (r *RabbitMQ) tail(out *testkit.Buffer) string {
	if out == nil {
		return ""
	}
	s := out.String()
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

// Close stops the node, its epmd if it started one, and removes its
// folder. Nodes that joined it must be closed first.
func (r *RabbitMQ) Close() {
	r.Stop()
	if r.epmd != nil {
		r.epmd.Process.Kill()
		<-r.epmdDone
		r.epmd = nil
	}
	os.RemoveAll(r.dir)
}

// SharedRabbitMQ is one node for all the tests of a package, started by the
// first test that asks for it; TestMain closes it after the tests. A
// failed start is reported to every test that asks.
type SharedRabbitMQ struct {
	mu   sync.Mutex
	node *RabbitMQ
	err  error
}

// Get returns the shared node, starting it at the first call. It skips the
// test when RabbitMQ is not installed (fails under CI).
func (s *SharedRabbitMQ) Get(t testing.TB) *RabbitMQ {
	t.Helper()
	bin := FindRabbitMQ(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.node == nil && s.err == nil {
		start := time.Now()
		s.node, s.err = StartRabbitMQ(bin, RabbitMQOptions{})
		if s.err == nil {
			t.Logf("RabbitMQ node %s started in %s", s.node.Name(), time.Since(start).Round(time.Millisecond))
		}
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	// A test may have stopped it (a node restart) and failed before it
	// started it again.
	if err := s.node.Start(); err != nil {
		t.Fatal(err)
	}
	return s.node
}

// Join starts a second node that joins the shared node's cluster, and
// closes it when the test ends.
func (s *SharedRabbitMQ) Join(t testing.TB) *RabbitMQ {
	t.Helper()
	first := s.Get(t)
	start := time.Now()
	n, err := StartRabbitMQ(first.bin, RabbitMQOptions{Join: first})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RabbitMQ node %s joined %s in %s", n.Name(), first.Name(), time.Since(start).Round(time.Millisecond))
	t.Cleanup(n.Close)
	return n
}

// Close stops the shared node, if it was started.
func (s *SharedRabbitMQ) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.node != nil {
		s.node.Close()
		s.node = nil
	}
}

// freePorts returns n distinct free ports of 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
