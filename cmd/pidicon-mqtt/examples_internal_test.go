package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/userscene"
)

var updateExamples = flag.Bool("update-examples", false, "rewrite the example scenes' pictures from the README's render commands")

// readmeRenders returns the render commands of the README's shell
// blocks that draw an example scene file, as arguments.
func readmeRenders(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	inShell, cont := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			inShell = true
		case strings.HasPrefix(line, "```"):
			inShell = false
		case inShell && (cont != "" || strings.HasPrefix(line, "pidicon-mqtt render --file ")):
			cont += strings.TrimSpace(strings.TrimSuffix(line, `\`)) + " "
			if !strings.HasSuffix(line, `\`) {
				out = append(out, strings.Fields(cont)[1:])
				cont = ""
			}
		}
	}
	if len(out) < 4 {
		t.Fatalf("only %d render commands of example scenes in README.md", len(out))
	}
	return out
}

// TestExamples_Pictures draws every example scene with the README's
// command and compares it with the picture the README shows: the examples
// are golden tests (go test -run Examples -update-examples rewrites the pictures).
func TestExamples_Pictures(t *testing.T) {
	examples, _ := filepath.Glob("../../examples/scenes/*.yaml")
	drawn := make(map[string]bool)
	for _, args := range readmeRenders(t) {
		var golden string
		for i, a := range args {
			if strings.HasPrefix(a, "examples/") {
				args[i] = "../../" + a
			}
			if i > 0 && args[i-1] == "-o" {
				golden = args[i]
				args[i] = filepath.Join(t.TempDir(), "out.png")
			}
			if i > 0 && args[i-1] == "--file" {
				drawn[filepath.Clean(args[i])] = true
			}
		}
		t.Run(filepath.Base(golden), func(t *testing.T) {
			var stderr bytes.Buffer
			if err := run(context.Background(), args, nil, nil, &stderr, func(string) string { return "" }); err != nil {
				t.Fatalf("pidicon-mqtt %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
			}
			if stderr.Len() > 0 {
				t.Errorf("warnings: %s", stderr.String())
			}
			out := args[len(args)-1]
			for i, a := range args {
				if a == "-o" {
					out = args[i+1]
				}
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if *updateExamples {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -run Examples -update-examples makes it)", err)
			}
			if diff := pngDiff(t, got, want); diff != "" {
				t.Errorf("%s differs from the picture the README shows: %s (go test -run Examples -update-examples)", golden, diff)
			}
		})
	}
	for _, e := range examples {
		if !drawn[filepath.Clean(e)] {
			t.Errorf("the README has no picture of %s", e)
		}
	}
}

// pngDiff compares two PNGs pixel by pixel, allowing 1 per channel (a
// platform may round a colour mix differently).
func pngDiff(t *testing.T, a, b []byte) string {
	t.Helper()
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if ia.Bounds() != ib.Bounds() {
		return "size " + ia.Bounds().String() + ", want " + ib.Bounds().String()
	}
	r := ia.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ar, ag, ab, _ := ia.At(x, y).RGBA()
			br, bg, bb, _ := ib.At(x, y).RGBA()
			if far(ar, br) || far(ag, bg) || far(ab, bb) {
				return "first at " + image.Pt(x, y).String()
			}
		}
	}
	return ""
}

func far(a, b uint32) bool {
	d := int(a>>8) - int(b>>8)
	return d > 1 || d < -1
}

// TestExamples_ReadmeSceneFiles checks the scene files the README shows
// (YAML blocks that start with "# scenes/"): the daemon takes them.
func TestExamples_ReadmeSceneFiles(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, block := range strings.Split(string(data), "```yaml\n")[1:] {
		text, _, _ := strings.Cut(block, "```")
		name, ok := strings.CutPrefix(strings.SplitN(text, "\n", 2)[0], "# scenes/")
		if !ok {
			continue
		}
		n++
		if _, err := userscene.Parse(name, []byte(text), scene.Builtin()); err != nil {
			t.Errorf("README's %s: %v", name, err)
		}
	}
	if n == 0 {
		t.Error("no scene file in README.md")
	}
}
