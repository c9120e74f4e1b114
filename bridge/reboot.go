package bridge

import (
	"fmt"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// checkReboot accepts <base>/<id>/reboot (any payload) for a display that
// can reboot.
func (b *Bridge) checkReboot(c command, d *Device) (command, error) {
	if !d.Controller.CanReboot() {
		return c, fmt.Errorf("%w: a %s display has no reboot command", device.ErrCannotReboot, d.Kind.Type)
	}
	return c, nil
}

// applyReboot hands a reboot to the display's controller. Its outcome
// comes later, from the controller's goroutine: a refusal (the display
// does not answer, or refused) is reported like a refused command.
func (b *Bridge) applyReboot(c command) {
	d := b.devices[c.device]
	refused := func(err error) {
		b.reject(topic.Parsed{Kind: c.kind, Device: c.device}, c.topic, c.payload, err)
		c.done(err)
	}
	err := d.Controller.Reboot(func(err error) {
		if err != nil {
			refused(err)
			return
		}
		c.done(nil)
	})
	if err != nil {
		refused(err)
		return
	}
	d.Controller.Logger().Info("reboot asked for", logkey.Topic, c.topic)
}
