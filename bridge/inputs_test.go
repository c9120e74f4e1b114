package bridge_test

import (
	"encoding/json"
	"image/color"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/sim"
	"github.com/pidicon/pidicon-mqtt/device/userscene"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

// meters is a scene file that reads three inputs; it draws only when they
// change (fps 0), so every change on the display is a redraw.
const meters = `
name: meters
fps: 0
inputs:
  a: home/a
  b: {topic: home/b, field: x.y}
  c: home/c
layers:
  - {type: fill, color: "#000000"}
  - {type: pixel, x: 0, y: 0, color: "{{if gt .inputs.a 1000}}#ff0000{{else}}#00ff00{{end}}"}
  - {type: pixel, x: 1, y: 0, color: "{{if eq .inputs.b 20}}#0000ff{{else}}#ffff00{{end}}"}
  - {type: pixel, x: 2, y: 0, color: "{{if eq .inputs.c \"on\"}}#ffffff{{else}}#808080{{end}}"}
`

// withScenes gives the daemon a catalog of the built-in scenes and the
// meters scene file, and one display ("demo", a simulated Pixoo 64) that
// shows them; it returns the simulator.
func withScenes(t *testing.T, catalog *scene.Catalog, inputs *userscene.Inputs) (setup, **sim.Pixoo) {
	var pixoo *sim.Pixoo
	return func(o *bridge.Options) {
		o.Catalog = catalog
		o.Inputs = inputs
		p, srv := testkit.StartPixoo(t)
		drv, err := pixoo64.New(srv.Addr(), pixoo64.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pixoo = p
		o.Devices[0].Controller = device.NewController(device.Options{
			ID: "demo", Name: "demo", Version: "test", Driver: drv, Scenes: catalog, ProbeEvery: 200 * time.Millisecond,
		})
	}, &pixoo
}

// userCatalog returns a catalog of the built-in scenes and meters.
func userCatalog(t *testing.T, inputs *userscene.Inputs) (*scene.Catalog, *scene.Registry, *scene.Registry) {
	t.Helper()
	f, err := userscene.Parse("scenes/meters.yaml", []byte(meters), scene.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	builtin := scene.Builtin()
	var all []scene.Scene
	for _, n := range builtin.Names() {
		sc, _ := builtin.Lookup(n)
		all = append(all, sc)
	}
	with := scene.NewRegistry(append(all, f.Scene(inputs, nil))...)
	return scene.NewCatalog(with), with, builtin
}

// inputFilters are the subscriptions the broker holds for client id
// outside the daemon's own topics: its scene inputs.
func inputFilters(b interface{ Subscriptions(string) []string }, id string) []string {
	var out []string
	for _, f := range b.Subscriptions(id) {
		if !strings.HasPrefix(f, base+"/") && !strings.HasPrefix(f, prefix+"/") {
			out = append(out, f)
		}
	}
	return out
}

func pixelIs(p *sim.Pixoo, x, y int, want color.RGBA) func() bool {
	return func() bool { return p.Frame().RGBAAt(x, y) == want }
}

// TestBridge_SceneInputs: while a display shows a scene that reads three
// inputs, the daemon holds exactly those three subscriptions (checked on
// the broker's own session state); the retained values arrive at once;
// a new value redraws the display; switching away drops all three.
func TestBridge_SceneInputs(t *testing.T) {
	events := event.NewLog(100)
	brk := embedded(t, events)
	inputs := userscene.NewInputs()
	catalog, _, _ := userCatalog(t, inputs)
	tune, pixoo := withScenes(t, catalog, inputs)
	c := mqtttest.Connect(t, brk.URL())
	c.Publish("home/a", "1500", true) // there before the scene is shown
	c.Publish("home/b", `{"x":{"y":20}}`, true)
	startDaemon(t, brk.URL(), []string{"demo"}, events, tune)
	clientID := "pidicon-test-" + t.Name()

	if got := inputFilters(brk, clientID); len(got) != 0 {
		t.Fatalf("input subscriptions before any display shows a scene that reads them: %v", got)
	}
	c.Publish(topic("demo", "activeScene/set"), "meters", false)
	want := []string{"home/a", "home/b", "home/c"}
	mqtttest.WaitUntil(t, 10*time.Second, "subscribed to the three inputs", func() bool {
		return slices.Equal(inputFilters(brk, clientID), want)
	})
	red, green, blue, grey, white := color.RGBA{R: 255, A: 255}, color.RGBA{G: 255, A: 255}, color.RGBA{B: 255, A: 255},
		color.RGBA{R: 128, G: 128, B: 128, A: 255}, color.RGBA{R: 255, G: 255, B: 255, A: 255}
	mqtttest.WaitUntil(t, 10*time.Second, "the retained values shown at once", func() bool {
		return pixelIs(*pixoo, 0, 0, red)() && pixelIs(*pixoo, 1, 0, blue)() && pixelIs(*pixoo, 2, 0, grey)()
	})

	c.Publish("home/a", "500", false)
	mqtttest.WaitUntil(t, 10*time.Second, "a new value of a redraws", pixelIs(*pixoo, 0, 0, green))
	c.Publish("home/c", "on", false)
	mqtttest.WaitUntil(t, 10*time.Second, "a new value of c redraws", pixelIs(*pixoo, 2, 0, white))
	if got := inputFilters(brk, clientID); !slices.Equal(got, want) {
		t.Errorf("subscriptions while showing: %v, want %v", got, want)
	}

	c.Publish(topic("demo", "activeScene/set"), "clock", false)
	mqtttest.WaitUntil(t, 10*time.Second, "no input subscriptions after switching away", func() bool {
		return len(inputFilters(brk, clientID)) == 0
	})
	// Back again: the values kept are shown, and the subscriptions return.
	c.Publish(topic("demo", "activeScene/set"), "meters", false)
	mqtttest.WaitUntil(t, 10*time.Second, "subscribed again", func() bool {
		return slices.Equal(inputFilters(brk, clientID), want)
	})
	mqtttest.WaitUntil(t, 10*time.Second, "the values shown again", pixelIs(*pixoo, 2, 0, white))
}

// TestBridge_SceneListChanges: a scene file that goes away while a display
// shows it: the display shows black and keeps it as activeScene, one event
// says so, bridge/info and the Home Assistant scene select drop it; when
// it comes back all of it returns.
func TestBridge_SceneListChanges(t *testing.T) {
	events := event.NewLog(100)
	brk := embedded(t, events)
	inputs := userscene.NewInputs()
	catalog, with, without := userCatalog(t, inputs)
	tune, pixoo := withScenes(t, catalog, inputs)
	startDaemon(t, brk.URL(), []string{"demo"}, events, tune, withHA)
	c := mqtttest.Connect(t, brk.URL())
	c.Subscribe(base+"/#", prefix+"/#")
	c.Publish("home/a", "1500", true)
	c.Publish(topic("demo", "activeScene/set"), "meters", false)
	mqtttest.WaitUntil(t, 10*time.Second, "meters shown", pixelIs(*pixoo, 0, 0, color.RGBA{R: 255, A: 255}))

	sceneOptions := func() []string {
		m, ok := c.Last(prefix + "/select/" + base + "/demo_scene/config")
		if !ok {
			return nil
		}
		var cfg struct {
			Options []string `json:"options"`
		}
		json.Unmarshal(m.Payload, &cfg)
		return cfg.Options
	}
	infoScenes := func() []string {
		m, ok := c.Last(base + "/bridge/info")
		if !ok {
			return nil
		}
		var info struct {
			Scenes []string `json:"scenes"`
		}
		json.Unmarshal(m.Payload, &info)
		return info.Scenes
	}
	if !slices.Contains(sceneOptions(), "meters") || !slices.Contains(infoScenes(), "meters") {
		t.Fatalf("meters missing from the select (%v) or bridge/info (%v)", sceneOptions(), infoScenes())
	}

	mark := c.Mark()
	catalog.Set(without)
	mqtttest.WaitUntil(t, 10*time.Second, "the display shows black", pixelIs(*pixoo, 0, 0, color.RGBA{A: 255}))
	mqtttest.WaitUntil(t, 10*time.Second, "bridge/info and the select drop meters", func() bool {
		return !slices.Contains(sceneOptions(), "meters") && !slices.Contains(infoScenes(), "meters") && len(infoScenes()) > 0
	})
	ev, ok := c.WaitSince(mark, 10*time.Second, func(m mqtttest.Msg) bool { return m.Topic == base+"/bridge/event" })
	if !ok {
		t.Fatal("no event about the scene that went away")
	}
	if e := ev.JSON(); e["device"] != "demo" || !strings.Contains(e["error"].(string), `"meters" no longer exists`) {
		t.Errorf("event %s", ev.Payload)
	}
	if st, _ := c.Last(topic("demo", "activeScene")); st.Text() != "meters" {
		t.Errorf("activeScene is %q, want meters kept", st.Text())
	}

	catalog.Set(with)
	mqtttest.WaitUntil(t, 10*time.Second, "meters shown again", pixelIs(*pixoo, 0, 0, color.RGBA{R: 255, A: 255}))
	mqtttest.WaitUntil(t, 10*time.Second, "bridge/info and the select list meters again", func() bool {
		return slices.Contains(sceneOptions(), "meters") && slices.Contains(infoScenes(), "meters")
	})
	var n int
	for _, m := range c.Since(mark) {
		if m.Topic == base+"/bridge/event" && strings.Contains(m.Text(), "no longer exists") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d events about the scene that went away, want 1", n)
	}
}

// TestBridge_SceneInputsAfterBrokerRestart: a broker that restarts
// without persistence forgets our subscriptions; the daemon subscribes to
// the inputs again, and new values are drawn.
func TestBridge_SceneInputsAfterBrokerRestart(t *testing.T) {
	mosq := mqtttest.StartMosquitto(t, mqtttest.Options{})
	url := mosq.URL()
	inputs := userscene.NewInputs()
	catalog, _, _ := userCatalog(t, inputs)
	tune, pixoo := withScenes(t, catalog, inputs)
	startDaemon(t, url, []string{"demo"}, nil, tune)
	c := mqtttest.Connect(t, url)
	c.Publish(topic("demo", "activeScene/set"), "meters", false)
	red, green := color.RGBA{R: 255, A: 255}, color.RGBA{G: 255, A: 255}
	mqtttest.WaitUntil(t, 10*time.Second, "a value drawn", func() bool {
		c.Publish("home/a", "1500", false) // until the subscription is there
		return pixelIs(*pixoo, 0, 0, red)()
	})

	mosq.Stop()
	mosq.StartAgain()
	waitOnline(t, url, base, []string{"demo"})
	c2 := mqtttest.Connect(t, url)
	mqtttest.WaitUntil(t, 15*time.Second, "a value published after the restart is drawn", func() bool {
		c2.Publish("home/a", "10", false)
		return pixelIs(*pixoo, 0, 0, green)()
	})
}
