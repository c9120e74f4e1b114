package main_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
)

// TestDaemon_CleanStartStopLogsNoError starts daemons and stops them with
// SIGTERM, on the embedded broker and on mosquitto: a normal start and
// stop print no error line. The MQTT library's error lines on a stop (EOF
// after DISCONNECT, a connection loss during Disconnect) and at start-up
// (an acknowledgement of the resumed session) came in about one run in
// four, so each broker gets several rounds of several daemons at once.
func TestDaemon_CleanStartStopLogsNoError(t *testing.T) {
	const rounds, daemons = 2, 5
	for _, broker := range []string{"embedded", "mosquitto"} {
		t.Run(broker, func(t *testing.T) {
			var mosquittoURL string
			if broker == "mosquitto" {
				mosquittoURL = mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
			}
			dirs := make([]string, daemons)
			for i := range dirs {
				dirs[i] = t.TempDir()
			}
			for round := range rounds {
				type running struct {
					p   *proc
					url string
				}
				var all []running
				for i, dir := range dirs {
					base := fmt.Sprintf("p%d", i) // one client id per daemon
					url, brokerLine := mosquittoURL, fmt.Sprintf("mqtt: {url: %q, base_topic: %s}", mosquittoURL, base)
					if url == "" {
						port := freePort(t)
						url = fmt.Sprintf("tcp://127.0.0.1:%d", port)
						brokerLine = fmt.Sprintf("broker: {listen: \"127.0.0.1:%d\"}\nmqtt: {base_topic: %s}", port, base)
					}
					config := writeConfig(t, dir, fmt.Sprintf(`
%s
state: {path: %q}
devices: [{id: demo, type: sim}]
`, brokerLine, filepath.Join(dir, "runtime-state.json")))
					all = append(all, running{startProc(t, config), url})
				}
				for i, r := range all {
					base := fmt.Sprintf("p%d", i)
					mqtttest.WaitAccepting(t, 10*time.Second, r.url)
					c := mqtttest.Connect(t, r.url)
					c.Subscribe(base + "/#")
					c.WaitFor(10*time.Second, base+" online with the state restored", func(m mqtttest.Msg) bool {
						return m.Topic == base+"/demo/state"
					})
					mqtttest.WaitUntil(t, 10*time.Second, "restored", func() bool {
						return strings.Contains(r.p.out.String(), "state restored")
					})
				}
				for _, r := range all {
					r.p.cmd.Process.Signal(syscall.SIGTERM) // all at once; a second signal would kill
				}
				for i, r := range all {
					if code := r.p.waitExit(10 * time.Second); code != 0 {
						t.Errorf("round %d, daemon %d: exit code %d", round, i, code)
					}
					for _, line := range strings.Split(r.p.out.String(), "\n") {
						if strings.Contains(line, " ERR ") || strings.Contains(line, "level=ERROR") {
							t.Errorf("round %d, daemon %d: an error line in a clean start and stop: %s", round, i, line)
						}
					}
				}
			}
		})
	}
}
