package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
)

// TestFarm_AnswersAsTheSimulator drives both kinds of frames-run display,
// the tool's lean one and device/sim's behind a recorder, with the
// daemon's own Pixoo 64 driver and with bad requests: both must take the
// driver's frames (across its frame id resets), read back what was set,
// and refuse the same bad requests, so that the lean display measures
// what the simulator would.
func TestFarm_AnswersAsTheSimulator(t *testing.T) {
	for _, useSim := range []bool{false, true} {
		name := map[bool]string{false: "lean", true: "sim"}[useSim]
		t.Run(name, func(t *testing.T) {
			f, err := startFarm(1, useSim)
			if err != nil {
				t.Fatal(err)
			}
			defer f.close()
			// Keep the driver's last frame body, to check that the lean
			// display reads it without the JSON decoder.
			tr := &bodyKeeper{next: &http.Transport{}}
			defer tr.next.CloseIdleConnections()
			ctx := t.Context()
			drv, err := pixoo64.New(f.addrs[0], pixoo64.Options{API: pixoo64.APIPost, HTTPClient: &http.Client{Transport: tr}})
			if err != nil {
				t.Fatal(err)
			}
			if err := drv.Probe(ctx); err != nil {
				t.Fatal(err)
			}
			if err := drv.SetBrightness(ctx, 40); err != nil {
				t.Fatal(err)
			}
			if err := drv.SetDisplay(ctx, false); err != nil {
				t.Fatal(err)
			}
			conf, err := drv.Conf(ctx)
			if err != nil || conf.Brightness != 40 || conf.ScreenOn {
				t.Errorf("Conf = %+v, %v; want brightness 40, screen off", conf, err)
			}
			const frames = 2*pixoo64.DefaultResetEvery + 3
			img := image.NewRGBA(image.Rect(0, 0, 64, 64))
			for i := range frames {
				img.Set(i%64, 0, color.RGBA{R: 255, A: 255})
				if err := drv.PushFrame(ctx, img); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
			}
			if got := f.counters(); got.frames != frames || got.refused != 0 || got.failed != 0 {
				t.Errorf("after %d frames of the driver: %+v", frames, got)
			}
			if got := f.displays[0].count.Load(); got != frames {
				t.Errorf("%d arrival times, want %d", got, frames)
			}
			if body := tr.last(); !bytes.Contains(body, []byte("Draw/SendHttpGif")) {
				t.Errorf("the driver's last request was no frame: %.120s…", body)
			} else if _, ok := parseFrameBody(body); !ok {
				t.Errorf("the driver's frame body does not take the lean path: %.120s…", body)
			}

			// The PicID is past 1 now: a new image with PicID 1 is refused,
			// as are a short PicData, an unknown command and no JSON.
			data := strings.Repeat("A", pixooPicDataLen)
			for _, bad := range []string{
				`{"Command":"Draw/SendHttpGif","PicNum":1,"PicWidth":64,"PicOffset":0,"PicID":1,"PicSpeed":1000,"PicData":"` + data + `"}`,
				`{"Command":"Draw/SendHttpGif","PicNum":1,"PicWidth":64,"PicOffset":0,"PicID":99,"PicSpeed":1000,"PicData":"AAAA"}`,
				`{"Command":"Draw/SendHttpGif","PicNum":1,"PicWidth":32,"PicOffset":0,"PicID":99,"PicSpeed":1000,"PicData":"` + data + `"}`,
				`{"Command":"Channel/SetBrightness","Brightness":101}`,
				`{"Command":"Draw/Bogus"}`,
				`not json`,
			} {
				before := f.counters()
				post(ctx, t, f.addrs[0], bad)
				if got := f.counters(); got.refused != before.refused+1 || got.frames != before.frames {
					t.Errorf("%.60s…: counters %+v → %+v, want one more refused and no frame", bad, before, got)
				}
			}
			// A well-formed frame with a new PicID in a JSON layout other
			// than the driver's is taken.
			before := f.counters()
			post(ctx, t, f.addrs[0], `{"PicData":"`+data+`","PicSpeed":1000,"PicID":99,"PicOffset":0,"PicWidth":64,"PicNum":1,"Command":"Draw/SendHttpGif"}`)
			if got := f.counters(); got.frames != before.frames+1 || got.refused != before.refused {
				t.Errorf("a frame in another layout: counters %+v → %+v, want one more frame", before, got)
			}
		})
	}
}

// bodyKeeper is a RoundTripper that keeps the last request body.
type bodyKeeper struct {
	next *http.Transport
	mu   sync.Mutex
	body []byte
}

func (k *bodyKeeper) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body.Close()
	k.mu.Lock()
	k.body = body
	k.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	return k.next.RoundTrip(r)
}

func (k *bodyKeeper) last() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.body
}

// post sends body to the display at addr's /post, on a connection of its
// own.
func post(ctx context.Context, t *testing.T, addr, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/post", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
