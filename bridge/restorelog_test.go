package bridge_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// TestBridge_SceneRefusalLoggedOnce: with the broker down at start-up the
// restore runs twice on the same file (from the file alone after 5 s, then
// with the broker); what it finds in the file (here a restored scene that
// cannot run and an entry no device claims) is logged once.
func TestBridge_SceneRefusalLoggedOnce(t *testing.T) {
	doc, err := state.ParseDocument([]byte(`{"version":1,"timestamp":"2026-01-01T00:00:00.000Z","devices":{"demo":{"activeScene":"nosuch","playState":"playing","brightness":40,"displayOn":true,"loggingLevel":"warning"},"gone":{"activeScene":"clock","playState":"playing","brightness":40,"displayOn":true,"loggingLevel":"info"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	mosq := mqtttest.StartMosquitto(t, mqtttest.Options{})
	url := mosq.URL()
	mosq.Stop()
	logs := new(testkit.Buffer)
	startDaemonNoWait(t, url, []string{"demo"}, nil, func(o *bridge.Options) {
		o.File = doc
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	const refusal = "restored scene cannot run"
	mqtttest.WaitUntil(t, 15*time.Second, "the displays driven from the file alone", func() bool {
		return strings.Contains(logs.String(), refusal)
	})
	mosq.StartAgain()
	waitOnline(t, url, base, []string{"demo"})
	out := logs.String()
	if !strings.Contains(out, "connected to MQTT broker") {
		t.Fatalf("no connection in the log:\n%s", out)
	}
	for _, line := range []string{refusal, "state file holds entries that no configured device claims"} {
		if n := strings.Count(out, line); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", line, n, out)
		}
	}
}
