package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/pidicon/pidicon-mqtt/device/sim"
)

// startSimulator serves a simulated device of the given type ("sim",
// "pixoo64", "sim-awtrix" or "awtrix") on addr.
func startSimulator(typ, addr string) (*sim.Server, func(), error) {
	var h http.Handler
	var closeDev func()
	switch typ {
	case typeSim, typePixoo64:
		p := sim.NewPixoo()
		h, closeDev = p, p.Close
	case typeSimAwtrix, typeAwtrix:
		a := sim.NewAwtrix()
		h, closeDev = a, a.Close
	default:
		return nil, nil, fmt.Errorf("no simulator for type %q (types: %s, %s)", typ, typePixoo64, typeAwtrix)
	}
	srv := sim.NewServer(h)
	if _, err := srv.Start(addr); err != nil {
		closeDev()
		return nil, nil, fmt.Errorf("start simulator: %w", err)
	}
	return srv, func() { closeDev(); srv.Close() }, nil
}

// runSimulator serves one simulated device until ctx is done: the
// standalone simulator command, so a device can be started and stopped as
// a process of its own.
func runSimulator(ctx context.Context, typ, addr string, stdout io.Writer) error {
	srv, closeSim, err := startSimulator(typ, addr)
	if err != nil {
		return err
	}
	defer closeSim()
	fmt.Fprintf(stdout, "simulated %s listening on %s (frame: %s/frame.png, state: %s/state)\n",
		typ, srv.Addr(), srv.URL(), srv.URL())
	<-ctx.Done()
	return nil
}
