package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// ErrRetainedCommand is reported when a client publishes a command retained.
var ErrRetainedCommand = errors.New("command topics must not be retained: the message was refused and not applied")

// BrokerOptions configure the embedded broker.
type BrokerOptions struct {
	// Listen is the TCP address, e.g. "127.0.0.1:1883" (":0" picks a port).
	Listen string
	// BaseTopic is the daemon's base topic; retained publishes to its
	// command topics are refused.
	BaseTopic string
	// Logger receives the broker's own warnings and errors.
	Logger *slog.Logger
	// OnRefused, if set, is called (from a broker goroutine; it must not
	// block) when a retained command is refused.
	OnRefused func(clientID, topic string, payload []byte)
}

// Broker is the embedded MQTT broker (mochi-mqtt) the daemon runs when no
// external broker is configured.
type Broker struct {
	server *mochi.Server
	tcp    *listeners.TCP
	opts   BrokerOptions
}

// StartBroker listens on opts.Listen and serves MQTT until Close.
func StartBroker(opts BrokerOptions) (*Broker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	caps := mochi.NewDefaultServerCapabilities()
	// Keep sessions of clients that ask for it for a day, not forever.
	caps.MaximumSessionExpiryInterval = 24 * 60 * 60
	s := mochi.New(&mochi.Options{
		Capabilities:           caps,
		Logger:                 opts.Logger,
		SysTopicResendInterval: 60,
	})
	b := &Broker{server: s, opts: opts}
	if err := s.AddHook(&brokerHook{broker: b}, nil); err != nil {
		return nil, fmt.Errorf("add broker hook: %w", err)
	}
	b.tcp = listeners.NewTCP(listeners.Config{ID: "tcp", Address: opts.Listen})
	if err := s.AddListener(b.tcp); err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", opts.Listen, err)
	}
	if err := s.Serve(); err != nil {
		s.Close()
		return nil, fmt.Errorf("embedded broker: serve: %w", err)
	}
	return b, nil
}

// Addr is the address the broker listens on, with the real port.
func (b *Broker) Addr() string { return b.tcp.Address() }

// URL is the address as an MQTT URL for clients, e.g. tcp://127.0.0.1:1883.
func (b *Broker) URL() string {
	host, port, err := net.SplitHostPort(b.Addr())
	if err != nil {
		return "tcp://" + b.Addr()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "tcp://" + net.JoinHostPort(host, port)
}

// Close stops the broker and disconnects every client.
func (b *Broker) Close() error { return b.server.Close() }

// brokerHook is the broker's policy: it refuses retained commands.
type brokerHook struct {
	mochi.HookBase
	broker *Broker
}

func (h *brokerHook) ID() string { return "pidicon" }

func (h *brokerHook) Provides(b byte) bool {
	switch b {
	case mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnPublish:
		return true
	}
	return false
}

func (h *brokerHook) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }

func (h *brokerHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// OnPublish refuses a retained publish to a command topic: it is
// acknowledged (so the client does not hang) but neither stored nor
// delivered, and reported.
func (h *brokerHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if !pk.FixedHeader.Retain || !(topics{h.broker.opts.BaseTopic}).parse(pk.TopicName).isCommand() {
		return pk, nil
	}
	if len(pk.Payload) > 0 && h.broker.opts.OnRefused != nil {
		h.broker.opts.OnRefused(cl.ID, pk.TopicName, pk.Payload)
	}
	if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0 {
		return pk, packets.ErrRetainNotSupported // MQTT 5 clients see why in the PUBACK
	}
	return pk, packets.CodeSuccessIgnore
}

// compile-time check that the hook has the methods mochi calls.
var _ mochi.Hook = (*brokerHook)(nil)
