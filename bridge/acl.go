package bridge

import (
	"errors"
	"fmt"
	"strings"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// ErrDaemonTopic is reported when a client other than the daemon publishes
// to a topic that only the daemon publishes (state, availability, metrics,
// frame, bridge topics, discovery).
var ErrDaemonTopic = errors.New("only the daemon publishes to this topic: the message was dropped")

// policy decides who may publish where on the embedded broker (CONTRACT §2:
// state is "published only by the daemon"). Every client may subscribe to
// anything and publish outside the daemon's namespaces; inside them, only
// to command topics.
type policy struct {
	topics topics
	// discovery is the Home Assistant discovery prefix, or "".
	discovery string
	// status is Home Assistant's status topic: anyone may publish to it.
	status string
}

// daemonOnly reports whether only the daemon may publish to topic: every
// topic under the base topic except the command topics (set, get,
// bridge/request/...), and the discovery topics of this base topic,
// <discovery>/<component>/<base>/...; never Home Assistant's status topic.
func (p policy) daemonOnly(topic string) bool {
	if topic == p.status {
		return false
	}
	base := p.topics.base
	if topic == base || strings.HasPrefix(topic, base+"/") {
		return !p.topics.parse(topic).isCommand()
	}
	if p.discovery == "" {
		return false
	}
	rest, ok := strings.CutPrefix(topic, p.discovery+"/")
	if !ok {
		return false
	}
	_, node, ok := strings.Cut(rest, "/") // after <component>/
	return ok && (node == base || strings.HasPrefix(node, base+"/"))
}

// refuse is what OnPublish returns to drop pk without storing or
// delivering it. mochi acts on a returned code only for MQTT 5 at QoS 1
// (a PUBACK with the reason); for MQTT 3.1.1, QoS 0 and QoS 2 it must be
// CodeSuccessIgnore: acknowledged as usual and dropped, as mosquitto does.
// (Refusing in OnACLCheck instead would make mochi disconnect a 3.1.1
// client that published at QoS 1, and its retry after reconnecting would
// loop.)
func refuse(cl *mochi.Client, pk packets.Packet, code packets.Code) error {
	if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos == 1 {
		return code
	}
	return packets.CodeSuccessIgnore
}

// ReportDenied reports on bridge/event a publish that the embedded broker
// dropped because only the daemon publishes to its topic; it is the
// broker's OnDenied callback.
func (b *Bridge) ReportDenied(clientID, topic string, payload []byte) {
	p := b.topics.parse(topic)
	if rest, ok := strings.CutPrefix(topic, b.topics.base+"/"); ok && p.device == "" {
		if id, _, _ := strings.Cut(rest, "/"); id != bridgeID {
			p.device = id // e.g. <base>/<id>/brightness
		}
	}
	b.reject(p, topic, payload, fmt.Errorf("client %q: %w", clientID, ErrDaemonTopic))
}
