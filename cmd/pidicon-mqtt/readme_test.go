package main_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// readmeCommands returns the mosquitto_pub and mosquitto_sub command lines
// of the README's shell blocks.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	inShell := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			inShell = true
		case strings.HasPrefix(line, "```"):
			inShell = false
		case inShell && (strings.HasPrefix(line, "mosquitto_pub ") || strings.HasPrefix(line, "mosquitto_sub ")):
			out = append(out, line)
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d mosquitto commands found in README.md", len(out))
	}
	return out
}

// setTopic is a single-field set with a plain value (not a quoted JSON
// payload), whose retained value the test checks.
var setTopic = regexp.MustCompile(`-t (pidicon/[^/\s]+)/(\w+)/set -m ([^'"\s]+)$`)

// TestReadme_Commands runs every mosquitto command of the README against a
// daemon on the default set-up (a sim device "demo", Home Assistant on):
// each publish must be accepted (no event, and a field set shows up in the
// retained state), each subscription must receive messages.
func TestReadme_Commands(t *testing.T) {
	for _, tool := range []string{"mosquitto_pub", "mosquitto_sub"} {
		if _, err := exec.LookPath(tool); err != nil {
			testkit.SkipOrFail(t, tool+" is not installed (apt-get install -y mosquitto-clients)")
		}
	}
	port := freePort(t)
	dir := t.TempDir()
	config := writeConfig(t, dir, fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
state: {persist: false}
`, port))
	d := startProc(t, config)
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	mqtttest.WaitAccepting(t, 10*time.Second, fmt.Sprintf("127.0.0.1:%d", port))
	c := mqtttest.Connect(t, url)
	c.Subscribe("pidicon/#")
	waitState(t, c, "demo", func(state.State) bool { return true })

	for _, line := range readmeCommands(t) {
		cmdline := strings.Replace(line, "-h 127.0.0.1", fmt.Sprintf("-h 127.0.0.1 -p %d", port), 1)
		t.Run(line, func(t *testing.T) {
			mark := c.Mark()
			if strings.HasPrefix(line, "mosquitto_sub") {
				runSub(t, c, cmdline)
				return
			}
			sh := exec.Command("sh", "-c", cmdline)
			sh.Dir = "../.." // as a user runs them: from the repository's top, where the example files are
			out, err := sh.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			// A get round trip orders us after the command.
			c.Publish("pidicon/demo/get", "", false)
			if _, ok := c.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool { return m.Topic == "pidicon/demo/availability" }); !ok {
				t.Fatal("no answer to get")
			}
			for _, m := range c.Since(mark) {
				if m.Topic == "pidicon/bridge/event" {
					t.Errorf("refused: %s", m.Payload)
				}
			}
			if sm := setTopic.FindStringSubmatch(line); sm != nil {
				p, err := state.ParseField(sm[2], sm[3])
				if err != nil {
					t.Fatalf("the README sets an invalid value: %v", err)
				}
				// mosquitto_pub's publish and ours come on two connections:
				// the broker may take ours first, so wait for the value.
				want := p.Apply(state.State{}).Value(sm[2])
				if _, ok := c.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool {
					return m.Topic == sm[1]+"/"+sm[2] && m.Text() == want
				}); !ok {
					got, _ := c.Last(sm[1] + "/" + sm[2])
					t.Errorf("%s/%s = %q, want %q", sm[1], sm[2], got.Text(), want)
				}
			}
		})
	}
	if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// runSub runs a subscription command until it printed a message; the event
// topic gets one by a refused command published meanwhile.
func runSub(t *testing.T, c *mqtttest.Client, cmdline string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", cmdline+" -C 1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lines <- line
	}()
	if strings.Contains(cmdline, "bridge/event") {
		// Keep refusing until the subscription is up and prints the event.
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			c.Publish("pidicon/demo/brightness/set", "too bright", false)
			select {
			case line := <-lines:
				checkPrinted(t, line)
				return
			case <-tick.C:
			case <-ctx.Done():
				t.Fatal("no event printed within 10s")
			}
		}
	}
	select {
	case line := <-lines:
		checkPrinted(t, line)
	case <-ctx.Done():
		t.Fatal("nothing printed within 10s")
	}
}

func checkPrinted(t *testing.T, line string) {
	t.Helper()
	if !strings.Contains(line, " ") {
		t.Errorf("printed %q, want a topic and a payload", line)
	}
}
