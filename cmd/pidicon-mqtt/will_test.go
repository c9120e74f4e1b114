package main_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
)

// TestDaemon_SIGKILLLeavesLastWill kills the daemon (SIGKILL: no
// shutdown, no DISCONNECT): mosquitto publishes its last will, so
// bridge/state is retained offline. A SIGTERM'd daemon says offline
// itself (TestDaemon_SetStopRestart, bridge TestBridge_CleanStopPublishesOffline).
func TestDaemon_SIGKILLLeavesLastWill(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	dir := t.TempDir()
	config := writeConfig(t, dir, fmt.Sprintf(`
mqtt: {url: %q}
state: {path: %q}
devices: [{id: demo, type: sim}]
`, url, dir+"/runtime-state.json"))
	c := mqtttest.Connect(t, url)
	c.Subscribe("pidicon/bridge/state")
	d := startProc(t, config)
	c.WaitFor(10*time.Second, "bridge online", func(m mqtttest.Msg) bool { return m.Text() == "online" })
	mark := c.Mark()
	if code := d.stop(syscall.SIGKILL, 5*time.Second); code != -1 {
		t.Errorf("exit code %d after SIGKILL, want -1 (killed)", code)
	}
	if _, ok := c.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool { return m.Text() == "offline" }); !ok {
		t.Fatal("no bridge/state offline after SIGKILL: the daemon's last will is missing")
	}
	if got := mqtttest.Retained(t, url, "pidicon/bridge/state")["pidicon/bridge/state"]; got.Text() != "offline" {
		t.Errorf("retained bridge/state %q, want offline", got.Text())
	}
}
