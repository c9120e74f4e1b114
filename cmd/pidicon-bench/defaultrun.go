package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DefaultRun is the daemon's memory with its default configuration: no
// config file, so one simulated Pixoo 64 and Home Assistant discovery on.
type DefaultRun struct {
	AfterStart Memory `json:"after_start"`
	// AfterSettle is read once the daemon has run for the load duration.
	AfterSettle Memory `json:"after_settle"`
}

// defaultDevice is the device of the default configuration.
const defaultDevice = "demo"

// runDefault runs the daemon without a config file. Only the broker's
// address and the state folder are set, from the environment, so that the
// run takes a free port and leaves no file behind.
func (b *bench) runDefault(ctx context.Context) (DefaultRun, error) {
	var res DefaultRun
	dir := filepath.Join(b.tmp, "default")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	listen, err := freeAddr()
	if err != nil {
		return res, err
	}
	b.logf("default configuration: 1 sim device, Home Assistant on, embedded broker")
	d, err := startDaemon(ctx, b.bin, nil, []string{"PIDICON_BROKER_LISTEN=" + listen, "PIDICON_STATE_DIR=" + dir})
	if err != nil {
		return res, err
	}
	defer d.stop()
	if err := d.waitListening(ctx, listen, b.opts.timeout); err != nil {
		return res, err
	}
	w := newWatcherFor(baseTopic, []string{defaultDevice}, anyMessage)
	defer w.close()
	if err := w.connect(ctx, "tcp://"+listen, b.opts.timeout); err != nil {
		return res, fmt.Errorf("default configuration: %w", err)
	}
	if err := waitFor(ctx, b.opts.timeout, func() bool { n, _, _, _ := w.progress(); return n == 1 }); err != nil {
		return res, fmt.Errorf("default configuration: the state of %s did not arrive: %w", defaultDevice, err)
	}
	if res.AfterStart, err = sampleMemory(ctx, d, b.gcWait()); err != nil {
		return res, err
	}
	settle := time.NewTimer(b.opts.duration)
	defer settle.Stop()
	select {
	case <-settle.C:
	case <-ctx.Done():
		return res, ctx.Err()
	case <-d.exited:
		return res, d.checkAlive()
	}
	if res.AfterSettle, err = sampleMemory(ctx, d, b.gcWait()); err != nil {
		return res, err
	}
	if err := d.stop(); err != nil {
		return res, fmt.Errorf("default configuration: %w", err)
	}
	return res, nil
}
