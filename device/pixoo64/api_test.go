package pixoo64_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/sim"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

func TestNew_Endpoints(t *testing.T) {
	tests := []struct {
		host string
		api  pixoo64.API
		want []string
	}{
		{"192.168.1.10", "", []string{"http://192.168.1.10/post", "http://192.168.1.10:9000/divoom_api"}},
		{"192.168.1.10", pixoo64.APIAuto, []string{"http://192.168.1.10/post", "http://192.168.1.10:9000/divoom_api"}},
		{"192.168.1.10", pixoo64.APIPost, []string{"http://192.168.1.10/post"}},
		{"192.168.1.10", pixoo64.APIDivoom, []string{"http://192.168.1.10:9000/divoom_api"}},
		// A port in the host is the port of either endpoint.
		{"192.168.1.10:8080", pixoo64.APIAuto, []string{"http://192.168.1.10:8080/post", "http://192.168.1.10:8080/divoom_api"}},
		{"pixoo.local:9001", pixoo64.APIDivoom, []string{"http://pixoo.local:9001/divoom_api"}},
		{"::1", pixoo64.APIDivoom, []string{"http://[::1]:9000/divoom_api"}},
	}
	for _, tt := range tests {
		c, err := pixoo64.New(tt.host, pixoo64.Options{API: tt.api})
		if err != nil {
			t.Errorf("New(%q, %q): %v", tt.host, tt.api, err)
			continue
		}
		if got := c.Endpoints(); !slices.Equal(got, tt.want) {
			t.Errorf("New(%q, %q).Endpoints() = %v, want %v", tt.host, tt.api, got, tt.want)
		}
		if got := c.URL(); got != tt.want[0] {
			t.Errorf("New(%q, %q).URL() = %q before any answer, want %q", tt.host, tt.api, got, tt.want[0])
		}
	}
	if _, err := pixoo64.New("192.168.1.10", pixoo64.Options{API: "v2"}); err == nil || !strings.Contains(err.Error(), "v2") {
		t.Errorf("New with api v2: %v, want an error naming it", err)
	}
}

// paths returns the endpoint of each request the simulator got since
// index from.
func paths(p *sim.Pixoo, from int) []string {
	var out []string
	for _, r := range p.Requests()[from:] {
		out = append(out, r.Path)
	}
	return out
}

// TestClient_AutoFindsDivoomAPI drives a simulated Pixoo that, like newer
// firmware, answers only /divoom_api: the first command finds it after a
// 404 on /post, the following ones go there straight away, and after an
// outage the Client looks again (here the device came back with the
// classic firmware).
func TestClient_AutoFindsDivoomAPI(t *testing.T) {
	p, srv := testkit.StartPixoo(t)
	p.SetEndpoints(false, true)
	c := newClient(t, srv.Addr(), pixoo64.Options{Timeout: time.Second})

	if err := c.Probe(t.Context()); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if got, want := paths(p, 0), []string{"/post", "/divoom_api"}; !slices.Equal(got, want) {
		t.Errorf("first command went to %v, want %v", got, want)
	}
	if got, want := c.URL(), "http://"+srv.Addr()+"/divoom_api"; got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	n := len(p.Requests())
	if err := c.SetBrightness(t.Context(), 40); err != nil {
		t.Fatal(err)
	}
	if err := c.PushFrame(t.Context(), testFrame()); err != nil {
		t.Fatal(err)
	}
	if got := paths(p, n); slices.Contains(got, "/post") || len(got) == 0 {
		t.Errorf("after it answered, commands went to %v, want /divoom_api only", got)
	}
	if p.Brightness() != 40 || p.Pushes() != 1 {
		t.Errorf("simulator %+v, want brightness 40 and one frame", p.State())
	}

	// An outage: no endpoint answers; then the device is back with the
	// classic firmware.
	if err := srv.Down(); err != nil {
		t.Fatal(err)
	}
	if err := c.Probe(t.Context()); err == nil {
		t.Fatal("Probe answered while the device is down")
	}
	p.SetEndpoints(true, false)
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	n = len(p.Requests())
	if err := c.Probe(t.Context()); err != nil {
		t.Fatalf("Probe after the outage: %v", err)
	}
	if got, want := paths(p, n), []string{"/post"}; !slices.Equal(got, want) {
		t.Errorf("after the outage the command went to %v, want %v", got, want)
	}
}

// TestClient_AutoSkipsSilentEndpoint: a classic endpoint that takes the
// request and never answers is given up after the request timeout, and
// the other one answers.
func TestClient_AutoSkipsSilentEndpoint(t *testing.T) {
	p := sim.NewPixoo()
	t.Cleanup(p.Close)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/post" {
			select { // a device whose classic endpoint hangs
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	c := newClient(t, srv.URL, pixoo64.Options{Timeout: 100 * time.Millisecond})
	if err := c.SetBrightness(t.Context(), 25); err != nil {
		t.Fatalf("SetBrightness: %v", err)
	}
	if p.Brightness() != 25 || !strings.HasSuffix(c.URL(), "/divoom_api") {
		t.Errorf("brightness %d, URL %s; want 25 through /divoom_api", p.Brightness(), c.URL())
	}
}

// TestClient_APIFixed: with api post or divoom_api the Client sends only
// there, also when the other would answer.
func TestClient_APIFixed(t *testing.T) {
	p, srv := testkit.StartPixoo(t)
	c := newClient(t, srv.Addr(), pixoo64.Options{API: pixoo64.APIDivoom})
	if err := c.Probe(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := paths(p, 0); !slices.Equal(got, []string{"/divoom_api"}) {
		t.Errorf("api divoom_api sent to %v", got)
	}

	p.SetEndpoints(false, true)
	n := len(p.Requests())
	c = newClient(t, srv.Addr(), pixoo64.Options{API: pixoo64.APIPost})
	err := c.Probe(t.Context())
	if !errors.Is(err, pixoo64.ErrDevice) || !strings.Contains(err.Error(), "404") {
		t.Errorf("api post on a device without /post: %v, want a 404 error", err)
	}
	if got := paths(p, n); !slices.Equal(got, []string{"/post"}) {
		t.Errorf("api post sent to %v", got)
	}
}

// TestClient_AutoNoEndpointAnswers: when neither endpoint answers, the
// error names each URL and why, and wraps each cause.
func TestClient_AutoNoEndpointAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, addr, pixoo64.Options{})
	err = c.Probe(t.Context())
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Probe: %v, want connection refused", err)
	}
	msg := err.Error()
	for _, want := range []string{"pixoo64: Channel/GetAllConf: ", "http://" + addr + "/post", "http://" + addr + "/divoom_api", "connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
}

// TestClient_Reboot sends Device/SysReboot; the simulator is away for its
// reboot time, and afterwards the next frame selects the drawing channel
// again, which the reboot reset.
func TestClient_Reboot(t *testing.T) {
	p, srv := testkit.StartPixoo(t)
	p.SetRebootTime(200 * time.Millisecond)
	c := newClient(t, srv.Addr(), pixoo64.Options{Timeout: time.Second})
	if err := c.PushFrame(t.Context(), testFrame()); err != nil {
		t.Fatal(err)
	}
	if err := c.Reboot(t.Context()); err != nil {
		t.Fatalf("Reboot: %v", err)
	}
	reqs := p.Requests()
	if last := reqs[len(reqs)-1]; last.Command != "Device/SysReboot" || p.Reboots() != 1 {
		t.Fatalf("last request %+v, reboots %d; want Device/SysReboot taken", last, p.Reboots())
	}
	if p.Channel() != 0 {
		t.Errorf("channel %d after the reboot, want 0", p.Channel())
	}
	if err := c.Probe(t.Context()); err == nil {
		t.Error("Probe answered while the device reboots")
	}
	mqtttest.WaitUntil(t, 5*time.Second, "the device answers again", func() bool { return c.Probe(t.Context()) == nil })
	if err := c.PushFrame(t.Context(), testFrame()); err != nil {
		t.Fatal(err)
	}
	if p.Channel() != 3 || p.Pushes() != 2 {
		t.Errorf("after the reboot: %+v, want channel 3 and a second frame", p.State())
	}
}
