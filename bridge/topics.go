package bridge

import (
	"strings"

	"github.com/pidicon/pidicon-mqtt/state"
)

// Topic suffixes and bridge topics, relative to the base topic.
const (
	topicState        = "state"
	topicAvailability = "availability"
	topicMetrics      = "metrics"
	topicFrame        = "frame"
	topicSet          = "set"
	topicGet          = "get"
	bridgeID          = "bridge"
	bridgeState       = "bridge/state"
	bridgeInfo        = "bridge/info"
	bridgeEvent       = "bridge/event"
	bridgeSync        = "bridge/sync"
	bridgeRequest     = "bridge/request/"
	requestRepublish  = "republish"
)

// Payloads of availability and bridge/state.
const (
	online  = "online"
	offline = "offline"
)

// topics builds and parses the topics under one base topic.
type topics struct {
	base string
}

func (t topics) device(id, suffix string) string { return t.base + "/" + id + "/" + suffix }
func (t topics) bridge(suffix string) string     { return t.base + "/" + suffix }

// Subscription filters for commands.
func (t topics) commandFilters() []string {
	return []string{
		t.base + "/+/" + topicSet,
		t.base + "/+/+/" + topicSet,
		t.base + "/+/" + topicGet,
		t.base + "/" + bridgeRequest + "#",
	}
}

// kind is what a topic under the base topic means to us.
type kind int

const (
	kindOther       kind = iota // not ours to handle
	kindFieldSet                // <id>/<field>/set
	kindJSONSet                 // <id>/set
	kindGet                     // <id>/get
	kindRequest                 // bridge/request/<name>
	kindState                   // <id>/state (read at start-up)
	kindSync                    // bridge/sync
	kindBadFieldSet             // <id>/<not a field>/set
)

// parsed is a topic taken apart.
type parsed struct {
	kind   kind
	device string // the device the topic names, if any
	field  string // for kindFieldSet and kindBadFieldSet
	name   string // for kindRequest
}

// isCommand reports whether clients may publish to the topic as a command
// (and so must never retain it).
func (p parsed) isCommand() bool {
	switch p.kind {
	case kindFieldSet, kindJSONSet, kindGet, kindRequest, kindBadFieldSet:
		return true
	}
	return false
}

// parse takes a topic apart.
func (t topics) parse(topic string) parsed {
	rest, ok := strings.CutPrefix(topic, t.base+"/")
	if !ok {
		return parsed{}
	}
	if name, ok := strings.CutPrefix(rest, bridgeRequest); ok {
		return parsed{kind: kindRequest, name: name}
	}
	if rest == bridgeSync {
		return parsed{kind: kindSync}
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && parts[0] != bridgeID:
		switch parts[1] {
		case topicSet:
			return parsed{kind: kindJSONSet, device: parts[0]}
		case topicGet:
			return parsed{kind: kindGet, device: parts[0]}
		case topicState:
			return parsed{kind: kindState, device: parts[0]}
		}
	case len(parts) == 3 && parts[0] != bridgeID && parts[2] == topicSet:
		for _, f := range state.Fields() {
			if parts[1] == f {
				return parsed{kind: kindFieldSet, device: parts[0], field: f}
			}
		}
		return parsed{kind: kindBadFieldSet, device: parts[0], field: parts[1]}
	}
	return parsed{}
}
