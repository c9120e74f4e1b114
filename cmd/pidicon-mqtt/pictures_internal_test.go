package main

import (
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

var updatePictures = flag.Bool("update", false, "rewrite the README's pictures in docs/img/")

// TestReadme_Pictures draws the README's pictures of what a display shows
// with the render command's own code and compares them with docs/img/
// (go test -run Pictures ./cmd/pidicon-mqtt -update rewrites them).
func TestReadme_Pictures(t *testing.T) {
	for _, p := range []struct {
		name          string
		scene, params string
		notify        string
	}{
		{"text", "text", `{"text":"Grüße! 21°C","color":"#ffcc00"}`, ""},
		{"image", "image", `{"image":"sun","fit":"contain"}`, ""},
		{"notification", "clock", `{}`, `{"text":"Door open","icon":"sun","color":"#ff4040"}`},
	} {
		for _, size := range []string{"64x64", "32x8"} {
			t.Run(p.name+"/"+size, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out.png")
				err := renderScene(renderOptions{
					scene: p.scene, size: size, params: p.params, notify: p.notify,
					images: "../../examples/images", now: "2026-11-27T13:45:07Z", scale: 6, grid: true, out: out,
				}, io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				f, err := os.Open(out)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				img, err := png.Decode(f)
				if err != nil {
					t.Fatal(err)
				}
				rgba, ok := img.(*image.RGBA)
				if !ok {
					t.Fatalf("render wrote a %T", img)
				}
				testkit.Golden(t, filepath.Join("../../docs/img", fmt.Sprintf("%s-%s.png", p.name, size)), rgba, *updatePictures)
			})
		}
	}
}
