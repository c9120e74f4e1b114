package device_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/awtrix"
	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// BenchmarkFrame renders one 64x64 frame of the animated scene and encodes
// it as the controller does: as a PNG (the frame preview) and as a Pixoo
// push (the JSON body, through the real driver into a handler that only
// reads it; no network).
func BenchmarkFrame(b *testing.B) {
	wave, _ := scene.Builtin().Lookup(scene.Wave)
	frame := image.NewRGBA(image.Rect(0, 0, 64, 64))
	b.Run("render", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			wave.Render(frame, scene.Frame{Number: i})
		}
	})
	b.Run("render+png", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		enc := device.NewPreviews()
		for i := 0; b.Loop(); i++ {
			wave.Render(frame, scene.Frame{Number: i})
			buf.Reset()
			if err := enc.Encode(&buf, frame); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "png-bytes")
	})
	b.Run("render+pixoo-body", func(b *testing.B) {
		ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Write([]byte(`{"error_code":0}`))
		})
		// Buffers shared as the daemon shares them between displays.
		drv, err := pixoo64.New("127.0.0.1:80", pixoo64.Options{HTTPClient: &http.Client{Transport: testkit.HandlerTransport{Handler: ok}}, Buffers: device.NewBuffers()})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			wave.Render(frame, scene.Frame{Number: i})
			if err := drv.PushFrame(ctx, frame); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkController_5fps runs one device on the animated scene (5 frames
// a second) against the real simulator over loopback, for a second of wall
// time per iteration, and reports the process's CPU time as a share of one
// core (the simulator's work included, since it runs in this process).
// Run it with -benchtime=3x.
func BenchmarkController_5fps(b *testing.B) {
	p, _, drv := realDevice(b)
	c := device.NewController(device.Options{ID: "bench", Driver: drv, Scenes: scene.Builtin()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx, &recorder{}); close(done) }()
	defer func() { cancel(); <-done }()
	c.Desire(state.State{ActiveScene: scene.Wave, PlayState: state.Playing, Brightness: 50, DisplayOn: true, LoggingLevel: state.LevelError}, true)

	var cpu, wall time.Duration
	pushes := p.Pushes()
	for b.Loop() {
		before, start := cpuTime(b), time.Now()
		<-time.After(time.Second) // the measurement window: a second of playback
		cpu += cpuTime(b) - before
		wall += time.Since(start)
	}
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "core-share")
	b.ReportMetric(float64(p.Pushes()-pushes)/wall.Seconds(), "frames/s")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTextAndNotification renders one frame of the text scene (a
// scrolling text) and of a notification over the animated scene, and
// encodes it for the display as the driver does (the Pixoo 64's JSON body,
// or the AWTRIX app body, through the real driver into a handler that only
// reads it), for both display sizes. The baseline is the wave scene's
// render+encode of the same size.
func BenchmarkTextAndNotification(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/post" {
			w.Write([]byte(`{"error_code":0}`))
			return
		}
		w.Write([]byte("OK"))
	})
	client := &http.Client{Transport: testkit.HandlerTransport{Handler: ok}}
	pixoo, err := pixoo64.New("127.0.0.1:80", pixoo64.Options{HTTPClient: client, Buffers: device.NewBuffers()})
	if err != nil {
		b.Fatal(err)
	}
	clock, err := awtrix.New("127.0.0.1:80", awtrix.Options{HTTPClient: client})
	if err != nil {
		b.Fatal(err)
	}
	r := scene.Builtin()
	text, _ := r.Lookup(scene.Text)
	wave, _ := r.Lookup(scene.Wave)
	textParams := text.WithDefaults(scene.Values{"text": "Grüße aus Köln: 21°C, 5€ the kWh, ÄÖÜ éèàçñ ß"})
	n, err := device.ParseNotification([]byte(`{"text":"Washing machine done","background":[0,0,80]}`), nil)
	if err != nil {
		b.Fatal(err)
	}
	picURL := "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngOf(b, 16, 16, color.RGBA{G: 255, B: 255, A: 255}))
	pic, err := device.ParseNotification([]byte(`{"image":"`+picURL+`"}`), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, d := range []device.Driver{pixoo, clock} {
		size := d.Size()
		frame := image.NewRGBA(image.Rect(0, 0, size.W, size.H))
		for _, tc := range []struct {
			name string
			draw func(i int)
		}{
			{"wave", func(i int) { wave.Render(frame, scene.Frame{Number: i}) }},
			{"text", func(i int) {
				text.Render(frame, scene.Frame{Number: i, Elapsed: time.Duration(i) * 200 * time.Millisecond, Params: textParams})
			}},
			{"notification", func(i int) {
				wave.Render(frame, scene.Frame{Number: i})
				device.DrawNotification(frame, &n, nil, time.Duration(i)*200*time.Millisecond)
			}},
			{"notification-picture", func(i int) {
				device.DrawNotification(frame, &pic, nil, time.Duration(i)*200*time.Millisecond)
			}},
		} {
			b.Run(tc.name+"/"+size.String(), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					tc.draw(i)
					if err := d.PushFrame(ctx, frame); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
