package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/broker"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

// mqttJSScript publishes at QoS 1 with user properties over MQTT 5, as
// Node-RED does, with MQTT.js: one command the daemon takes, one publish
// to a topic only the daemon publishes to, then a round trip through a
// subscription (its parser must still be in step). It prints what it saw
// as JSON.
const mqttJSScript = `
const mqtt = require(process.env.MQTT_MODULE);
const out = { errors: [] };
const c = mqtt.connect(process.argv[2], { protocolVersion: 5, clientId: 'mqttjs-test', reconnectPeriod: 0, connectTimeout: 5000 });
const finish = () => { console.log(JSON.stringify(out)); c.end(true, () => process.exit(0)); };
const timer = setTimeout(() => { out.timeout = true; finish(); }, 10000);
c.on('error', (e) => out.errors.push(String((e && e.message) || e)));
const publish = (topic, payload) => new Promise((resolve) =>
  c.publish(topic, payload, { qos: 1, properties: { userProperties: { origin: 'node-red' } } },
    (err) => resolve(err ? String(err.message) : 'ok')));
c.on('message', (topic, msg) => {
  if (topic === 'pidicon/demo/brightness' && msg.toString() === '33') {
    out.roundTrip = true;
    clearTimeout(timer);
    finish();
  }
});
c.on('connect', async (ack) => {
  out.maximumPacketSize = ack.properties && ack.properties.maximumPacketSize;
  out.allowed = await publish('pidicon/demo/brightness/set', '33');
  out.refused = await publish('pidicon/demo/state', '{}');
  c.subscribe('pidicon/demo/brightness', { qos: 1 });
});
`

// mqttJSResult is what mqttJSScript prints.
type mqttJSResult struct {
	Errors            []string `json:"errors"`
	MaximumPacketSize int      `json:"maximumPacketSize"`
	Allowed           string   `json:"allowed"`
	Refused           string   `json:"refused"`
	RoundTrip         bool     `json:"roundTrip"`
	Timeout           bool     `json:"timeout"`
}

// TestMQTTJS_Publish5WithUserProperties runs MQTT.js 5 (the one Node-RED
// brings, from examples/node-red) against the daemon's embedded broker:
// its QoS 1 publishes with user properties are acknowledged in a form it
// accepts (mochi's PUBACK echoed the properties with reason code 0x01:
// "Invalid puback reason code", and its parser lost step), a refused one
// names the reason, and the CONNACK gives the maximum packet size.
func TestMQTTJS_Publish5WithUserProperties(t *testing.T) {
	node, redJS := installedNodeRED(t)
	module := filepath.Join(filepath.Dir(filepath.Dir(redJS)), "mqtt")
	if _, err := os.Stat(filepath.Join(module, "package.json")); err != nil {
		testkit.SkipOrFail(t, fmt.Sprintf("MQTT.js is not in the example's node_modules: %v", err))
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "publish5.js")
	if err := os.WriteFile(script, []byte(mqttJSScript), 0o600); err != nil {
		t.Fatal(err)
	}
	port, httpPort := freePort(t), freePort(t)
	config := writeConfig(t, dir, fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
http: {listen: "127.0.0.1:%d"}
state: {persist: false}
devices: [{id: demo, type: sim}]
`, port, httpPort))
	d := startProc(t, config)
	mqtttest.WaitUntil(t, 15*time.Second, "/healthz answers ok", func() bool {
		code, _ := get(fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort))
		return code == http.StatusOK
	})

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, fmt.Sprintf("mqtt://127.0.0.1:%d", port))
	cmd.Env = append(os.Environ(), "MQTT_MODULE="+module)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got mqttJSResult
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("the script printed %q: %v", out, err)
	}
	t.Logf("MQTT.js: %+v", got)
	if len(got.Errors) > 0 || got.Timeout || !got.RoundTrip {
		t.Errorf("MQTT.js errors %q, timed out %t, round trip %t", got.Errors, got.Timeout, got.RoundTrip)
	}
	if got.Allowed != "ok" {
		t.Errorf("the allowed publish: %q, want ok", got.Allowed)
	}
	if !strings.Contains(got.Refused, "Not authorized") {
		t.Errorf("the refused publish: %q, want a Not authorized error", got.Refused)
	}
	if got.MaximumPacketSize != broker.MaxPacket {
		t.Errorf("CONNACK maximum packet size %d, want %d", got.MaximumPacketSize, broker.MaxPacket)
	}
	if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
