package bridge

import (
	"errors"
	"fmt"
	"time"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// MaxNotifyPayload is the largest notify payload: room for an inline image
// of picture.MaxDataURL and the rest of the notification.
const MaxNotifyPayload = picture.MaxDataURL + 8*1024

// checkNotification reads a notify payload into c.
func (b *Bridge) checkNotification(c command, payload []byte) (command, error) {
	n, err := device.ParseNotification(payload, b.images())
	if err != nil {
		return c, err
	}
	c.note = &n
	return c, nil
}

// applyNotification queues a notification on its display, or on every
// display for bridge/notify, or dismisses one. A display that is off
// refuses it with an info event; a full queue with an error event. It
// returns the refusals.
func (b *Bridge) applyNotification(c command) error {
	ids := []string{c.device}
	if c.device == "" {
		ids = b.ids
	}
	var errs []error
	for _, id := range ids {
		ctrl := b.devices[id].Controller
		var err error
		if c.kind == topic.DismissRequest {
			err = ctrl.Dismiss(c.dismiss)
		} else {
			err = ctrl.Notify(*c.note)
		}
		if err == nil {
			continue
		}
		level := event.LevelError
		if errors.Is(err, device.ErrDisplayOff) {
			level = event.LevelInfo
		}
		b.opts.Events.Report(event.New(time.Now(), level, id, c.topic, c.payload, err))
		if c.device == "" {
			err = fmt.Errorf("%s: %w", id, err)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// images is the image store as the scene package's interface, nil if
// there is none.
func (b *Bridge) images() imageChecker {
	if b.opts.Images == nil {
		return nil
	}
	return b.opts.Images
}

// imageChecker tells which image names exist.
type imageChecker interface{ Has(name string) bool }
