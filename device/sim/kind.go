package sim

import (
	"fmt"

	"github.com/pidicon/pidicon-mqtt/device"
)

// Kind returns the kind typ of a simulated display of kind k that runs
// inside the daemon: k's simulator served on a free loopback port and
// driven by k's own driver (with the API the device asks for: the
// simulators serve all of their kind's), so the whole path to the
// hardware is real except the hardware.
func Kind(k device.Kind, typ string) device.Kind {
	return device.Kind{
		Type:         typ,
		Size:         k.Size,
		Manufacturer: "pidicon-mqtt",
		Model:        "Simulated " + k.Model,
		APIs:         k.APIs,
		Open: func(o device.OpenOptions) (device.Driver, func(), error) {
			srv, stop, err := Serve(k.Simulate(), "127.0.0.1:0")
			if err != nil {
				return nil, nil, err
			}
			drv, closeDrv, err := k.Open(device.OpenOptions{Host: srv.Addr(), API: o.API, Logger: o.Logger, Buffers: o.Buffers})
			if err != nil {
				stop()
				return nil, nil, err
			}
			return drv, func() { closeDrv(); stop() }, nil
		},
	}
}

// Serve serves the simulator s on addr ("127.0.0.1:0" picks a free
// port) and returns the server and a func that stops both.
func Serve(s device.Simulator, addr string) (*Server, func(), error) {
	srv := NewServer(s)
	if _, err := srv.Start(addr); err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("start simulator: %w", err)
	}
	return srv, func() { s.Close(); srv.Close() }, nil
}
