package device_test

import (
	"context"
	"errors"
	"image/color"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/mock"
	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/sim"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
	"github.com/pidicon/pidicon-mqtt/state"
)

// rebootableDevice is a simulated Pixoo reached in-process with the real
// driver (a device.Rebooter), for use inside a synctest bubble.
func rebootableDevice(t *testing.T) (*sim.Pixoo, *pixoo64.Client) {
	t.Helper()
	p := sim.NewPixoo()
	t.Cleanup(p.Close)
	drv, err := pixoo64.New("127.0.0.1:80", pixoo64.Options{HTTPClient: &http.Client{Transport: testkit.HandlerTransport{Handler: p}}})
	if err != nil {
		t.Fatal(err)
	}
	return p, drv
}

// TestController_Reboot reboots a display that shows a scene with its
// screen off: the display gets Device/SysReboot, is reported offline while
// it restarts (not as a fault), and once it answers again it is driven
// back to the desired state, which its restart had undone.
func TestController_Reboot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, drv := rebootableDevice(t)
		p.SetRebootTime(10 * time.Second)
		c := newController("demo", drv, nil)
		rec := &recorder{}
		runInBubble(t, c, rec)
		red := color.RGBA{R: 255, A: 255}
		c.Desire(desired(30, false, "fill", state.Playing), false)
		time.Sleep(time.Second)
		synctest.Wait()
		if p.Brightness() != 30 || p.ScreenOn() || p.Channel() != 3 || !solid(p.Frame(), red) {
			t.Fatalf("before the reboot: %+v", p.State())
		}

		outcome := make(chan error, 1)
		if err := c.Reboot(func(err error) { outcome <- err }); err != nil {
			t.Fatalf("Reboot: %v", err)
		}
		synctest.Wait()
		select {
		case err := <-outcome:
			if err != nil {
				t.Fatalf("reboot outcome: %v", err)
			}
		default:
			t.Fatal("no outcome of the reboot")
		}
		if p.Reboots() != 1 || !p.ScreenOn() || p.Channel() != 0 {
			t.Fatalf("the simulator did not reboot: %+v", p.State())
		}
		if avail, _, _ := rec.snapshot(); avail[len(avail)-1] {
			t.Fatalf("availability %v: online while rebooting", avail)
		}

		time.Sleep(11 * time.Second) // the reboot takes 10s
		synctest.Wait()
		avail, faults, _ := rec.snapshot()
		if len(avail) != 3 || !avail[0] || avail[1] || !avail[2] {
			t.Errorf("availability %v, want online, offline, online", avail)
		}
		if faults != 0 {
			t.Errorf("%d faults reported; a reboot asked for is none", faults)
		}
		if p.Brightness() != 30 || p.ScreenOn() || p.Channel() != 3 || !solid(p.Frame(), red) {
			t.Errorf("not driven back to the desired state: %+v", p.State())
		}
	})
}

// TestController_RebootRefused: a display whose driver cannot reboot is
// refused at once; one that does not answer gets no reboot, now or later.
func TestController_RebootRefused(t *testing.T) {
	c := newController("strip", mock.New(scene.Size{W: 32, H: 8}), nil)
	if c.CanReboot() {
		t.Error("an in-memory display says it can reboot")
	}
	if err := c.Reboot(nil); !errors.Is(err, device.ErrCannotReboot) {
		t.Errorf("Reboot of an in-memory display: %v, want ErrCannotReboot", err)
	}

	synctest.Test(t, func(t *testing.T) {
		p, drv := rebootableDevice(t)
		p.SetFault(sim.FaultHTTP500)
		c := newController("demo", drv, nil)
		runInBubble(t, c, &recorder{})
		c.Desire(desired(30, true, "fill", state.Playing), false)
		time.Sleep(time.Second)
		synctest.Wait()
		outcome := make(chan error, 1)
		if err := c.Reboot(func(err error) { outcome <- err }); err != nil {
			t.Fatalf("Reboot: %v", err)
		}
		synctest.Wait()
		if err := <-outcome; !errors.Is(err, device.ErrOffline) {
			t.Errorf("reboot of a display that does not answer: %v, want ErrOffline", err)
		}
		p.SetFault(sim.FaultNone)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if n := p.Reboots(); n != 0 {
			t.Errorf("%d reboots reached the display; a refused one must not be sent later", n)
		}
		if p.Brightness() != 30 {
			t.Errorf("the display did not come back: %+v", p.State())
		}
	})
}

// TestController_RebootsBoundedAndAnswered: reboots that wait are bounded,
// and a controller that stops answers them instead of leaving them hang.
func TestController_RebootsBoundedAndAnswered(t *testing.T) {
	_, drv := rebootableDevice(t)
	c := newController("demo", drv, nil)
	answers := make(chan error, 32)
	var err error
	n := 0
	for ; err == nil && n < 100; n++ {
		err = c.Reboot(func(err error) { answers <- err })
	}
	if !errors.Is(err, device.ErrRebootPending) || n > 17 {
		t.Fatalf("reboot %d: %v, want ErrRebootPending after a few", n, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // stops at once: the waiting reboots are not sent
	c.Run(ctx, &recorder{})
	for range n - 1 {
		select {
		case err := <-answers:
			if !errors.Is(err, device.ErrStopped) && !errors.Is(err, device.ErrOffline) {
				t.Fatalf("a waiting reboot was answered %v, want ErrStopped or ErrOffline", err)
			}
		default:
			t.Fatal("a waiting reboot was not answered when the controller stopped")
		}
	}
	if err := c.Reboot(nil); !errors.Is(err, device.ErrStopped) {
		t.Errorf("a reboot after the controller stopped: %v", err)
	}
}
