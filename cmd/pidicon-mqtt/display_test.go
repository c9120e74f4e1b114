package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/sim"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// colourAt waits until the simulated display's frame has c at (x, y).
func waitPixel(t *testing.T, what string, frame func() *image.RGBA, x, y int, c color.RGBA) {
	t.Helper()
	mqtttest.WaitUntil(t, 10*time.Second, what, func() bool {
		got := frame().RGBAAt(x, y)
		return got.R == c.R && got.G == c.G && got.B == c.B
	})
}

// pushesPerSecond is the most Draw/SendHttpGif posts that reached the
// display in any second (by their arrival: when the simulator applied
// them depends on its own load).
func pushesPerSecond(reqs []sim.Request) int {
	var at []time.Time
	for _, r := range reqs {
		if r.Command == "Draw/SendHttpGif" {
			at = append(at, r.Arrived)
		}
	}
	most := 0
	for i := range at {
		n := 0
		for _, t := range at[i:] {
			if t.Sub(at[i]) < time.Second {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

// TestDisplay_EndToEnd drives what a display shows (CONTRACT §7) through
// MQTT against the real binary, with a simulated Pixoo 64 and AWTRIX on
// the network: scene parameters, text, an uploaded image, notifications,
// the pacing of a burst of mixed triggers, every bad input class (one
// event, nothing changed), and a restart on an empty broker that brings
// the parameters and the image back.
func TestDisplay_EndToEnd(t *testing.T) {
	dir := t.TempDir()
	pixoo, pixooSrv := testkit.StartPixoo(t)
	clock, clockSrv := testkit.StartAwtrix(t)
	port := freePort(t)
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	config := writeConfig(t, dir, fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
state: {path: %q, debounce: 100ms, max_delay: 1s}
homeassistant: {enabled: false}
devices:
  - {id: px, type: pixoo64, host: %q, probe_interval: 200ms}
  - {id: aw, type: awtrix, host: %q, probe_interval: 200ms}
`, port, filepath.Join(dir, "data", "runtime-state.json"), pixooSrv.Addr(), clockSrv.Addr()))
	d := startProc(t, config)
	mqtttest.WaitAccepting(t, 10*time.Second, url)
	c := mqtttest.Connect(t, url)
	c.Subscribe("pidicon/#")
	waitState(t, c, "px", func(s state.State) bool { return true })
	waitState(t, c, "aw", func(s state.State) bool { return true })
	red, green, blue := color.RGBA{R: 255, A: 255}, color.RGBA{G: 255, A: 255}, color.RGBA{B: 255, A: 255}

	// Scene parameters: the original pidicon's shape, then sceneParams/set,
	// which applies at the next frame without a restart.
	c.Publish("pidicon/px/activeScene/set", `{"scene":"fill","color":[255,0,0,255]}`, false)
	waitState(t, c, "px", func(s state.State) bool {
		return s.ActiveScene == "fill" && s.SceneParams == `{"color":"#ff0000"}`
	})
	waitPixel(t, "a red Pixoo", pixoo.Frame, 10, 10, red)
	c.WaitFor(5*time.Second, "retained sceneParams", func(m mqtttest.Msg) bool {
		return m.Topic == "pidicon/px/sceneParams" && m.Text() == `{"color":"#ff0000"}`
	})
	gen := func() float64 {
		m, _ := c.Last("pidicon/px/metrics")
		v, _ := m.JSON()["generationId"].(float64)
		return v
	}
	mqtttest.WaitUntil(t, 5*time.Second, "metrics of the fill scene", func() bool { return gen() > 0 })
	before := gen()
	c.Publish("pidicon/px/sceneParams/set", `{"color":"#0f0"}`, false)
	waitPixel(t, "a green Pixoo", pixoo.Frame, 10, 10, green)
	mqtttest.WaitUntil(t, 3*time.Second, "metrics after the change", func() bool {
		m, _ := c.Last("pidicon/px/metrics")
		return m.JSON()["status"] == "running"
	})
	if after := gen(); after != before {
		t.Errorf("generationId %v → %v: a parameter change restarted the scene", before, after)
	}

	// Text on the AWTRIX, in one JSON set.
	c.Publish("pidicon/aw/set", `{"activeScene":"text","sceneParams":{"text":"Hi","color":"#00f","align":"left"}}`, false)
	waitState(t, c, "aw", func(s state.State) bool { return s.ActiveScene == "text" })
	mqtttest.WaitUntil(t, 10*time.Second, "blue text on the AWTRIX", func() bool {
		f := clock.Frame()
		for i := 0; i < len(f.Pix); i += 4 {
			if f.Pix[i+2] == 255 && f.Pix[i] == 0 {
				return true
			}
		}
		return false
	})

	// An image: uploaded, listed in bridge/info, shown.
	c.PublishBytes("pidicon/bridge/request/image/dot", testkit.PNG(t, testkit.Uniform(8, 8, blue)), false)
	c.WaitFor(10*time.Second, "the image in bridge/info", func(m mqtttest.Msg) bool {
		return m.Topic == "pidicon/bridge/info" && strings.Contains(m.Text(), `"name":"dot","width":8,"height":8,"frames":1`)
	})
	c.Publish("pidicon/px/activeScene/set", `{"scene":"image","image":"dot","fit":"stretch"}`, false)
	waitPixel(t, "the blue image on the Pixoo", pixoo.Frame, 32, 32, blue)

	// Notifications: queued, a high one first, dismissed; the scene comes back.
	c.Publish("pidicon/px/notify", `{"text":"one","hold":true,"background":"#400"}`, false)
	c.Publish("pidicon/px/notify", `{"text":"two","hold":true}`, false)
	c.Publish("pidicon/px/notify", `{"text":"urgent","priority":"high","id":"u","hold":true}`, false)
	notification := func(showing string, queued int) func(m mqtttest.Msg) bool {
		return func(m mqtttest.Msg) bool {
			var v struct {
				Showing *struct{ Text string }
				Queued  int
			}
			if m.Topic != "pidicon/px/notification" || json.Unmarshal(m.Payload, &v) != nil {
				return false
			}
			if showing == "" {
				return v.Showing == nil && v.Queued == queued
			}
			return v.Showing != nil && v.Showing.Text == showing && v.Queued == queued
		}
	}
	c.WaitFor(5*time.Second, "urgent shown, two queued", notification("urgent", 2))
	c.Publish("pidicon/px/notify/dismiss", "u", false)
	c.WaitFor(5*time.Second, "one shown after urgent", notification("one", 1))
	c.Publish("pidicon/px/notify/dismiss", "", false)
	c.Publish("pidicon/px/notify/dismiss", "", false)
	c.WaitFor(5*time.Second, "no notification", notification("", 0))
	waitPixel(t, "the image again after the notifications", pixoo.Frame, 32, 32, blue)
	if st, _ := c.Last("pidicon/px/activeScene"); st.Text() != "image" {
		t.Errorf("activeScene %q after notifications, want image", st.Text())
	}

	t.Run("bad input", func(t *testing.T) {
		closed := freePort(t)
		tooMany := func() {
			for i := range 16 {
				c.Publish("pidicon/aw/notify", fmt.Sprintf(`{"text":"%d","hold":true}`, i), false)
			}
		}
		cases := []struct {
			name, topic string
			payload     []byte
			before      func()
			want        string
		}{
			{"unknown parameter", "pidicon/aw/sceneParams/set", []byte(`{"txt":"x"}`), nil, `has no parameter "txt"`},
			{"wrong type", "pidicon/aw/sceneParams/set", []byte(`{"text":5}`), nil, `want a JSON string`},
			{"text too long", "pidicon/aw/activeScene/set", []byte(`{"scene":"text","text":"` + strings.Repeat("x", 513) + `"}`), nil, "at most 512"},
			{"bad colour", "pidicon/px/set", []byte(`{"activeScene":"fill","sceneParams":{"color":"#12"}}`), nil, "want a colour"},
			{"not an image", "pidicon/bridge/request/image/junk", []byte("hello, not a picture"), nil, "not a valid PNG, GIF or JPEG image"},
			{"image too large", "pidicon/bridge/request/image/big", bytes.Repeat([]byte{0x89}, 1<<20+1), nil, "at most 1048576 bytes"},
			{"unreachable URL", "pidicon/bridge/request/image/far", []byte(fmt.Sprintf(`{"url":"http://127.0.0.1:%d/x.png"}`, closed)), nil, "not stored"},
			{"unknown image name", "pidicon/px/activeScene/set", []byte(`{"scene":"image","image":"nope"}`), nil, `no image "nope"`},
			{"17th notification", "pidicon/aw/notify", []byte(`{"text":"17"}`), tooMany, "queue full"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.before != nil {
					tc.before()
					c.WaitFor(5*time.Second, "16 notifications on aw", func(m mqtttest.Msg) bool {
						return m.Topic == "pidicon/aw/notification" && strings.Contains(m.Text(), `"queued":15`)
					})
				}
				retained := func() map[string]string {
					out := map[string]string{}
					for _, id := range []string{"px", "aw"} {
						for _, f := range append(state.Fields(), "state") {
							m, _ := c.Last("pidicon/" + id + "/" + f)
							out[m.Topic] = m.Text()
						}
					}
					info, _ := c.Last("pidicon/bridge/info")
					out["info"] = info.Text()
					return out
				}
				was := retained()
				mark := c.Mark()
				c.PublishBytes(tc.topic, tc.payload, false)
				ev, ok := c.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool { return m.Topic == "pidicon/bridge/event" })
				if !ok {
					t.Fatal("no event")
				}
				if e := ev.JSON(); e == nil || !strings.Contains(fmt.Sprint(e["error"]), tc.want) || e["topic"] != tc.topic {
					t.Errorf("event %s, want it to say %q and name the topic", ev.Payload, tc.want)
				}
				// A valid set after it: everything before it was applied (or
				// refused), so a second event would be here by now.
				sync := c.Mark()
				c.Publish("pidicon/px/get", "", false)
				c.WaitSince(sync, 5*time.Second, func(m mqtttest.Msg) bool { return m.Topic == "pidicon/px/availability" })
				events := 0
				for _, m := range c.Since(mark) {
					if m.Topic == "pidicon/bridge/event" {
						events++
					}
				}
				if events != 1 {
					t.Errorf("%d events for one bad message", events)
				}
				if now := retained(); fmt.Sprint(now) != fmt.Sprint(was) {
					t.Errorf("the retained state changed:\nbefore %v\nafter  %v", was, now)
				}
			})
		}
		for range 16 {
			c.Publish("pidicon/aw/notify/dismiss", "", false)
		}
	})

	t.Run("pacing", func(t *testing.T) {
		mark := len(pixoo.Requests())
		// The burst: a command every 50 ms for a second, as the contract's
		// example says; spread over time so that a display without pacing
		// would take more than 5 frames in that second.
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := range 20 {
			<-tick.C
			switch i % 4 {
			case 0:
				c.Publish("pidicon/px/activeScene/set", "wave", false)
			case 1:
				c.Publish("pidicon/px/activeScene/set", fmt.Sprintf(`{"scene":"fill","color":[%d,0,0]}`, i*10), false)
			case 2:
				c.Publish("pidicon/px/notify", fmt.Sprintf(`{"text":"n%d","duration":1,"id":"burst"}`, i), false)
			case 3:
				c.Publish("pidicon/px/sceneParams/set", fmt.Sprintf(`{"color":[0,%d,0]}`, i*10), false)
			}
		}
		c.Publish("pidicon/px/activeScene/set", `{"scene":"image","image":"dot"}`, false)
		waitPixel(t, "the last scene", pixoo.Frame, 32, 32, blue)
		if n := pushesPerSecond(pixoo.Requests()[mark:]); n > 5 {
			t.Errorf("%d frames reached the Pixoo in one second, want at most 5", n)
		}
	})

	// Restart on an empty broker: the parameters come back from the file,
	// the image from the image folder.
	if code := d.stop(syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	pixoo.PowerCycle()
	startProc(t, config)
	mqtttest.WaitAccepting(t, 10*time.Second, url)
	c2 := mqtttest.Connect(t, url)
	c2.Subscribe("pidicon/#")
	c2.WaitState(10*time.Second, "pidicon", "px", func(s state.State) bool {
		return s.ActiveScene == "image" && s.SceneParams == `{"image":"dot"}`
	})
	c2.WaitState(10*time.Second, "pidicon", "aw", func(s state.State) bool {
		return s.ActiveScene == "text" && strings.Contains(string(s.SceneParams), `"text":"Hi"`)
	})
	c2.WaitFor(10*time.Second, "the image still listed", func(m mqtttest.Msg) bool {
		return m.Topic == "pidicon/bridge/info" && strings.Contains(m.Text(), `"name":"dot"`)
	})
	waitPixel(t, "the image shown after the restart", pixoo.Frame, 32, 32, blue)
}

// TestDisplay_PidiconCompat sends the original pidicon daemon's command
// (CONTRACT §10): the device whose host is the address switches to the
// scene with the payload's parameters; other keys are ignored and listed in
// an info event; an address no device has is refused.
func TestDisplay_PidiconCompat(t *testing.T) {
	pixoo, srv := testkit.StartPixoo(t)
	port := freePort(t)
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	config := writeConfig(t, t.TempDir(), fmt.Sprintf(`
broker: {listen: "127.0.0.1:%d"}
state: {persist: false}
compat: {pidicon: {enabled: true}}
devices: [{id: px, type: pixoo64, host: %q, probe_interval: 200ms}]
`, port, srv.Addr()))
	startProc(t, config)
	mqtttest.WaitAccepting(t, 10*time.Second, url)
	c := mqtttest.Connect(t, url)
	c.Subscribe("pidicon/#")
	waitState(t, c, "px", func(state.State) bool { return true })

	mark := c.Mark()
	c.Publish("pixoo/127.0.0.1/state/upd", `{"scene":"fill","color":[255,0,0,255],"brightness":5}`, false)
	waitState(t, c, "px", func(s state.State) bool {
		return s.ActiveScene == "fill" && s.SceneParams == `{"color":"#ff0000"}` && s.Brightness == 75
	})
	waitPixel(t, "a red Pixoo", pixoo.Frame, 5, 5, color.RGBA{R: 255, A: 255})
	ev, ok := c.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool { return m.Topic == "pidicon/bridge/event" })
	if !ok || ev.JSON()["level"] != "info" || !strings.Contains(ev.Text(), "brightness") {
		t.Errorf("event %s, want an info event listing the ignored key brightness", ev.Payload)
	}

	mark = c.Mark()
	c.Publish("pixoo/10.9.9.9/state/upd", `{"scene":"clock"}`, false)
	ev, ok = c.WaitSince(mark, 5*time.Second, func(m mqtttest.Msg) bool { return m.Topic == "pidicon/bridge/event" })
	if !ok || ev.JSON()["level"] != "error" || !strings.Contains(ev.Text(), `no configured device has the host`) {
		t.Errorf("event %s, want an error for an unknown address", ev.Payload)
	}
	if st, _ := c.Last("pidicon/px/activeScene"); st.Text() != "fill" {
		t.Errorf("activeScene %q after a refused command", st.Text())
	}
}
