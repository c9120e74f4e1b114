package sim_test

import (
	"image"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/awtrix"
	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/sim"
	"github.com/pidicon/pidicon-mqtt/internal/mqtttest"
)

// TestPixoo_Endpoints: /divoom_api is the same API as /post; an endpoint
// switched off answers 404 and changes nothing, and the log says where
// each request went.
func TestPixoo_Endpoints(t *testing.T) {
	dev := sim.NewPixoo()
	t.Cleanup(dev.Close)
	if code, got := call(t, dev, http.MethodPost, "/divoom_api", `{"Command":"Channel/SetBrightness","Brightness":30}`); code != 200 || !jsonEqual(got, `{"error_code":0}`) {
		t.Fatalf("/divoom_api: %d %s", code, got)
	}
	if dev.Brightness() != 30 {
		t.Errorf("brightness %d after a set on /divoom_api, want 30", dev.Brightness())
	}

	dev.SetEndpoints(false, true)
	if code, _ := call(t, dev, http.MethodPost, "/post", `{"Command":"Channel/SetBrightness","Brightness":60}`); code != http.StatusNotFound {
		t.Errorf("/post switched off: HTTP %d, want 404", code)
	}
	if dev.Brightness() != 30 {
		t.Errorf("a request to a switched-off endpoint changed the brightness to %d", dev.Brightness())
	}
	dev.SetEndpoints(true, false)
	if code, _ := call(t, dev, http.MethodPost, "/divoom_api", `{"Command":"Channel/GetAllConf"}`); code != http.StatusNotFound {
		t.Errorf("/divoom_api switched off: HTTP %d, want 404", code)
	}
	if code, _ := call(t, dev, http.MethodPost, "/post", `{"Command":"Channel/GetAllConf"}`); code != 200 {
		t.Errorf("/post switched on again: HTTP %d, want 200", code)
	}

	var got []string
	for _, r := range dev.Requests() {
		got = append(got, r.Path+" "+http.StatusText(r.Status))
	}
	want := "/divoom_api OK,/post Not Found,/divoom_api Not Found,/post OK"
	if strings.Join(got, ",") != want {
		t.Errorf("requests %v, want %s", got, want)
	}
}

// TestPixoo_SysReboot: Device/SysReboot is answered, the device is then
// as after a power cycle and drops API requests for its reboot time, and
// answers again afterwards.
func TestPixoo_SysReboot(t *testing.T) {
	dev, srv := startPixoo(t)
	dev.SetRebootTime(300 * time.Millisecond)
	c := newDriver(t, srv.Addr(), pixoo64.Options{Timeout: time.Second})
	if err := c.SetDisplay(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if err := c.PushFrame(t.Context(), image.NewRGBA(image.Rect(0, 0, 64, 64))); err != nil {
		t.Fatal(err)
	}
	if code, got := call(t, dev, http.MethodPost, "/post", `{"Command":"Device/SysReboot"}`); code != 200 || !jsonEqual(got, `{"error_code":0}`) {
		t.Fatalf("Device/SysReboot: %d %s", code, got)
	}
	st := dev.State()
	if !st.Rebooting || st.Reboots != 1 || !st.ScreenOn || st.Channel != 0 || st.PicID != 0 {
		t.Errorf("state after the reboot %+v, want rebooting, as after power-on", st)
	}
	n := len(dev.Requests())
	if err := c.Probe(t.Context()); err == nil {
		t.Error("the device answered while rebooting")
	}
	if len(dev.Requests()) != n {
		t.Error("a request dropped while rebooting was recorded as answered")
	}
	mqtttest.WaitUntil(t, 5*time.Second, "the device answers again", func() bool { return c.Probe(t.Context()) == nil })
	if dev.State().Rebooting {
		t.Error("still rebooting once it answers")
	}
}

// TestAwtrix_Reboot: POST /api/reboot is answered "OK", then the clock is
// as after a power cycle (custom apps gone) and away for its reboot time.
func TestAwtrix_Reboot(t *testing.T) {
	dev, srv := startAwtrix(t)
	dev.SetRebootTime(300 * time.Millisecond)
	c := newAwtrixDriver(t, srv.Addr(), awtrix.Options{Timeout: time.Second})
	if err := c.PushFrame(t.Context(), rgbaFrame(stripes)); err != nil {
		t.Fatal(err)
	}
	if dev.App() != "pidicon" {
		t.Fatalf("app %q, want pidicon", dev.App())
	}
	if code, got := call(t, dev, http.MethodPost, "/api/reboot", ""); code != 200 || got != "OK" {
		t.Fatalf("POST /api/reboot: %d %q", code, got)
	}
	st := dev.State()
	if !st.Rebooting || st.Reboots != 1 || st.App != "Time" || len(st.Apps) != 5 {
		t.Errorf("state after the reboot %+v, want rebooting, the custom app gone", st)
	}
	if err := c.Probe(t.Context()); err == nil {
		t.Error("the clock answered while rebooting")
	}
	mqtttest.WaitUntil(t, 5*time.Second, "the clock answers again", func() bool { return c.Probe(t.Context()) == nil })
	if err := c.PushFrame(t.Context(), rgbaFrame(stripes)); err != nil {
		t.Fatal(err)
	}
	if dev.App() != "pidicon" {
		t.Errorf("app %q after the reboot and a frame, want pidicon again", dev.App())
	}
}
