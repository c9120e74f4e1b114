package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/pidicon/pidicon-mqtt/device/sim"
)

// simOptions are the flags of the standalone simulator.
type simOptions struct {
	typ    string // a kind with a simulator ("pixoo64", "awtrix")
	listen string // the address to serve it on
	// alsoListen, if set, serves the same display on a second address too,
	// as a Pixoo 64 with newer firmware answers /divoom_api on port 9000.
	alsoListen string
	// api is the Pixoo's endpoints: "both" (default), "post" or
	// "divoom_api" (the other answers 404).
	api string
}

// simAPIs are the values of sim --api.
var simAPIs = []string{"both", "post", "divoom_api"}

// runSimulator serves one simulated device until ctx is done: the
// standalone simulator command, so a device can be started and stopped as
// a process of its own.
func runSimulator(ctx context.Context, o simOptions, stdout io.Writer) error {
	var simulated []string
	for _, k := range kinds() {
		if k.Simulate == nil {
			continue
		}
		simulated = append(simulated, k.Type)
		if k.Type != o.typ {
			continue
		}
		s := k.Simulate()
		if err := setSimAPI(s, o); err != nil {
			s.Close()
			return err
		}
		srv, stop, err := sim.Serve(s, o.listen)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(stdout, "simulated %s listening on %s (frame: %s/frame.png, state: %s/state)\n",
			o.typ, srv.Addr(), srv.URL(), srv.URL())
		if o.alsoListen != "" {
			also := sim.NewServer(s)
			addr, err := also.Start(o.alsoListen)
			if err != nil {
				return fmt.Errorf("start simulator on %s: %w", o.alsoListen, err)
			}
			defer also.Close()
			fmt.Fprintf(stdout, "the same display also listening on %s\n", addr)
		}
		<-ctx.Done()
		return nil
	}
	return fmt.Errorf("no simulator for type %q (types: %s)", o.typ, strings.Join(simulated, ", "))
}

// setSimAPI switches off the Pixoo endpoint --api leaves out.
func setSimAPI(s any, o simOptions) error {
	if o.api == "" || o.api == "both" {
		return nil
	}
	p, ok := s.(*sim.Pixoo)
	switch {
	case !ok:
		return fmt.Errorf("--api %s: only the pixoo64 simulator has several APIs", o.api)
	case o.api == "post":
		p.SetEndpoints(true, false)
	case o.api == "divoom_api":
		p.SetEndpoints(false, true)
	default:
		return fmt.Errorf("--api %q is not one of %s", o.api, strings.Join(simAPIs, ", "))
	}
	return nil
}
