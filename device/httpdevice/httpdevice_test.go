package httpdevice_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/httpdevice"
)

// The host settings each driver accepts and refuses are in its
// TestNew_Hosts; this checks what holds for every setting.
func FuzzBaseURL(f *testing.F) {
	for _, s := range []string{
		"192.168.1.10", "192.168.1.10:8080", "http://192.168.1.10/", "HTTP://pixoo.local", " pixoo.local ",
		"::1", "[::1]:8080", "", "https://1.2.3.4", "http://", "1.2.3.4:0", "1.2.3.4:", "http://u:p@1.2.3.4",
		"1.2.3.4?x=1", "http://1.2.3.4/post", "[fe80::1%25eth0]:80", "a b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		base, err := httpdevice.BaseURL(host)
		if err != nil {
			return
		}
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("BaseURL(%q) = %q, which does not parse: %v", host, base, err)
		}
		if u.Scheme != "http" || u.Hostname() == "" || u.Path != "" || u.RawQuery != "" || u.User != nil ||
			!strings.HasPrefix(base, "http://") {
			t.Fatalf("BaseURL(%q) = %q, not http://host[:port]", host, base)
		}
		if again, err := httpdevice.BaseURL(base); err != nil || again != base {
			t.Fatalf("BaseURL(%q) = %q, %v; want it unchanged", base, again, err)
		}
	})
}

func TestExcerpt(t *testing.T) {
	for _, tt := range []struct{ data, want string }{
		{"", `""`},
		{"OK", `"OK"`},
		{"\x00\xff", `"\x00\xff"`},
		{strings.Repeat("e", 64), `"` + strings.Repeat("e", 64) + `"`},
		{strings.Repeat("e", 65), `"` + strings.Repeat("e", 64) + `"...`},
	} {
		if got := httpdevice.Excerpt([]byte(tt.data)); got != tt.want {
			t.Errorf("Excerpt(%q) = %s, want %s", tt.data, got, tt.want)
		}
	}
}

// TestDo_BodyReusableWhenAnsweredEarly: a device that answers before it
// read the whole body does not keep the transport reading the caller's
// bytes after Do returned (the caller reuses them for the next frame;
// with -race, a read after Do would be reported). The body goes with its
// Content-Length, not chunked.
func TestDo_BodyReusableWhenAnsweredEarly(t *testing.T) {
	lengths := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lengths <- r.Header.Get("Content-Length") + " " + strings.Join(r.TransferEncoding, ",")
		io.WriteString(w, `{"error_code":0}`) // without reading the body
	}))
	defer srv.Close()
	c := httpdevice.New(httpdevice.Config{Name: "test", Timeout: 5 * time.Second, MaxReply: 1 << 10})
	body := bytes.Repeat([]byte("x"), 8<<20)
	for i := range 5 {
		if _, err := c.Do(context.Background(), "op", http.MethodPost, srv.URL, body); err != nil {
			t.Logf("request %d: %v", i, err) // the server may close the connection mid-body
		}
		for j := range body {
			body[j] = byte(i) // the next frame
		}
		if got := <-lengths; got != "8388608 " {
			t.Fatalf("Content-Length and Transfer-Encoding %q, want 8388608 and none", got)
		}
	}
}
