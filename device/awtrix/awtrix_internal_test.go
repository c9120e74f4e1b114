package awtrix

import (
	"encoding/json"
	"image"
	"image/color"
	"testing"
)

func TestAppendAppBody(t *testing.T) {
	frame := image.NewRGBA(image.Rect(0, 0, Width, Height))
	frame.SetRGBA(0, 0, color.RGBA{R: 1, G: 2, B: 3, A: 255})
	frame.SetRGBA(31, 0, color.RGBA{R: 0xff, A: 255})
	frame.SetRGBA(0, 1, color.RGBA{G: 0xff, A: 255})
	frame.SetRGBA(31, 7, color.RGBA{R: 0xff, G: 0xff, B: 0xff, A: 0})

	var app struct {
		Draw []map[string][]json.RawMessage
	}
	body := appendAppBody(nil, frame)
	if err := json.Unmarshal(body, &app); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if len(app.Draw) != 1 || len(app.Draw[0]) != 1 || len(app.Draw[0]["db"]) != 5 {
		t.Fatalf("body %s is not one db instruction", body)
	}
	db := app.Draw[0]["db"]
	var x, y, w, h int
	var colours []uint32
	for i, v := range []any{&x, &y, &w, &h, &colours} {
		if err := json.Unmarshal(db[i], v); err != nil {
			t.Fatalf("db argument %d %s: %v", i, db[i], err)
		}
	}
	if x != 0 || y != 0 || w != Width || h != Height || len(colours) != Width*Height {
		t.Fatalf("db at (%d,%d) size %dx%d with %d colours", x, y, w, h, len(colours))
	}
	for _, px := range []struct {
		x, y int
		rgb  uint32
	}{{0, 0, 0x010203}, {31, 0, 0xff0000}, {0, 1, 0x00ff00}, {31, 7, 0xffffff}, {1, 0, 0}} {
		if got := colours[px.y*Width+px.x]; got != px.rgb {
			t.Errorf("pixel (%d,%d) is %#06x, want %#06x", px.x, px.y, got, px.rgb)
		}
	}
}

func TestAppendAppBodyCap(t *testing.T) {
	white := image.NewRGBA(image.Rect(0, 0, Width, Height))
	for i := range white.Pix {
		white.Pix[i] = 0xff
	}
	body := appendAppBody(nil, white)
	if len(body) != appBodyCap-1 { // 255 commas, not 256
		t.Errorf("all-white body is %d bytes, want appBodyCap-1 = %d", len(body), appBodyCap-1)
	}
	buf := make([]byte, 0, appBodyCap)
	allocs := testing.AllocsPerRun(100, func() { buf = appendAppBody(buf[:0], white) })
	if allocs != 0 {
		t.Errorf("appendAppBody allocates %v times per frame, want 0", allocs)
	}
}

func BenchmarkPushFrameEncode(b *testing.B) {
	c, err := New("127.0.0.1", Options{})
	if err != nil {
		b.Fatal(err)
	}
	frame := image.NewRGBA(image.Rect(0, 0, Width, Height))
	for i := range frame.Pix {
		frame.Pix[i] = byte(i * 7)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.body = appendAppBody(c.body[:0], frame)
	}
	b.SetBytes(int64(len(c.body)))
}
