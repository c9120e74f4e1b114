package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/state"
)

// simProc is "pidicon-mqtt sim" running as a process of its own.
type simProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startSimProc starts the standalone simulator on addr, with extra
// flags, and waits until it says where it listens.
func startSimProc(t *testing.T, typ, addr string, extra ...string) *simProc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"sim", "--type", typ, "--listen", addr}, extra...)...)
	cmd.Env = cleanEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &simProc{cmd: cmd, done: make(chan struct{})}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, "listening on "+addr) {
		cmd.Process.Kill()
		t.Fatalf("simulator did not start: %q %v", line, err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *simProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
}

// simState reads the simulator's /state page.
func simState(addr string) (map[string]any, error) {
	resp, err := http.Get("http://" + addr + "/state")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v map[string]any
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// TestDaemon_StandaloneSimulatorOutage drives a display served by the
// standalone simulator process; the process is stopped (the display is
// unplugged), a command arrives meanwhile, and the process is started again
// on the same address: the daemon reports the outage and drives the display
// to the last desired state when it is back.
func TestDaemon_StandaloneSimulatorOutage(t *testing.T) {
	for _, tc := range []struct {
		typ        string
		brightness string // the /state key of the brightness
		want       float64
	}{
		{"pixoo64", "brightness", 20},
		{"awtrix", "brightness", 51}, // BRI: 20% of 255
	} {
		t.Run(tc.typ, func(t *testing.T) {
			url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			simp := startSimProc(t, tc.typ, addr)
			dir := t.TempDir()
			config := writeConfig(t, dir, fmt.Sprintf(`
mqtt: {url: %q}
state: {persist: false}
devices: [{id: clock, type: %s, host: %q, probe_interval: 200ms}]
`, url, tc.typ, addr))
			c := mqtttest.Connect(t, url)
			c.Subscribe("pidicon/#")
			d := startProc(t, config)
			availability := func(v string) func(mqtttest.Msg) bool {
				return func(m mqtttest.Msg) bool { return m.Topic == "pidicon/clock/availability" && m.Text() == v }
			}
			c.WaitFor(10*time.Second, "online", availability("online"))

			mark := c.Mark()
			simp.stop()
			if _, ok := c.WaitSince(mark, 10*time.Second, availability("offline")); !ok {
				t.Fatalf("no offline after the simulator stopped:\n%s", d.out.String())
			}
			c.WaitFor(5*time.Second, "a fault event", func(m mqtttest.Msg) bool {
				return m.Topic == "pidicon/bridge/event" && m.JSON()["device"] == "clock"
			})
			c.Publish("pidicon/clock/set", `{"brightness":20,"displayOn":false}`, false)
			waitState(t, c, "clock", func(s state.State) bool { return s.Brightness == 20 && !s.DisplayOn })

			mark = c.Mark()
			startSimProc(t, tc.typ, addr)
			if _, ok := c.WaitSince(mark, 15*time.Second, availability("online")); !ok {
				t.Fatalf("not online after the simulator came back:\n%s", d.out.String())
			}
			mqtttest.WaitUntil(t, 10*time.Second, "the display is driven to the desired state", func() bool {
				st, err := simState(addr)
				return err == nil && st[tc.brightness] == tc.want
			})
			if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
				t.Errorf("exit code %d", code)
			}
		})
	}
}

// framePNG reads the simulator's frame.
func framePNG(addr string) (image.Image, error) {
	resp, err := http.Get("http://" + addr + "/frame.png")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return png.Decode(resp.Body)
}

// solidFrame reports whether the simulator shows one colour everywhere.
func solidFrame(addr string, c color.RGBA) bool {
	img, err := framePNG(addr)
	if err != nil {
		return false
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) != c {
				return false
			}
		}
	}
	return true
}

// TestDaemon_ScenesOnTheSimulator selects scenes and play states over MQTT
// and looks at the standalone simulator's frame: what a user would see.
func TestDaemon_ScenesOnTheSimulator(t *testing.T) {
	url := mqtttest.StartMosquitto(t, mqtttest.Options{}).URL()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startSimProc(t, "pixoo64", addr)
	config := writeConfig(t, t.TempDir(), fmt.Sprintf(`
mqtt: {url: %q}
state: {persist: false}
devices: [{id: lab, type: pixoo64, host: %q, fill_color: "#00ff00", probe_interval: 200ms}]
`, url, addr))
	c := mqtttest.Connect(t, url)
	c.Subscribe("pidicon/#")
	d := startProc(t, config)
	waitState(t, c, "lab", func(state.State) bool { return true })
	pushes := func() float64 {
		st, _ := simState(addr)
		n, _ := st["pushes"].(float64)
		return n
	}

	c.Publish("pidicon/lab/activeScene/set", "fill", false)
	mqtttest.WaitUntil(t, 5*time.Second, "the display shows the fill colour", func() bool {
		return solidFrame(addr, color.RGBA{G: 255, A: 255})
	})

	c.Publish("pidicon/lab/activeScene/set", "wave", false)
	first := pushes()
	mqtttest.WaitUntil(t, 5*time.Second, "the animation runs", func() bool { return pushes() >= first+5 })

	c.Publish("pidicon/lab/playState/set", "paused", false)
	c.WaitFor(5*time.Second, "paused in the metrics", func(m mqtttest.Msg) bool {
		return m.Topic == "pidicon/lab/metrics" && m.JSON()["status"] == "paused"
	})
	frozen, before := pushes(), mustFrame(t, addr)
	// Metrics come at most once a second (lastSeen moves with every probe):
	// two more of them span over a second of pause.
	for range 2 {
		if _, ok := c.WaitSince(c.Mark(), 5*time.Second, func(m mqtttest.Msg) bool { return m.Topic == "pidicon/lab/metrics" }); !ok {
			t.Fatal("no metrics while paused")
		}
	}
	if n := pushes(); n != frozen {
		t.Errorf("%v frames pushed while paused", n-frozen)
	}
	if after := mustFrame(t, addr); !sameImage(before, after) {
		t.Error("the frame changed while paused")
	}

	c.Publish("pidicon/lab/playState/set", "stopped", false)
	mqtttest.WaitUntil(t, 5*time.Second, "the display shows black", func() bool {
		return solidFrame(addr, color.RGBA{A: 255})
	})
	if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

func mustFrame(t *testing.T, addr string) image.Image {
	t.Helper()
	img, err := framePNG(addr)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func sameImage(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(a.At(x, y)) != color.RGBAModel.Convert(b.At(x, y)) {
				return false
			}
		}
	}
	return true
}
