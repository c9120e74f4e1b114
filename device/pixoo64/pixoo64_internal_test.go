package pixoo64

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"testing"

	"github.com/pidicon/pidicon-mqtt/device"
)

func TestPicIDs(t *testing.T) {
	type step struct {
		id    int
		reset bool
	}
	// run takes n frames, each one accepted by the device.
	run := func(p *picIDs, n int) []step {
		var out []step
		for range n {
			id, reset := p.next()
			out = append(out, step{id, reset})
			p.pushed(id)
		}
		return out
	}
	equal := func(t *testing.T, got, want []step) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
	}

	t.Run("Every3", func(t *testing.T) {
		p := picIDs{every: 3}
		equal(t, run(&p, 7), []step{{1, true}, {2, false}, {3, false}, {1, true}, {2, false}, {3, false}, {1, true}})
	})
	t.Run("Every1", func(t *testing.T) {
		p := picIDs{every: 1}
		equal(t, run(&p, 3), []step{{1, true}, {1, true}, {1, true}})
	})
	t.Run("Invalidate", func(t *testing.T) {
		p := picIDs{every: 4}
		equal(t, run(&p, 2), []step{{1, true}, {2, false}})
		p.invalidate()
		equal(t, run(&p, 2), []step{{1, true}, {2, false}})
	})
	t.Run("NotPushed", func(t *testing.T) {
		// A frame the device did not take does not use up its id.
		p := picIDs{every: 4}
		run(&p, 2)
		if id, reset := p.next(); id != 3 || reset {
			t.Fatalf("next() = %d, %v; want 3, false", id, reset)
		}
		if id, reset := p.next(); id != 3 || reset {
			t.Fatalf("next() again = %d, %v; want 3, false", id, reset)
		}
	})
	t.Run("NeverLarge", func(t *testing.T) {
		p := picIDs{every: DefaultResetEvery}
		for i := range 10_000 {
			id, _ := p.next()
			if id < 1 || id > DefaultResetEvery {
				t.Fatalf("frame %d: PicID %d", i, id)
			}
			p.pushed(id)
		}
	})
}

func TestAppendFrameBody(t *testing.T) {
	frame := image.NewRGBA(image.Rect(0, 0, 64, 64))
	frame.SetRGBA(0, 0, color.RGBA{R: 1, G: 2, B: 3, A: 255})
	frame.SetRGBA(63, 0, color.RGBA{R: 4, G: 5, B: 6, A: 255})
	frame.SetRGBA(0, 1, color.RGBA{R: 7, G: 8, B: 9, A: 255})
	frame.SetRGBA(63, 63, color.RGBA{R: 10, G: 11, B: 12, A: 0})

	body := appendFrameBody(nil, make([]byte, frameBytes), picture{id: 12345, num: 1, speedMS: 1000}, frame)
	if len(body) > frameBodyCap {
		t.Errorf("body is %d bytes, over frameBodyCap %d", len(body), frameBodyCap)
	}
	var got struct {
		Command                                      string
		PicNum, PicWidth, PicOffset, PicID, PicSpeed int
		PicData                                      []byte // base64 decoded by encoding/json
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if got.Command != "Draw/SendHttpGif" || got.PicNum != 1 || got.PicWidth != 64 || got.PicOffset != 0 ||
		got.PicID != 12345 || got.PicSpeed != 1000 {
		t.Errorf("body fields %+v", got)
	}
	if len(got.PicData) != frameBytes {
		t.Fatalf("PicData is %d bytes, want %d", len(got.PicData), frameBytes)
	}
	for _, px := range []struct {
		x, y    int
		r, g, b byte
	}{{0, 0, 1, 2, 3}, {63, 0, 4, 5, 6}, {0, 1, 7, 8, 9}, {63, 63, 10, 11, 12}, {1, 0, 0, 0, 0}} {
		i := (px.y*64 + px.x) * 3
		if rgb := got.PicData[i : i+3]; rgb[0] != px.r || rgb[1] != px.g || rgb[2] != px.b {
			t.Errorf("pixel (%d,%d) at byte %d is %v, want %v", px.x, px.y, i, rgb, []byte{px.r, px.g, px.b})
		}
	}
}

func TestCheckReplyMessages(t *testing.T) {
	err := checkReply(cmdSetBrightness, []byte(`{"error_code":1}`), nil)
	if got, want := err.Error(), "pixoo64: Channel/SetBrightness: device answered error_code 1"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if !errors.Is(err, ErrDevice) || errors.Is(err, ErrBadReply) {
		t.Errorf("error %v should wrap ErrDevice only", err)
	}
}

func FuzzCheckReply(f *testing.F) {
	for _, s := range []string{
		`{"error_code":0}`, `{"error_code":1}`, `{"error_code":"x"}`, `{"ReturnCode":0}`,
		"Request data illegal json", `{"error_code":0`, ``, `null`, `[]`, `{"error_code":1e400}`,
		`{"error_code":-0}`, `{"error_code":0,"Brightness":5,"LightSwitch":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var out struct{ Brightness, LightSwitch *int }
		err := checkReply(cmdGetAllConf, data, &out)
		if err == nil {
			var head map[string]any
			if json.Unmarshal(data, &head) != nil {
				t.Fatalf("accepted %q, which is not a JSON object", data)
			}
			return
		}
		if !errors.Is(err, ErrDevice) && !errors.Is(err, ErrBadReply) {
			t.Fatalf("error %v wraps neither sentinel", err)
		}
	})
}

func BenchmarkPushFrameEncode(b *testing.B) {
	buffers := device.NewBuffers()
	frame := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range frame.Pix {
		frame.Pix[i] = byte(i * 7)
	}
	b.SetBytes(int64(base64.StdEncoding.EncodedLen(frameBytes)))
	b.ReportAllocs()
	id := 0
	for b.Loop() {
		id = id%DefaultResetEvery + 1
		buf := buffers.Bytes(frameBytes + frameBodyCap)
		appendFrameBody((*buf)[frameBytes:frameBytes], (*buf)[:frameBytes], picture{id: id, num: 1, speedMS: 1000}, frame)
		buffers.PutBytes(buf)
	}
}
