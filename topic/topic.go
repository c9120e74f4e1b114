// Package topic is the daemon's MQTT topic layout (CONTRACT §2): it builds
// the topics under one base topic and takes them apart, and it says which
// topics clients may publish to (commands) and which only the daemon
// publishes. The bridge and the embedded broker both follow it.
package topic

import (
	"errors"
	"strings"

	"github.com/pidicon/pidicon-mqtt/state"
)

// Suffixes of a device's topics and the bridge's own topics, relative to
// the base topic.
const (
	State        = "state"
	Availability = "availability"
	Metrics      = "metrics"
	Frame        = "frame"
	Set          = "set"
	Get          = "get"
	Notify       = "notify"
	Dismiss      = "notify/dismiss"
	Notification = "notification"
	Reboot       = "reboot"

	BridgeID         = "bridge"
	BridgeState      = "bridge/state"
	BridgeInfo       = "bridge/info"
	BridgeEvent      = "bridge/event"
	BridgeSync       = "bridge/sync"
	BridgeRequest    = "bridge/request/"
	BridgeNotify     = "bridge/notify"
	RequestRepublish = "republish"
	// RequestImage starts the name of an image request:
	// bridge/request/image/<name>.
	RequestImage = "image/"
)

// Refusals of the topic policy.
var (
	// ErrRetainedCommand refuses a command published retained: it would
	// be replayed on every restart.
	ErrRetainedCommand = errors.New("command topics must not be retained: the message was refused and not applied")
	// ErrDaemonTopic refuses a publish by another client than the daemon
	// to a topic only the daemon publishes (state, availability, metrics,
	// frame, bridge topics, discovery).
	ErrDaemonTopic = errors.New("only the daemon publishes to this topic: the message was dropped")
)

// Payloads of availability and bridge/state.
const (
	Online  = "online"
	Offline = "offline"
)

// ValidID reports whether id has CONTRACT §2's device id syntax: 1 to 64
// lower-case letters, digits, '_' and '-', starting with a letter or a
// digit. (BridgeID has it too, but is reserved.)
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 || id[0] == '_' || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Layout builds and parses the topics under one base topic.
type Layout struct {
	// Base is the first level of every topic, e.g. "pidicon".
	Base string
}

// Device is <base>/<id>/<suffix>.
func (l Layout) Device(id, suffix string) string { return l.Base + "/" + id + "/" + suffix }

// Bridge is <base>/<suffix>, e.g. <base>/bridge/state.
func (l Layout) Bridge(suffix string) string { return l.Base + "/" + suffix }

// FieldSet is the set topic of one field of a device.
func (l Layout) FieldSet(id, field string) string { return l.Device(id, field+"/"+Set) }

// CommandFilters are the subscription filters that match every command.
func (l Layout) CommandFilters() []string {
	return []string{
		l.Base + "/+/" + Set,
		l.Base + "/+/+/" + Set,
		l.Base + "/+/" + Get,
		l.Base + "/+/" + Notify, // also bridge/notify
		l.Base + "/+/" + Dismiss,
		l.Base + "/+/" + Reboot,
		l.Base + "/" + BridgeRequest + "#",
	}
}

// DeviceCommands are the exact command topics of device id, those
// CommandFilters match for it: each field's set topic, set, get, notify,
// notify/dismiss and reboot.
func (l Layout) DeviceCommands(id string) []string {
	var out []string
	for _, f := range state.Fields() {
		out = append(out, l.FieldSet(id, f))
	}
	for _, suffix := range []string{Set, Get, Notify, Dismiss, Reboot} {
		out = append(out, l.Device(id, suffix))
	}
	return out
}

// Kind is what a topic under the base topic means.
type Kind int

// The kinds of topics.
const (
	Other          Kind = iota // not one the daemon handles
	FieldSet                   // <id>/<field>/set
	JSONSet                    // <id>/set
	GetRequest                 // <id>/get
	Request                    // bridge/request/<name>
	StateTopic                 // <id>/state (read at start-up)
	Sync                       // bridge/sync
	BadFieldSet                // <id>/<not a field>/set
	NotifyRequest              // <id>/notify, and bridge/notify (Device "")
	DismissRequest             // <id>/notify/dismiss
	RebootRequest              // <id>/reboot
)

// Parsed is a topic taken apart.
type Parsed struct {
	Kind Kind
	// Device is the device the topic names, if any (also an unknown one).
	Device string
	// Field is the field of FieldSet and BadFieldSet.
	Field string
	// Name is the request name of Request.
	Name string
}

// IsCommand reports whether clients may publish to the topic as a command
// (and so must never retain it).
func (p Parsed) IsCommand() bool {
	switch p.Kind {
	case FieldSet, JSONSet, GetRequest, Request, BadFieldSet, NotifyRequest, DismissRequest, RebootRequest:
		return true
	}
	return false
}

// Parse takes a topic apart.
func (l Layout) Parse(t string) Parsed {
	rest, ok := strings.CutPrefix(t, l.Base+"/")
	if !ok {
		return Parsed{}
	}
	if name, ok := strings.CutPrefix(rest, BridgeRequest); ok {
		return Parsed{Kind: Request, Name: name}
	}
	switch rest {
	case BridgeSync:
		return Parsed{Kind: Sync}
	case BridgeNotify:
		return Parsed{Kind: NotifyRequest}
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && parts[0] != BridgeID:
		switch parts[1] {
		case Set:
			return Parsed{Kind: JSONSet, Device: parts[0]}
		case Get:
			return Parsed{Kind: GetRequest, Device: parts[0]}
		case State:
			return Parsed{Kind: StateTopic, Device: parts[0]}
		case Notify:
			return Parsed{Kind: NotifyRequest, Device: parts[0]}
		case Reboot:
			return Parsed{Kind: RebootRequest, Device: parts[0]}
		}
	case len(parts) == 3 && parts[0] != BridgeID && parts[1]+"/"+parts[2] == Dismiss:
		return Parsed{Kind: DismissRequest, Device: parts[0]}
	case len(parts) == 3 && parts[0] != BridgeID && parts[2] == Set:
		for _, f := range state.Fields() {
			if parts[1] == f {
				return Parsed{Kind: FieldSet, Device: parts[0], Field: f}
			}
		}
		return Parsed{Kind: BadFieldSet, Device: parts[0], Field: parts[1]}
	}
	return Parsed{}
}

// DeviceOf is the device a topic under the base topic names, if any: the
// level after the base, unless that is the bridge's.
func (l Layout) DeviceOf(t string) string {
	if p := l.Parse(t); p.Device != "" {
		return p.Device
	}
	rest, ok := strings.CutPrefix(t, l.Base+"/")
	if !ok {
		return ""
	}
	if id, _, _ := strings.Cut(rest, "/"); id != BridgeID {
		return id
	}
	return ""
}

// Policy says who may publish where (CONTRACT §2: state is "published only
// by the daemon"). Every client may subscribe to anything and publish
// outside the daemon's namespaces; inside them, only to command topics.
type Policy struct {
	Layout
	// Discovery is Home Assistant's discovery prefix, or "".
	Discovery string
	// Status is Home Assistant's status topic: anyone may publish to it.
	Status string
}

// DaemonOnly reports whether only the daemon may publish to t: every topic
// under the base topic except the command topics (set, get, notify,
// notify/dismiss, reboot, bridge/notify, bridge/request/...: IsCommand),
// and the discovery topics of this base topic,
// <discovery>/<component>/<base>/...; never Home Assistant's status topic.
func (p Policy) DaemonOnly(t string) bool {
	if t == p.Status {
		return false
	}
	if t == p.Base || strings.HasPrefix(t, p.Base+"/") {
		return !p.Parse(t).IsCommand()
	}
	if p.Discovery == "" {
		return false
	}
	rest, ok := strings.CutPrefix(t, p.Discovery+"/")
	if !ok {
		return false
	}
	_, node, ok := strings.Cut(rest, "/") // after <component>/
	return ok && (node == p.Base || strings.HasPrefix(node, p.Base+"/"))
}

// IsCommand reports whether t is a command topic under the base topic.
func (l Layout) IsCommand(t string) bool { return l.Parse(t).IsCommand() }
