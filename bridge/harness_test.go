package bridge_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/broker"
	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/sim"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

const base = "pidicon"

func topic(id, suffix string) string { return base + "/" + id + "/" + suffix }

// defaults is the contract's default state of a device.
func defaults() state.State {
	return state.State{ActiveScene: "startup", PlayState: state.Playing, Brightness: 75, DisplayOn: true, LoggingLevel: state.LevelWarning}
}

// embedded starts the embedded broker on a free port; refused retained
// commands go to report (set later, once the bridge exists).
func embedded(t *testing.T, report *event.Log) *broker.Broker {
	t.Helper()
	b, err := broker.Start(broker.Options{
		Listen:    "127.0.0.1:0",
		BaseTopic: base,
		Logger:    slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})),
		Report:    report.Report,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// daemon is a bridge with simulated devices, run until the test ends.
type daemon struct {
	t       *testing.T
	url     string
	store   *state.Store
	sims    map[string]*sim.Pixoo
	bridge  *bridge.Bridge
	flushes atomic.Int32
	cancel  context.CancelFunc
	done    chan error
}

// setup tunes the bridge's options before it starts.
type setup func(*bridge.Options)

// startDaemon runs a bridge against url with sim devices ids (default
// state), waits until its state is published, and stops it at the end.
func startDaemon(t *testing.T, url string, ids []string, report *event.Log, tune ...setup) *daemon {
	t.Helper()
	return startDaemonWith(t, url, base, ids, report, tune...)
}

// startDaemonAt is startDaemon for a bridge whose base topic tune sets to
// baseTopic.
func startDaemonAt(t *testing.T, url, baseTopic string, ids []string, tune ...setup) *daemon {
	t.Helper()
	return startDaemonWith(t, url, baseTopic, ids, nil, tune...)
}

func startDaemonWith(t *testing.T, url, baseTopic string, ids []string, report *event.Log, tune ...setup) *daemon {
	t.Helper()
	return startDaemonOpts(t, url, baseTopic, ids, report, true, tune...)
}

func startDaemonOpts(t *testing.T, url, baseTopic string, ids []string, report *event.Log, wait bool, tune ...setup) *daemon {
	t.Helper()
	d := &daemon{t: t, url: url, store: state.NewStore(), sims: make(map[string]*sim.Pixoo), done: make(chan error, 1)}
	logs := slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})
	var devices []bridge.Device
	for _, id := range ids {
		p, srv := testkit.StartPixoo(t)
		drv, err := pixoo64.New(srv.Addr(), pixoo64.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d.sims[id] = p
		devices = append(devices, bridge.Device{
			ID: id, Name: id, Kind: sim.Kind(pixoo64.Kind(), "sim"), Defaults: defaults(),
			Controller: device.NewController(device.Options{
				ID: id, Name: id, Version: "test", Driver: drv, Scenes: scene.Builtin(), LogHandler: logs,
				ProbeEvery: 200 * time.Millisecond,
			}),
		})
	}
	opts := bridge.Options{
		URL:         url,
		BaseTopic:   base,
		ClientID:    "pidicon-test-" + t.Name(),
		RestoreWait: time.Second,
		Version:     "test",
		Logger:      slog.New(logs),
		Store:       d.store,
		Devices:     devices,
		Flush: func(context.Context) error {
			d.flushes.Add(1)
			return nil
		},
	}
	for _, f := range tune {
		f(&opts)
	}
	if report != nil {
		opts.Events = report
	}
	d.bridge = bridge.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() { d.done <- d.bridge.Run(ctx) }()
	t.Cleanup(d.stop)
	if wait {
		waitOnline(t, url, baseTopic, ids)
	}
	return d
}

// startDaemonNoWait is startDaemon without waiting for the broker.
func startDaemonNoWait(t *testing.T, url string, ids []string, report *event.Log, tune ...setup) *daemon {
	t.Helper()
	return startDaemonOpts(t, url, base, ids, report, false, tune...)
}

// waitOnline waits until bridge/state is online and every device's state
// and availability are retained.
func waitOnline(t *testing.T, url, baseTopic string, ids []string) {
	t.Helper()
	w := mqtttest.Connect(t, url)
	w.Subscribe(baseTopic + "/#")
	w.WaitFor(10*time.Second, "bridge/state online", func(m mqtttest.Msg) bool {
		return m.Topic == baseTopic+"/bridge/state" && m.Text() == "online"
	})
	for _, id := range ids {
		for _, suffix := range []string{"state", "availability"} {
			want := baseTopic + "/" + id + "/" + suffix
			w.WaitFor(10*time.Second, want, func(m mqtttest.Msg) bool { return m.Topic == want })
		}
	}
}

// stop shuts the bridge down and returns Run's error.
func (d *daemon) stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Errorf("bridge.Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		d.t.Error("bridge did not stop within 10s")
	}
}
