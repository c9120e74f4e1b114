package main

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/pidicon/pidicon-mqtt/bridge"
)

// prometheus renders the metrics in the Prometheus text format (0.0.4):
// the bridge's MQTT counters and readiness, each device's counters, the
// state file's writes and, with the embedded broker, its clients and
// refusals.
func (o *observed) prometheus() []byte {
	var p promText
	bs := o.bridge.Stats()
	p.metric("pidicon_build_info", "gauge", "The daemon's version.",
		sample{labels: label("version", o.version), value: 1})
	p.metric("pidicon_ready", "gauge", "1 when connected to the MQTT broker with the state restored (/healthz also needs pidicon_state_writable 1).",
		sample{value: boolValue(o.bridge.Ready() == nil)})
	p.metric("pidicon_mqtt_connected", "gauge", "1 while the MQTT connection is up.",
		sample{value: boolValue(bs.Connected)})
	p.metric("pidicon_mqtt_messages_received_total", "counter", "MQTT messages received.",
		sample{value: float64(bs.Received)})
	p.metric("pidicon_mqtt_messages_published_total", "counter", "MQTT messages published.",
		sample{value: float64(bs.Published)})

	per := func(f func(d bridge.DeviceStats) float64) []sample {
		out := make([]sample, 0, len(bs.Devices))
		for _, d := range bs.Devices {
			out = append(out, sample{labels: label("device", d.ID), value: f(d)})
		}
		return out
	}
	p.metric("pidicon_device_online", "gauge", "1 while the display answers.",
		per(func(d bridge.DeviceStats) float64 { return boolValue(d.Online) })...)
	p.metric("pidicon_device_pushes_total", "counter", "Frames sent to the display.",
		per(func(d bridge.DeviceStats) float64 { return float64(d.Metrics.Pushes) })...)
	p.metric("pidicon_device_skipped_total", "counter", "Frames dropped because the display was busy.",
		per(func(d bridge.DeviceStats) float64 { return float64(d.Metrics.Skipped) })...)
	p.metric("pidicon_device_errors_total", "counter", "Failed requests to the display.",
		per(func(d bridge.DeviceStats) float64 { return float64(d.Metrics.Errors) })...)
	p.metric("pidicon_device_fps", "gauge", "Frames per second sent to the display.",
		per(func(d bridge.DeviceStats) float64 { return d.Metrics.FPS })...)

	if o.persister != nil {
		ps := o.persister.Stats()
		p.metric("pidicon_state_writes_total", "counter", "State file writes.",
			sample{value: float64(ps.Writes)})
		p.metric("pidicon_state_write_failures_total", "counter", "Failed state file writes.",
			sample{value: float64(ps.Failures)})
		p.metric("pidicon_state_last_write_duration_seconds", "gauge", "Duration of the last state file write.",
			sample{value: ps.Last.Seconds()})
		p.metric("pidicon_state_last_write_bytes", "gauge", "Size of the last state file written.",
			sample{value: float64(ps.Bytes)})
		p.metric("pidicon_state_writable", "gauge", "0 while the state file cannot be written (the last attempt, or the check at start-up, failed; as /healthz), else 1.",
			sample{value: boolValue(ps.Err == nil)})
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.metric("go_goroutines", "gauge", "Goroutines that currently exist.",
		sample{value: float64(runtime.NumGoroutine())})
	p.metric("go_memstats_heap_alloc_bytes", "gauge", "Bytes of allocated heap objects.",
		sample{value: float64(ms.HeapAlloc)})
	p.metric("go_memstats_heap_inuse_bytes", "gauge", "Bytes in in-use heap spans.",
		sample{value: float64(ms.HeapInuse)})
	p.metric("go_memstats_stack_inuse_bytes", "gauge", "Bytes of goroutine stacks (one goroutine per display).",
		sample{value: float64(ms.StackInuse)})
	p.metric("go_memstats_sys_bytes", "gauge", "Bytes of memory obtained from the OS.",
		sample{value: float64(ms.Sys)})
	if o.broker != nil {
		st := o.broker.Stats()
		p.metric("pidicon_broker_clients", "gauge", "Clients connected to the embedded broker, the daemon included.",
			sample{value: float64(st.Clients)})
		p.metric("pidicon_broker_logins_refused_total", "counter", "Connections the embedded broker refused at login.",
			sample{value: float64(st.LoginsRefused)})
		p.metric("pidicon_broker_publishes_denied_total", "counter", "Publishes dropped because only the daemon publishes to their topic.",
			sample{value: float64(st.PublishesDenied)})
		p.metric("pidicon_broker_accept_errors_total", "counter", "Failed accepts of the embedded broker's listeners (retried with backoff), e.g. out of file descriptors.",
			sample{value: float64(st.AcceptErrors)})
		p.metric("pidicon_broker_connections_dropped_total", "counter", "Connections the embedded broker closed before login: no CONNECT in time, too large a CONNECT, or no room.",
			sample{value: float64(st.ConnectionsDropped)})
		p.metric("pidicon_broker_connections_pending", "gauge", "Connections to the embedded broker that have not sent their CONNECT yet.",
			sample{value: float64(st.Pending)})
		p.metric("pidicon_broker_packets_too_large_total", "counter", "Clients the embedded broker disconnected for a packet over its limit (1 MiB + 16 KiB).",
			sample{value: float64(st.PacketsTooLarge)})
	}
	if o.web != nil {
		ws := o.web.Stats()
		p.metric("pidicon_web_pages", "gauge", "Web pages open (streams of events).",
			sample{value: float64(ws.Pages)})
		p.metric("pidicon_web_resyncs_total", "counter", "Times a web page fell behind, lost its queued changes and was sent the full state again.",
			sample{value: float64(ws.Resyncs)})
		p.metric("pidicon_web_pages_blocked", "gauge", "Web pages that have read nothing of what was sent to them for more than a second.",
			sample{value: float64(ws.Blocked)})
		p.metric("pidicon_web_pages_disconnected_total", "counter", "Web pages cut off because they read nothing for too long.",
			sample{value: float64(ws.Disconnected)})
	}
	if o.access != nil {
		p.metric("pidicon_http_logins_refused_total", "counter", "Web page logins refused (http.users).",
			sample{value: float64(o.access.refused.Load())})
	}
	return p.buf.Bytes()
}

// promText writes the Prometheus text format.
type promText struct {
	buf bytes.Buffer
}

// sample is one value of a metric; labels is rendered, e.g. {device="demo"}.
type sample struct {
	labels string
	value  float64
}

func (p *promText) metric(name, typ, help string, samples ...sample) {
	fmt.Fprintf(&p.buf, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	for _, s := range samples {
		fmt.Fprintf(&p.buf, "%s%s %s\n", name, s.labels, strconv.FormatFloat(s.value, 'g', -1, 64))
	}
}

// label renders one label, its value escaped.
func label(name, value string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return "{" + name + `="` + r.Replace(value) + `"}`
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
