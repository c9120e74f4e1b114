package awtrix_test

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/pidicon/pidicon-mqtt/device/awtrix"
)

// TestClient_Reboot posts to /api/reboot, and the next frame makes the
// app the visible one again (the reboot lost it).
func TestClient_Reboot(t *testing.T) {
	d := newFakeDevice(t)
	c := newClient(t, d.url, awtrix.Options{})
	if err := c.PushFrame(t.Context(), testFrame()); err != nil {
		t.Fatal(err)
	}
	d.take()
	if err := c.Reboot(t.Context()); err != nil {
		t.Fatalf("Reboot: %v", err)
	}
	if err := c.PushFrame(t.Context(), testFrame()); err != nil {
		t.Fatal(err)
	}
	got := calls(d.take())
	want := []string{"POST /api/reboot", "POST /api/custom?name=pidicon", "POST /api/switch"}
	if !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}

	d.setReply(func(_ request, w http.ResponseWriter) { http.Error(w, "FAILED", http.StatusInternalServerError) })
	if err := c.Reboot(t.Context()); !errors.Is(err, awtrix.ErrDevice) {
		t.Errorf("Reboot refused: %v, want ErrDevice", err)
	}
}
