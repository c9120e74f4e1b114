// Package broker is the embedded MQTT broker (mochi-mqtt) the daemon runs
// when no external broker is configured: its listeners (TCP, TLS,
// WebSocket), its logins, and the policy that only the daemon publishes
// the daemon's topics and that commands are never retained (CONTRACT §2).
// What it refuses it reports as events. Its listeners bound what a client
// may hold before it has logged in, and keep file descriptors for the rest
// of the daemon (see gate).
package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/internal/lograte"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// MaxPacket is the largest MQTT packet the embedded broker reads from a
// client that has logged in (before, MaxConnect); a client that sends a
// larger one is disconnected and reported. It takes an image upload of
// 1 MiB (CONTRACT §7) with its topic, and leaves room for commands over
// their limits, which the daemon reports rather than the broker dropping
// them.
const MaxPacket = 1<<20 + 16<<10

// DaemonMaxPacket is the largest packet the daemon's own login may send:
// bridge/info lists every display with its scenes, about a megabyte for
// ten thousand displays.
const DaemonMaxPacket = 64 << 20

// ErrPacketTooLarge is reported (naming the client) when the broker closes
// a connection because of a packet over MaxPacket.
var ErrPacketTooLarge = fmt.Errorf("sent a packet over %d KiB (the embedded broker's limit): disconnected", MaxPacket>>10)

// ErrWillTopic refuses a client whose will would be published to one of
// the daemon's topics, or retained on a command topic: mochi publishes
// wills without asking the hook, so the broker checks them at CONNECT.
var ErrWillTopic = errors.New("the will's topic is one only the daemon publishes to, or a command topic with retain set")

// Listener IDs of the embedded broker.
const (
	listenerTCP       = "tcp"
	listenerTLS       = "tls"
	listenerWebSocket = "ws"
)

// Options configure the embedded broker.
type Options struct {
	// Listen is the TCP address, e.g. "127.0.0.1:1883" (":0" picks a port).
	// The daemon connects through it.
	Listen string
	// TLS adds an MQTT-over-TLS listener when its Listen is set; its TLSCfg
	// (with the certificate) is required.
	TLS ListenerOptions
	// WebSocket adds an MQTT-over-WebSocket listener when its Listen is set,
	// served on any path; wss:// when its TLSCfg is set.
	WebSocket ListenerOptions
	// BaseTopic is the daemon's base topic; retained publishes to its
	// command topics are refused.
	BaseTopic string
	// DiscoveryPrefix is Home Assistant's discovery prefix; with
	// DaemonClientID, only the daemon may publish discovery topics of
	// BaseTopic under it.
	DiscoveryPrefix string
	// StatusTopic is Home Assistant's status topic, which any client may
	// publish to (default <DiscoveryPrefix>/status).
	StatusTopic string
	// DaemonClientID is the client id of the daemon's own connection. When
	// set, that id is reserved for a client logging in with DaemonLogin, and
	// only that client may publish to the daemon's topics (state,
	// availability, metrics, frame, bridge/*, discovery); other clients may
	// publish to command topics and outside those namespaces. When empty,
	// any client may publish anywhere (tests of other things).
	DaemonClientID string
	// Users may log in. Without users, any client may connect (with any or
	// no username); with users, only they may, and anonymous clients too if
	// AllowAnonymous is set.
	Users []User
	// AllowAnonymous lets clients without a username connect although
	// Users is not empty.
	AllowAnonymous bool
	// Logger receives the broker's own warnings and errors.
	Logger *slog.Logger
	// AuthLogger receives refused logins (at most one line a second); nil
	// means Logger.
	AuthLogger *slog.Logger
	// Report, if set, is told (from a broker goroutine; it must not block)
	// of every publish the broker refuses: a retained command, or a client
	// other than the daemon publishing to one of the daemon's topics; and
	// (at most once a second) of clients disconnected for a packet over
	// MaxPacket.
	Report func(event.Event)

	// limits: the zero value is the defaults (tests set smaller ones).
	limits limits
}

// ListenerOptions configure an optional listener of the embedded broker.
type ListenerOptions struct {
	// Listen is the address, e.g. "0.0.0.0:8883"; empty: no listener.
	Listen string
	// TLSCfg holds the server certificate; nil: no TLS.
	TLSCfg *tls.Config
}

// Stats are counters of the embedded broker.
type Stats struct {
	Clients         int64  // clients connected now, the daemon included
	LoginsRefused   uint64 // connections refused at login
	PublishesDenied uint64 // publishes dropped: only the daemon publishes there
	// AcceptErrors counts failed Accepts of the listeners (out of file
	// descriptors, for one); the listeners retry.
	AcceptErrors uint64
	// ConnectionsDropped counts connections closed before login: no
	// CONNECT in time, too large a CONNECT, or no room (too many
	// connections not logged in yet, or too many clients).
	ConnectionsDropped uint64
	// PacketsTooLarge counts clients disconnected for a packet over
	// MaxPacket.
	PacketsTooLarge uint64
	// Pending is the number of connections not logged in yet.
	Pending int
}

// Broker is the embedded MQTT broker (mochi-mqtt) the daemon runs when no
// external broker is configured.
type Broker struct {
	server *mochi.Server
	gate   *gate
	tcp    *tcpListener
	tls    *tcpListener
	ws     *wsListener
	opts   Options

	daemon    *daemonLogin // nil without DaemonClientID
	users     map[string]User
	anonymous bool
	policy    topic.Policy
	authLog   *slog.Logger
	authLimit lograte.Limiter // refused logins
	// refuseLimit rate-limits the log of refused publishes.
	refuseLimit lograte.Limiter
	// acceptLimit, dropLimit and tooLargeLimit rate-limit the logs of
	// failed Accepts, of connections closed before login, and the log and
	// reports of packets over MaxPacket.
	acceptLimit   lograte.Limiter
	dropLimit     lograte.Limiter
	tooLargeLimit lograte.Limiter

	// retainMu serialises mochi's writes to its own index of retained
	// messages (a retained publish to a $ topic, or a will until
	// OnRetainMessage moves it to retained) against its scans of it (the
	// retained messages of a new subscription to a $ filter; the feed
	// sends the others): mochi reads a field of that index without its
	// lock. See brokerHook.
	retainMu sync.RWMutex

	// retained indexes the retained topics for the feeds that send them
	// to new subscriptions; feeds counts the feeds' goroutines.
	retained  retainedIndex
	feeds     sync.WaitGroup
	closing   chan struct{} // closed when Close begins: feeds stop
	closeOnce sync.Once
	// afterFeedRead, when set (by tests), runs after a feed read a
	// retained message and before it sends it.
	afterFeedRead atomic.Pointer[func(topic string)]

	loginsRefused atomic.Uint64
	denied        atomic.Uint64
	acceptErrors  atomic.Uint64
	dropped       atomic.Uint64
	tooLarge      atomic.Uint64
}

// Start listens on opts.Listen (and the optional TLS and WebSocket
// addresses) and serves MQTT until Close.
func Start(opts Options) (*Broker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.AuthLogger == nil {
		opts.AuthLogger = opts.Logger
	}
	if opts.StatusTopic == "" && opts.DiscoveryPrefix != "" {
		opts.StatusTopic = opts.DiscoveryPrefix + "/status"
	}
	daemon, err := newDaemonLogin(opts.DaemonClientID)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		opts:          opts,
		daemon:        daemon,
		users:         make(map[string]User, len(opts.Users)),
		anonymous:     len(opts.Users) == 0 || opts.AllowAnonymous,
		policy:        topic.Policy{Layout: topic.Layout{Base: opts.BaseTopic}, Discovery: opts.DiscoveryPrefix, Status: opts.StatusTopic},
		authLog:       opts.AuthLogger,
		authLimit:     lograte.Limiter{Every: time.Second},
		refuseLimit:   lograte.Limiter{Every: time.Second},
		acceptLimit:   lograte.Limiter{Every: time.Second},
		dropLimit:     lograte.Limiter{Every: time.Second},
		tooLargeLimit: lograte.Limiter{Every: time.Second},
		closing:       make(chan struct{}),
	}
	for _, u := range opts.Users {
		b.users[u.Username] = u
	}
	caps := mochi.NewDefaultServerCapabilities()
	// Keep sessions of clients that ask for it for a day, not forever.
	caps.MaximumSessionExpiryInterval = 24 * 60 * 60
	// mochi's default is no limit: it would read a packet of any size into
	// memory (before login, the gate reads the CONNECT, at most
	// MaxConnect). Commands are at most 16 KiB, notifications 72 KiB,
	// image uploads 1 MiB; frames and discovery configs a few KB.
	// The gate's clientConn holds each client to its own limit (MaxPacket,
	// or DaemonMaxPacket for the daemon) as it reads; mochi's is the
	// larger one.
	caps.MaximumPacketSize = DaemonMaxPacket
	// mochi copies the properties of a QoS 1 publish into its PUBACK and
	// then writes the PUBACK with reason code 0x01 (a SUBACK code), which
	// MQTT.js refuses as malformed: acknowledgements without them.
	caps.Compatibilities.NoInheritedPropertiesOnAck = true
	// mochi gives every message without an expiry of its own one of a day,
	// retained ones included: the devices' retained state would vanish
	// from the broker after a quiet day.
	caps.MaximumMessageExpiryInterval = 0
	s := mochi.New(&mochi.Options{
		Capabilities:           caps,
		Logger:                 slog.New(newMochiHandler(opts.Logger.Handler())),
		SysTopicResendInterval: 60,
	})
	b.server = s
	if err := s.AddHook(&brokerHook{broker: b}, nil); err != nil {
		return nil, fmt.Errorf("add broker hook: %w", err)
	}
	b.gate = newGate(opts.limits.withDefaults(), b.isDaemon, b.droppedConnection, b.disconnectClients)
	b.tcp = newTCPListener(listenerTCP, opts.Listen, nil, b.gate, b.acceptFailed)
	if err := s.AddListener(b.tcp); err != nil {
		s.Close()
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", opts.Listen, err)
	}
	if opts.TLS.Listen != "" {
		if opts.TLS.TLSCfg == nil {
			s.Close()
			return nil, errors.New("embedded broker: a TLS listener needs a certificate")
		}
		b.tls = newTCPListener(listenerTLS, opts.TLS.Listen, opts.TLS.TLSCfg, b.gate, b.acceptFailed)
		if err := s.AddListener(b.tls); err != nil {
			s.Close()
			return nil, fmt.Errorf("embedded broker: TLS listener on %s: %w", opts.TLS.Listen, err)
		}
	}
	if opts.WebSocket.Listen != "" {
		b.ws = newWSListener(listenerWebSocket, opts.WebSocket.Listen, opts.WebSocket.TLSCfg, b.gate, b.acceptFailed)
		if err := s.AddListener(b.ws); err != nil {
			s.Close()
			return nil, fmt.Errorf("embedded broker: WebSocket listener on %s: %w", opts.WebSocket.Listen, err)
		}
	}
	if err := s.Serve(); err != nil {
		s.Close()
		return nil, fmt.Errorf("embedded broker: serve: %w", err)
	}
	return b, nil
}

// Addr is the address the broker listens on, with the real port.
func (b *Broker) Addr() string { return b.tcp.Address() }

// TLSAddr is the TLS listener's address with the real port, or "".
func (b *Broker) TLSAddr() string {
	if b.tls == nil {
		return ""
	}
	return b.tls.Address()
}

// WebSocketAddr is the WebSocket listener's address with the real port, or "".
func (b *Broker) WebSocketAddr() string {
	if b.ws == nil {
		return ""
	}
	return b.ws.Address()
}

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

// DaemonLogin is the username and password the daemon's client must log in
// with (through URL): a secret made at start-up that never leaves the
// process. Both are empty without BrokerOptions.DaemonClientID.
func (b *Broker) DaemonLogin() (username, password string) {
	if b.daemon == nil {
		return "", ""
	}
	return DaemonUsername, b.daemon.password
}

// Stats returns the broker's counters.
func (b *Broker) Stats() Stats {
	pending, _ := b.gate.counts()
	return Stats{
		Clients:            atomic.LoadInt64(&b.server.Info.ClientsConnected),
		LoginsRefused:      b.loginsRefused.Load(),
		PublishesDenied:    b.denied.Load(),
		AcceptErrors:       b.acceptErrors.Load(),
		ConnectionsDropped: b.dropped.Load(),
		PacketsTooLarge:    b.tooLarge.Load(),
		Pending:            pending,
	}
}

// Close stops the broker and disconnects every client. It does not wait
// for clients: connections not logged in are closed at once, clients
// after their DISCONNECT or a second.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() { close(b.closing) })
	err := b.server.Close()
	b.feeds.Wait()
	return err
}

// disconnectClients sends the clients of a listener a DISCONNECT (server
// shutting down) and stops them, as mochi does when a listener closes, but
// without mochi's Clients.GetByListener: that takes the clients' read lock
// twice, and a client leaving in between (waiting for the write lock)
// deadlocks both, and with them the shutdown (mochi issue 488).
func (b *Broker) disconnectClients(listener string) {
	for _, cl := range b.server.Clients.GetAll() {
		if cl.Net.Listener == listener && !cl.Closed() {
			b.server.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}

// isDaemon reports whether a CONNECT read by the gate is the daemon's
// login, which is admitted even when the broker has no room for clients.
func (b *Broker) isDaemon(listener string, conn net.Conn, pk packets.Packet) bool {
	return b.daemon.matches(pk.Connect.ClientIdentifier, string(pk.Connect.Username), pk.Connect.Password,
		listener, listenerTCP, conn)
}

// acceptFailed counts and logs (at most a line a second) a failed Accept.
func (b *Broker) acceptFailed(listener string, err error, retry time.Duration) {
	b.acceptErrors.Add(1)
	attrs := []any{logkey.Listener, listener, logkey.Error, err}
	if retry > 0 {
		attrs = append(attrs, logkey.RetryIn, retry)
	}
	b.acceptLimit.Log(b.opts.Logger, slog.LevelError, "embedded broker cannot accept connections; retrying", attrs...)
}

// droppedConnection counts and logs (at most a line a second) a
// connection closed before login.
func (b *Broker) droppedConnection(listener, remote string, err error) {
	b.dropped.Add(1)
	b.dropLimit.Log(b.authLog, slog.LevelWarn, "embedded broker closed a connection before login",
		logkey.Listener, listener, logkey.Remote, remote, logkey.Reason, err)
}

// packetTooLarge counts, logs and reports (each at most once a second) a
// client disconnected for a packet over MaxPacket.
func (b *Broker) packetTooLarge(cl *mochi.Client) {
	b.tooLarge.Add(1)
	err := fmt.Errorf("client %q: %w", cl.ID, ErrPacketTooLarge)
	if !b.tooLargeLimit.Log(b.authLog, slog.LevelWarn, "embedded broker disconnected a client",
		logkey.ClientID, cl.ID, logkey.Remote, cl.Net.Remote, logkey.Listener, cl.Net.Listener, logkey.Reason, err) {
		return
	}
	if b.opts.Report != nil {
		b.opts.Report(event.New(time.Now(), event.LevelError, "", "", nil, err))
	}
}

// authenticate checks a CONNECT: the daemon's reserved identity, the
// users, anonymous access and the will.
func (b *Broker) authenticate(cl *mochi.Client, pk packets.Packet) error {
	username := string(pk.Connect.Username)
	if b.daemon.claims(cl, username) {
		return b.daemon.verify(cl, username, pk.Connect.Password, listenerTCP)
	}
	switch u, known := b.users[username]; {
	case len(b.users) == 0:
		// No users: anyone, with any or no username.
	case username == "":
		if !b.anonymous {
			return ErrAnonymous
		}
	case !known:
		return ErrUnknownUser
	case !u.Check(pk.Connect.Password):
		return ErrWrongPassword
	}
	if pk.Connect.WillFlag {
		will := pk.Connect.WillTopic
		if (b.daemon != nil && b.policy.DaemonOnly(will)) ||
			(pk.Connect.WillRetain && b.policy.IsCommand(will)) {
			return fmt.Errorf("%w: %q", ErrWillTopic, will)
		}
	}
	return nil
}

// refusedLogin counts and logs a refused connection; never the password.
func (b *Broker) refusedLogin(cl *mochi.Client, pk packets.Packet, err error) {
	b.loginsRefused.Add(1)
	b.authLimit.Log(b.authLog, slog.LevelWarn, "embedded broker refused a client",
		logkey.ClientID, cl.ID, logkey.Username, string(pk.Connect.Username),
		logkey.Remote, cl.Net.Remote, logkey.Listener, cl.Net.Listener, logkey.Reason, err)
}

// brokerHook is the broker's policy: logins, the daemon's topics, and no
// retained commands. It keeps the retained messages in the broker's own
// index and sends them to new subscriptions with the feed (retained.go).
// It also mends what mochi does not do as MQTT or its clients expect:
// empty wills, the maximum packet size in an MQTT 5 CONNACK, a report for
// a client disconnected for too large a packet, and a lock around what
// mochi still retains itself (retainMu).
//
// The lock: mochi writes a retained message into its index (a $ topic
// after OnPublish, or a will after OnWill, and before OnRetainMessage)
// while a subscription to a $ filter reads the index without its lock
// (once the SUBACK is sent, OnPacketSent, until OnPacketProcessed). Both
// run on the client's goroutine, and mochi calls the closing hook whenever
// it called the opening one; the client's connection notes which lock it
// holds, so a hook is never closed twice.
type brokerHook struct {
	mochi.HookBase
	broker *Broker
}

func (h *brokerHook) ID() string { return "pidicon" }

func (h *brokerHook) Provides(b byte) bool {
	switch b {
	case mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnPublish,
		mochi.OnPacketRead, mochi.OnConnect, mochi.OnPacketEncode, mochi.OnDisconnect,
		mochi.OnPacketSent, mochi.OnPacketProcessed, mochi.OnWill, mochi.OnRetainMessage,
		mochi.OnSubscribe, mochi.OnSubscribed, mochi.OnQosComplete:
		return true
	}
	return false
}

// OnPacketRead lets a CONNECT with an empty will through mochi's checks,
// which refuse it (MQTT allows it): the will gets a placeholder payload
// that OnConnect empties again.
func (h *brokerHook) OnPacketRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Connect || !pk.Connect.WillFlag ||
		len(pk.Connect.WillPayload) > 0 || pk.Connect.WillTopic == "" {
		return pk, nil
	}
	if c := connOf(cl.Net.Conn); c != nil {
		c.emptyWill = true
		pk.Connect.WillPayload = []byte{0}
	}
	return pk, nil
}

// OnConnect empties the will that OnPacketRead gave a placeholder.
func (h *brokerHook) OnConnect(cl *mochi.Client, _ packets.Packet) error {
	if c := connOf(cl.Net.Conn); c != nil && c.emptyWill {
		cl.Properties.Will.Payload = nil
	}
	return nil
}

// OnPacketEncode tells MQTT 5 clients in the CONNACK the largest packet
// the broker reads; it holds a live message until the client's retained
// feed has sent what it has, and puts the retain flag back on a retained
// publish for an MQTT 5 subscription with retain as published.
func (h *brokerHook) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	switch {
	case pk.FixedHeader.Type == packets.Connack && pk.ProtocolVersion == 5 && pk.ReasonCode < packets.ErrUnspecifiedError.Code:
		pk.Properties.MaximumPacketSize = MaxPacket
	case pk.FixedHeader.Type == packets.Publish && pk.Origin != feedOrigin:
		if !pk.FixedHeader.Dup && pk.Expiry != -1 {
			// A live message, from mochi's write loop (a resend, marked
			// so, comes from the client's read loop, which must go on to
			// take the acknowledgements the feed waits for).
			h.waitFeed(cl)
		}
		if pk.SessionPresent {
			// A retained publish OnPublish took from mochi: the retain
			// flag back for a subscription that keeps it.
			pk.SessionPresent = false
			if cl.Properties.ProtocolVersion == 5 && retainAsPublished(cl, pk.TopicName) {
				pk.FixedHeader.Retain = true
			}
		}
	}
	return pk
}

// waitFeed holds a live message for cl until its retained feed has sent
// what it has (see retainedFeed).
func (h *brokerHook) waitFeed(cl *mochi.Client) {
	if c := connOf(cl.Net.Conn); c != nil {
		if f := c.feed.Load(); f != nil {
			f.waitIdle()
		}
	}
}

// OnDisconnect reports a client disconnected for a packet over MaxPacket,
// and stops its retained feed.
func (h *brokerHook) OnDisconnect(cl *mochi.Client, err error, _ bool) {
	if errors.Is(err, packets.ErrPacketTooLarge) {
		h.broker.packetTooLarge(cl)
	}
	if c := connOf(cl.Net.Conn); c != nil {
		c.gone.Store(true)
		if f := c.feed.Load(); f != nil {
			f.stop()
		}
	}
}

// OnSubscribe takes over from mochi the retained messages of each filter
// the feed sends (see retainedFeed): it notes them and tells mochi to send
// none (retain handling 2). Retain handling 1 (only for a new
// subscription) and 2 (none) are kept.
func (h *brokerHook) OnSubscribe(cl *mochi.Client, pk packets.Packet) packets.Packet {
	c := connOf(cl.Net.Conn)
	if c == nil {
		return pk
	}
	c.staged = c.staged[:0]
	for i, sub := range pk.Filters {
		if !takesFeed(sub.Filter) || sub.RetainHandling == 2 {
			continue
		}
		if _, existed := cl.State.Subscriptions.Get(sub.Filter); sub.RetainHandling == 0 || !existed {
			c.staged = append(c.staged, stagedSub{index: i, sub: feedSub{
				filter: sub.Filter, qos: sub.Qos, noLocal: sub.NoLocal, identifier: sub.Identifier,
			}})
		}
		pk.Filters[i].RetainHandling = 2
	}
	return pk
}

// OnSubscribed keeps, of the noted filters, those the broker granted.
func (h *brokerHook) OnSubscribed(cl *mochi.Client, _ packets.Packet, reasonCodes []byte) {
	c := connOf(cl.Net.Conn)
	if c == nil {
		return
	}
	granted := c.staged[:0]
	for _, s := range c.staged {
		if s.index < len(reasonCodes) && reasonCodes[s.index] < packets.ErrUnspecifiedError.Code {
			granted = append(granted, s)
		}
	}
	c.staged = granted
}

// OnQosComplete wakes the client's retained feed, which may be waiting
// for room in its window.
func (h *brokerHook) OnQosComplete(cl *mochi.Client, _ packets.Packet) {
	if c := connOf(cl.Net.Conn); c != nil {
		if f := c.feed.Load(); f != nil {
			f.ack()
		}
	}
}

// startFeed hands the granted subscriptions of a processed SUBSCRIBE to
// the client's retained feed.
func (h *brokerHook) startFeed(cl *mochi.Client, c *clientConn, err error) {
	staged := c.staged
	c.staged = c.staged[:0]
	if err != nil || len(staged) == 0 {
		return
	}
	f := c.feed.Load()
	if f == nil {
		f = newRetainedFeed(h.broker, cl)
		c.feed.Store(f)
		if c.gone.Load() {
			f.stop()
			return
		}
	}
	subs := make([]feedSub, len(staged))
	for i, s := range staged {
		subs[i] = s.sub
	}
	f.add(subs)
}

// OnPacketSent takes, once a SUBACK is sent, the read lock of the
// retained messages, which mochi scans next for the new subscription.
// (Not before the SUBACK: a client that does not read could hold it.)
func (h *brokerHook) OnPacketSent(cl *mochi.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type != packets.Suback {
		return
	}
	if c := connOf(cl.Net.Conn); c != nil {
		h.broker.retainMu.RLock()
		c.holdsScan.Store(true)
	}
}

// OnPacketProcessed releases the read lock OnPacketSent took, and starts
// the retained feed of the subscriptions.
func (h *brokerHook) OnPacketProcessed(cl *mochi.Client, pk packets.Packet, err error) {
	if pk.FixedHeader.Type != packets.Subscribe {
		return
	}
	c := connOf(cl.Net.Conn)
	if c == nil {
		return
	}
	if c.holdsScan.CompareAndSwap(true, false) {
		h.broker.retainMu.RUnlock()
	}
	h.startFeed(cl, c, err)
}

// OnWill takes the write lock of the retained messages for a retained
// will that mochi retains next (one without a delay).
func (h *brokerHook) OnWill(cl *mochi.Client, will mochi.Will) (mochi.Will, error) {
	if will.Retain && cl.Properties.Will.WillDelayInterval == 0 {
		h.lockRetained(cl)
	}
	return will, nil
}

// OnRetainMessage moves a retained message mochi stored (a will) to the
// broker's index, and releases the write lock OnPublish or OnWill took.
func (h *brokerHook) OnRetainMessage(cl *mochi.Client, pk packets.Packet, _ int64) {
	if !strings.HasPrefix(pk.TopicName, "$") {
		if len(pk.Payload) > 0 {
			h.broker.retained.store(pk.TopicName, newRetainedMessage(pk, time.Now()))
			h.broker.server.Topics.RetainMessage(packets.Packet{TopicName: pk.TopicName}) // mochi's copy, and its place in the tree
		} else {
			h.broker.retained.deleted(pk.TopicName)
		}
	}
	if c := connOf(cl.Net.Conn); c != nil && c.holdsRetain.CompareAndSwap(true, false) {
		h.broker.retainMu.Unlock()
	}
}

// lockRetained takes the write lock of the retained messages for cl.
func (h *brokerHook) lockRetained(cl *mochi.Client) {
	if c := connOf(cl.Net.Conn); c != nil {
		h.broker.retainMu.Lock()
		c.holdsRetain.Store(true)
	}
}

func (h *brokerHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	if err := h.broker.authenticate(cl, pk); err != nil {
		h.broker.refusedLogin(cl, pk, err)
		return false
	}
	return true
}

// OnACLCheck allows every subscription, and every publish here: the
// publish policy is applied in OnPublish, which sees the topic after topic
// alias resolution and can drop a message without disconnecting the client.
func (h *brokerHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// OnPublish drops a publish by another client than the daemon to one of
// the daemon's topics, and a retained publish to a command topic: both
// are acknowledged (so the client does not hang; MQTT 5 clients at QoS 1
// get the reason in the PUBACK) but neither stored nor delivered, and
// reported.
func (h *brokerHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	b := h.broker
	if b.daemon != nil && !b.daemon.is(cl) && b.policy.DaemonOnly(pk.TopicName) {
		b.denied.Add(1)
		b.report(pk, fmt.Errorf("client %q: %w", cl.ID, topic.ErrDaemonTopic))
		return pk, refuse(cl, pk, packets.ErrNotAuthorized)
	}
	if !pk.FixedHeader.Retain {
		return pk, nil
	}
	if b.policy.IsCommand(pk.TopicName) {
		if len(pk.Payload) > 0 {
			b.report(pk, topic.ErrRetainedCommand)
		}
		return pk, refuse(cl, pk, packets.ErrRetainNotSupported)
	}
	if strings.HasPrefix(pk.TopicName, "$") {
		// mochi retains the message next, and then calls OnRetainMessage.
		h.lockRetained(cl)
		return pk, nil
	}
	// The broker's index keeps it (see retainedIndex); mochi delivers it
	// as a plain publish, marked for OnPacketEncode.
	if len(pk.Payload) > 0 {
		b.retained.store(pk.TopicName, newRetainedMessage(pk, time.Now()))
	} else {
		b.retained.deleted(pk.TopicName)
	}
	pk.FixedHeader.Retain = false
	pk.SessionPresent = true // unused by a PUBLISH: "was retained"
	return pk, nil
}

// retainAsPublished reports whether one of cl's subscriptions matching
// topic keeps the retain flag of live messages (MQTT 5).
func retainAsPublished(cl *mochi.Client, topic string) bool {
	for filter, sub := range cl.State.Subscriptions.GetAll() {
		if sub.RetainAsPublished && matchFilter(filter, topic) {
			return true
		}
	}
	return false
}

// report logs a refused publish (at most a line a second) and tells
// Options.Report of it.
func (b *Broker) report(pk packets.Packet, err error) {
	if ok, suppressed := b.refuseLimit.Allow(time.Now()); ok {
		b.authLog.Warn("embedded broker refused a publish", logkey.Topic, pk.TopicName, logkey.Reason, err,
			logkey.NotLoggedSince, suppressed)
	}
	if b.opts.Report != nil {
		b.opts.Report(event.New(time.Now(), event.LevelError, b.policy.DeviceOf(pk.TopicName), pk.TopicName, pk.Payload, err))
	}
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

// compile-time check that the hook has the methods mochi calls.
var _ mochi.Hook = (*brokerHook)(nil)
