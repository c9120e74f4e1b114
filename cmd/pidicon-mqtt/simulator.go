package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/pidicon/pidicon-mqtt/device/sim"
)

// runSimulator serves one simulated device until ctx is done: the
// standalone simulator command, so a device can be started and stopped as
// a process of its own. typ is a kind with a simulator ("pixoo64",
// "awtrix").
func runSimulator(ctx context.Context, typ, addr string, stdout io.Writer) error {
	var simulated []string
	for _, k := range kinds() {
		if k.Simulate == nil {
			continue
		}
		simulated = append(simulated, k.Type)
		if k.Type != typ {
			continue
		}
		srv, stop, err := sim.Serve(k.Simulate(), addr)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(stdout, "simulated %s listening on %s (frame: %s/frame.png, state: %s/state)\n",
			typ, srv.Addr(), srv.URL(), srv.URL())
		<-ctx.Done()
		return nil
	}
	return fmt.Errorf("no simulator for type %q (types: %s)", typ, strings.Join(simulated, ", "))
}
