package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
)

// The pages for humans that every simulator serves beside its API:
// GET /frame.png, the frame shown; GET /state, the state as JSON; and GET /,
// a page that shows both and refreshes them twice a second.

// servePNG answers img as an uncached PNG.
func servePNG(w http.ResponseWriter, img image.Image) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// serveJSON answers v as uncached JSON.
func serveJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// serveHTML answers page, an HTML page.
func serveHTML(w http.ResponseWriter, page string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, page)
}

// indexPage is the GET / page: title, then heading over the frame shown
// w x h CSS pixels with alt as its text, then the state.
func indexPage(title, heading, alt string, w, h int) string {
	return fmt.Sprintf(`<!doctype html>
<meta charset="utf-8">
<title>%s</title>
<style>body{background:#222;color:#ddd;font-family:sans-serif}
img{width:%dpx;height:%dpx;image-rendering:pixelated;border:1px solid #555}</style>
<h1>%s</h1>
<img id="frame" src="frame.png" alt="%s">
<pre id="state"></pre>
<script>
async function tick() {
  document.getElementById("frame").src = "frame.png?t=" + Date.now();
  try {
    const r = await fetch("state", {cache: "no-store"});
    document.getElementById("state").textContent = JSON.stringify(await r.json(), null, 2);
  } catch (e) {}
}
setInterval(tick, 500);
tick();
</script>
`, title, w, h, heading, alt)
}
