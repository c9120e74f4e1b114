package device

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/logkey"
)

// Rebooter is a Driver that can restart its display (a Pixoo 64's
// Device/SysReboot, an AWTRIX clock's POST /api/reboot). The display
// answers, then is away for a while, as after a power cut.
type Rebooter interface {
	// Reboot asks the display to restart; it returns once the display
	// took the request, before it is back.
	Reboot(ctx context.Context) error
}

// Refusals of a reboot.
var (
	// ErrCannotReboot is returned by Controller.Reboot when the display's
	// driver has no way to restart it (the in-memory display).
	ErrCannotReboot = errors.New("this display cannot be rebooted")
	// ErrOffline is reported to Controller.Reboot's done when the display
	// does not answer: the reboot is not sent, nor kept for later (a
	// display that comes back should not restart at once).
	ErrOffline = errors.New("the display does not answer")
	// ErrRebootPending refuses a reboot while maxRebootWaiters wait for
	// the one under way (a flood of reboot messages).
	ErrRebootPending = errors.New("a reboot of this display is already under way")
	// ErrStopped is reported to a reboot's done when the controller stops
	// before it is sent, and refuses reboots after that.
	ErrStopped = errors.New("the display's controller stopped")
)

// maxRebootWaiters bounds the reboots that wait for one to be sent: they
// are all one reboot anyway.
const maxRebootWaiters = 16

// rebootPause is how long after a reboot the controller first asks
// whether the display is back: a display answers the reboot before it
// goes away, and should not be found "back" in that moment.
const rebootPause = 2 * time.Second

// CanReboot reports whether the display's driver can restart it.
func (c *Controller) CanReboot() bool {
	_, ok := c.opts.Driver.(Rebooter)
	return ok
}

// Reboot asks the controller to restart the display. It returns
// ErrCannotReboot at once if the driver cannot; otherwise the controller's
// goroutine sends the reboot and calls done (if not nil; it must not
// block) with nil once the display took it, or with why not (ErrOffline,
// the display's refusal). Reboots asked for while one waits are sent as
// one. The display is then reported offline until it answers again, and
// driven back to the desired state as after any outage. Reboot never
// blocks; a controller that stops first calls done with ErrStopped.
func (c *Controller) Reboot(done func(error)) error {
	if !c.CanReboot() {
		return ErrCannotReboot
	}
	c.mu.Lock()
	switch {
	case c.stopped:
		c.mu.Unlock()
		return ErrStopped
	case len(c.reboots) >= maxRebootWaiters:
		c.mu.Unlock()
		return ErrRebootPending
	}
	c.reboots = append(c.reboots, done)
	c.mu.Unlock()
	c.poke()
	return nil
}

// stop marks the controller stopped and answers the reboots that wait.
func (r *run) stop() {
	r.Controller.mu.Lock()
	r.stopped = true
	r.Controller.mu.Unlock()
	asked := append(r.reboots, r.Controller.takeReboots()...)
	r.reboots = nil
	for _, done := range asked {
		if done != nil {
			done(ErrStopped)
		}
	}
}

// takeReboots returns the reboots asked for since the last call.
func (c *Controller) takeReboots() []func(error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.reboots
	c.reboots = nil
	return r
}

// reboot sends the reboot asked for, if any, and tells each asker how it
// went.
func (r *run) reboot() {
	asked := r.reboots
	if len(asked) == 0 {
		return
	}
	r.reboots = nil
	finish := func(err error) {
		for _, done := range asked {
			if done != nil {
				done(err)
			}
		}
	}
	if !r.online {
		finish(fmt.Errorf("reboot not sent: %w", ErrOffline))
		return
	}
	err := r.call(r.opts.Driver.(Rebooter).Reboot) // Reboot checked it is one
	if r.ctx.Err() != nil {
		finish(fmt.Errorf("reboot: %w", ErrStopped))
		return
	}
	if err != nil {
		r.m.Errors++
		finish(fmt.Errorf("reboot: %w", err))
		// Gone, or merely refused? A probe tells.
		if perr := r.call(r.opts.Driver.Probe); perr != nil {
			r.failed(perr)
		}
		return
	}
	r.log.Warn("display rebooting, as asked; it is offline until it answers again", logkey.RetryIn, rebootPause)
	r.setOnline(false)
	r.failures = 0
	r.nextProbe = time.Now().Add(rebootPause)
	finish(nil)
}
