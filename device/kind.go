package device

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// Kind is a type of display, declared once by its driver package: the
// name users write in devices[].type, its size, what Home Assistant shows
// as its maker and model, whether it is reached at a host, how to make its
// driver and, where there is one, its simulator. The daemon's command
// holds the list of kinds; nothing else names a kind's size.
type Kind struct {
	// Type is the devices[].type of the kind, e.g. "pixoo64".
	Type string
	// Size is the display size in pixels.
	Size scene.Size
	// Manufacturer and Model are what Home Assistant shows.
	Manufacturer, Model string
	// NeedsHost says that devices of this kind are reached at
	// devices[].host; kinds that run inside the daemon take none.
	NeedsHost bool
	// APIs are the values devices[].api takes for this kind, the default
	// first, when the kind's hardware speaks its API in more than one way
	// (firmware variants); nil when there is only one way.
	APIs []string
	// Open makes the driver of a device as o says and returns a func
	// that releases what it holds.
	Open func(o OpenOptions) (Driver, func(), error)
	// Simulate, if set, makes a simulator of the kind: an HTTP server
	// speaking its API, which its driver can be pointed at.
	Simulate func() Simulator
}

// OpenOptions say which device Kind.Open makes a driver for.
type OpenOptions struct {
	// Host is devices[].host: "ip" or "ip:port" ("" for kinds without
	// one).
	Host string
	// API is devices[].api, one of the kind's APIs ("": its default).
	API string
	// Logger receives what the driver tells the operator (such as which
	// API endpoint answered); nil: nothing.
	Logger *slog.Logger
	// Buffers lends the driver the buffers it encodes frames in; share
	// the controllers' (nil: allocated per frame).
	Buffers *Buffers
}

// Simulator is a simulated display: an HTTP handler speaking a device's
// API. Close releases the requests it holds.
type Simulator interface {
	http.Handler
	Close()
}

// ErrUnknownKind is returned for a device type no kind declares.
var ErrUnknownKind = errors.New("unknown device type")

// Kinds is the list of display kinds the daemon knows, in the order they
// are listed to users.
type Kinds []Kind

// Lookup returns the kind of device type typ.
func (ks Kinds) Lookup(typ string) (Kind, bool) {
	for _, k := range ks {
		if k.Type == typ {
			return k, true
		}
	}
	return Kind{}, false
}

// Types lists the device types, in order.
func (ks Kinds) Types() []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Type
	}
	return out
}
