package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// baseTopic is the daemon's base topic in every run (its default).
const baseTopic = "pidicon"

// frameBytesPerDevice is what a mock device's controller holds in frame
// buffers, which the heap target leaves out. It was two 64×64 RGBA images
// (the frame being drawn and the one shown); controllers now borrow
// frames from a pool all displays share (device.Buffers) and keep a hash
// of what is shown, so a display holds none of its own and the whole heap
// per device counts.
const frameBytesPerDevice = 0

// bench is one invocation of the tool.
type bench struct {
	opts     options
	bin      string // the daemon
	tmp      string // removed at the end
	progress io.Writer
	// dirty is how many bench devices may have retained topics on the
	// external broker (unknown at first: as many as any run uses).
	dirty int
	// leftover are the retained topics a watcher saw the last start-up
	// run's daemon leave on the external broker (Home Assistant's
	// discovery configs among them).
	leftover map[string]bool
	// swept reports whether every retained topic of a daemon with the
	// bench's base topic was cleared from the external broker once.
	swept bool
}

// external reports whether the runs use --broker rather than the
// daemon's embedded broker.
func (b *bench) external() bool { return b.opts.broker != "" }

// logf reports progress on stderr.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "pidicon-bench: "+format+"\n", args...)
}

// gcWait bounds the wait for a garbage collection after a memory reading.
func (b *bench) gcWait() time.Duration { return b.opts.heapWait }

// writeConfig writes the daemon's configuration with devices, one YAML
// flow mapping each (mockDevices, pixooDevices).
func (b *bench) writeConfig(dir string, devices []string, statePath, listen string) (string, error) {
	var sb strings.Builder
	if b.external() {
		fmt.Fprintf(&sb, "mqtt: {url: %q, client_id: pidicon-bench}\n", b.opts.broker)
	} else {
		fmt.Fprintf(&sb, "mqtt: {client_id: pidicon-bench}\nbroker: {listen: %q}\n", listen)
	}
	fmt.Fprintf(&sb, "homeassistant: {enabled: %t}\n", b.opts.ha)
	fmt.Fprintf(&sb, "state: {path: %q, persist: true, debounce: 1s, max_delay: 5s}\n", statePath)
	sb.WriteString("log: {level: warning}\ndevices:\n")
	for _, d := range devices {
		sb.WriteString("  - " + d + "\n")
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	return path, nil
}

// mockDevices are the config entries of the bench devices 0..n-1 as mock
// displays (in memory, no HTTP).
func mockDevices(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("{id: %s, type: mock}", benchID(i))
	}
	return out
}

// startBench starts a daemon with n mock devices and returns it and the
// broker's URL; with the embedded broker, once it accepts connections.
func (b *bench) startBench(ctx context.Context, dir string, n int, statePath string) (*daemon, string, error) {
	return b.startWith(ctx, dir, mockDevices(n), statePath)
}

// startWith starts a daemon with the devices' config entries and returns
// it and the broker's URL; with the embedded broker, once it accepts
// connections.
func (b *bench) startWith(ctx context.Context, dir string, devices []string, statePath string) (*daemon, string, error) {
	url, listen := b.opts.broker, ""
	if !b.external() {
		var err error
		if listen, err = freeAddr(); err != nil {
			return nil, "", err
		}
		url = "tcp://" + listen
	}
	config, err := b.writeConfig(dir, devices, statePath, listen)
	if err != nil {
		return nil, "", err
	}
	d, err := startDaemon(ctx, b.bin, []string{"--config", config}, nil)
	if err != nil {
		return nil, "", err
	}
	if !b.external() {
		if err := d.waitListening(ctx, listen, b.opts.timeout); err != nil {
			d.stop()
			return nil, "", err
		}
	}
	return d, url, nil
}

// ids are the first n bench device ids.
func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = benchID(i)
	}
	return out
}
