package broker

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The broker keeps the retained messages of every topic that does not
// begin with '$' itself, in retainedIndex, and sends them to new
// subscriptions with its own feed; mochi keeps only $SYS.
//
// Why not mochi's: mochi keeps each retained message as a whole packet
// (about a kilobyte of struct) in a topic tree with four maps at every
// level, copies all of them every second to look for expired ones, and
// puts every retained message of a new subscription in the client's queue
// at once, dropping what does not fit (more than 8,192 unacknowledged, or
// queued): a late subscriber to pidicon/# of a thousand displays got a
// part of their state, and ten thousand displays cost 17 KB each in mochi.
//
// The hook takes a retained publish before mochi stores it (OnPublish):
// the index stores it and mochi delivers it as a plain publish, marked so
// that OnPacketEncode puts the retain flag back for MQTT 5 subscriptions
// that keep it (retain as published). A retained will, which mochi stores
// without asking, is moved to the index as soon as mochi stored it
// (OnRetainMessage).
//
// The feed walks the index with a cursor and sends, per client, at most
// feedWindow QoS 1/2 messages that the client has not acknowledged; each
// write waits for the client's socket. What a late subscriber costs is one
// goroutine and its window, however many topics there are.
//
// A client's live messages wait while its feed sends (OnPacketEncode
// holds its write loop; they queue in mochi's outbound queue), so that a
// message published after a subscription comes after its retained
// messages, as mochi and mosquitto do it: the daemon's restore publishes a
// sync message behind its subscriptions and takes it as the end of the
// retained state.
//
// A retained message can change while the feed sends it. The subscription
// already exists, so the client gets the change as a live publish; the
// feed must not send the old value after it. Every change of a retained
// topic gets a new version in the index (before mochi delivers it live);
// the feed reads the message with its version, and the version again
// after it wrote the message, and sends the topic again while the two
// differ. A topic deleted meanwhile is sent once more with an empty
// payload, which tells the client it is gone.
//
// Filters that begin with '$' ($SYS) and shared subscriptions are left to
// mochi.

// feedWindow is the most retained QoS 1/2 messages a client may have
// unacknowledged from the feed (its MQTT 5 receive maximum if lower).
const feedWindow = 64

// feedBatch is how many topics the feed takes from the index at once;
// feedScan bounds how many slots one look at the index reads.
const (
	feedBatch = 64
	feedScan  = 4096
)

// feedRetries bounds how often a topic that keeps changing under the feed
// is sent again; its live publishes reach the client anyway.
const feedRetries = 8

// retainedIndex holds the retained messages, each topic in a slot it
// keeps until it is deleted, so that a feed can walk them with a cursor
// while topics come and go. A new topic may land in a slot the cursor has
// passed: its publish reached the subscriber live.
type retainedIndex struct {
	mu     sync.Mutex
	slots  []retainedSlot
	byName map[string]int
	free   []int
	seq    uint64 // the last version given
}

// retainedSlot is one topic of the index; an empty topic is a free slot.
type retainedSlot struct {
	topic   string
	version uint64
	msg     *retainedMessage
}

// retainedMessage is a retained message as the index keeps it: what a
// subscriber gets of it, not the whole packet.
type retainedMessage struct {
	payload []byte
	qos     byte
	origin  string // the publishing client, for no-local subscriptions
	created int64  // unix seconds
	expiry  int64  // unix seconds; 0: never (MQTT 5 message expiry)
	props   *packets.Properties
}

// newRetainedMessage keeps what a subscriber gets of pk: its payload (a
// copy, not the packet's read buffer), QoS, origin and MQTT 5 properties
// when it has any.
func newRetainedMessage(pk packets.Packet, now time.Time) *retainedMessage {
	m := &retainedMessage{payload: bytes.Clone(pk.Payload), qos: pk.FixedHeader.Qos, origin: pk.Origin, created: now.Unix()}
	if isZeroProperties(&pk.Properties) {
		return m // the daemon's messages, and MQTT 3.1.1 ones
	}
	// Properties.Copy copies its strings' headers: they may point into the
	// packet's read buffer, as mochi decodes them without copying.
	props := pk.Properties.Copy(false)
	props.TopicAlias, props.TopicAliasFlag, props.SubscriptionIdentifier = 0, false, nil
	if props.MessageExpiryInterval > 0 {
		m.expiry = m.created + int64(props.MessageExpiryInterval)
	}
	props.ContentType, props.ResponseTopic = strings.Clone(props.ContentType), strings.Clone(props.ResponseTopic)
	props.CorrelationData = bytes.Clone(props.CorrelationData)
	props.User = slices.Clone(props.User)
	for i, u := range props.User {
		props.User[i] = packets.UserProperty{Key: strings.Clone(u.Key), Val: strings.Clone(u.Val)}
	}
	m.props = &props
	return m
}

// isZeroProperties reports whether p holds nothing a subscriber would get.
func isZeroProperties(p *packets.Properties) bool {
	return p.PayloadFormat == 0 && !p.PayloadFormatFlag && p.MessageExpiryInterval == 0 &&
		p.ContentType == "" && p.ResponseTopic == "" && len(p.CorrelationData) == 0 && len(p.User) == 0
}

// packet is m as a PUBLISH to topic, with the retain flag.
func (m *retainedMessage) packet(topic string) packets.Packet {
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: m.qos, Retain: true},
		TopicName:   topic,
		Payload:     m.payload,
		Origin:      m.origin,
		Created:     m.created,
		Expiry:      m.expiry,
	}
	if m.props != nil {
		pk.Properties = m.props.Copy(false)
	}
	return pk
}

// retainedTopic is a topic the feed is about to send, with its version
// when the feed took it from the index.
type retainedTopic struct {
	name    string
	version uint64
}

// store makes msg topic's retained message.
func (x *retainedIndex) store(topic string, msg *retainedMessage) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seq++
	if i, ok := x.byName[topic]; ok {
		x.slots[i].version, x.slots[i].msg = x.seq, msg
		return
	}
	if x.byName == nil {
		x.byName = make(map[string]int)
	}
	// A copy: mochi's topic names point into the packet's read buffer,
	// which a kept name would keep whole.
	topic = strings.Clone(topic)
	slot := retainedSlot{topic: topic, version: x.seq, msg: msg}
	i := len(x.slots)
	if n := len(x.free); n > 0 {
		i, x.free = x.free[n-1], x.free[:n-1]
		x.slots[i] = slot
	} else {
		x.slots = append(x.slots, slot)
	}
	x.byName[topic] = i
}

// deleted records that topic no longer holds a retained message.
func (x *retainedIndex) deleted(topic string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	i, ok := x.byName[topic]
	if !ok {
		return
	}
	delete(x.byName, topic)
	x.slots[i] = retainedSlot{}
	x.free = append(x.free, i)
}

// get returns topic's retained message and its version; false when it has
// none (or it expired).
func (x *retainedIndex) get(topic string, now time.Time) (*retainedMessage, uint64, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	i, ok := x.byName[topic]
	if !ok {
		return nil, 0, false
	}
	s := x.slots[i]
	if s.msg.expiry > 0 && s.msg.expiry < now.Unix() {
		return nil, 0, false
	}
	return s.msg, s.version, true
}

// version is topic's version, and whether it holds a retained message.
func (x *retainedIndex) version(topic string) (uint64, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	i, ok := x.byName[topic]
	if !ok {
		return 0, false
	}
	return x.slots[i].version, true
}

// next appends to out the topics matching filter from slot cursor on, up
// to feedBatch of them and after reading at most feedScan slots, and
// returns the cursor to go on from; done when no slot is left.
func (x *retainedIndex) next(out []retainedTopic, filter string, cursor int) (_ []retainedTopic, _ int, done bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	end := min(len(x.slots), cursor+feedScan)
	for ; cursor < end && len(out) < feedBatch; cursor++ {
		s := x.slots[cursor]
		if s.topic != "" && matchFilter(filter, s.topic) {
			out = append(out, retainedTopic{name: s.topic, version: s.version})
		}
	}
	return out, cursor, cursor >= len(x.slots)
}

// len is the number of retained topics.
func (x *retainedIndex) len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.byName)
}

// matchFilter reports whether topic matches the MQTT topic filter: '+'
// one level, a last '#' any number of levels including none; a topic that
// begins with '$' matches no filter that begins with a wildcard.
func matchFilter(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		level, rest, more := strings.Cut(filter, "/")
		switch level {
		case "#":
			return true
		case "+":
		default:
			name, _, _ := strings.Cut(topic, "/")
			if name != level {
				return false
			}
		}
		_, topicRest, topicMore := strings.Cut(topic, "/")
		if !more {
			return !topicMore
		}
		if !topicMore {
			// "a/#" matches "a".
			return rest == "#"
		}
		filter, topic = rest, topicRest
	}
}

// feedSub is a granted subscription whose retained messages the feed
// sends.
type feedSub struct {
	filter     string
	qos        byte
	noLocal    bool
	identifier int
}

// takesFeed reports whether the feed, rather than mochi, sends the
// retained messages of a subscription to filter.
func takesFeed(filter string) bool {
	return !strings.HasPrefix(filter, "$") && !mochi.IsSharedFilter(filter)
}

// retainedFeed sends one client the retained messages of its new
// subscriptions, one subscription after the other.
type retainedFeed struct {
	b  *Broker
	cl *mochi.Client

	mu      sync.Mutex
	queue   []feedSub
	running bool

	acked    chan struct{} // a QoS 1/2 message of the client completed
	gone     chan struct{} // closed when the client disconnects
	goneOnce sync.Once
	idle     chan struct{} // closed while the feed has nothing to send (mu)
	busy     atomic.Bool   // idle is open: a quick look for live messages
}

func newRetainedFeed(b *Broker, cl *mochi.Client) *retainedFeed {
	idle := make(chan struct{})
	close(idle)
	return &retainedFeed{b: b, cl: cl, acked: make(chan struct{}, 1), gone: make(chan struct{}), idle: idle}
}

// feedOrigin marks the feed's own packets (Origin is not sent).
const feedOrigin = "\x00retained-feed"

// waitIdle waits until the feed has sent what it has, the client is gone
// or the broker closes.
func (f *retainedFeed) waitIdle() {
	if !f.busy.Load() {
		return
	}
	f.mu.Lock()
	idle := f.idle
	f.mu.Unlock()
	select {
	case <-idle:
	case <-f.gone:
	case <-f.b.closing:
	}
}

// add queues subs and starts the feed's goroutine if it is not running.
func (f *retainedFeed) add(subs []feedSub) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, subs...)
	if f.running || len(f.queue) == 0 {
		return
	}
	f.running = true
	f.idle = make(chan struct{})
	f.busy.Store(true)
	f.b.feeds.Add(1)
	go func() {
		defer f.b.feeds.Done()
		f.run()
	}()
}

// take returns the next subscription to feed, or false (and marks the
// goroutine stopped) when there is none.
func (f *retainedFeed) take() (feedSub, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) == 0 {
		f.running = false
		f.busy.Store(false)
		close(f.idle)
		return feedSub{}, false
	}
	sub := f.queue[0]
	f.queue = f.queue[1:]
	if len(f.queue) == 0 {
		f.queue = nil
	}
	return sub, true
}

// ack wakes a feed waiting for room in its window.
func (f *retainedFeed) ack() {
	select {
	case f.acked <- struct{}{}:
	default:
	}
}

// stop ends the feed: its client is gone.
func (f *retainedFeed) stop() { f.goneOnce.Do(func() { close(f.gone) }) }

func (f *retainedFeed) run() {
	var batch []retainedTopic
	for {
		sub, ok := f.take()
		if !ok {
			return
		}
		cursor, done := 0, false
		for !done {
			batch, cursor, done = f.b.retained.next(batch[:0], sub.filter, cursor)
			for _, t := range batch {
				if !f.send(sub, t) {
					f.drop()
					return
				}
			}
		}
	}
}

// drop forgets the queue of a feed whose client is gone.
func (f *retainedFeed) drop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue, f.running = nil, false
	f.busy.Store(false)
	close(f.idle)
}

// send sends t's retained message to the client, again while it changed
// under the feed (see the comment at the top); false when the client is
// gone.
func (f *retainedFeed) send(sub feedSub, t retainedTopic) bool {
	for try := 0; ; try++ {
		msg, version, ok := f.b.retained.get(t.name, time.Now())
		if hook := f.b.afterFeedRead.Load(); hook != nil {
			(*hook)(t.name)
		}
		var pk packets.Packet
		switch {
		case ok:
			pk = msg.packet(t.name)
			t.version = version
		case try == 0:
			return true // deleted since the feed took it: the client saw it go
		default:
			pk = packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}, TopicName: t.name}
		}
		if sub.noLocal && pk.Origin == f.cl.ID {
			return true // [MQTT-3.8.3-3]
		}
		if !f.write(sub, pk) {
			return false
		}
		version, exists := f.b.retained.version(t.name)
		if (exists && ok && version == t.version) || (!exists && !ok) || try == feedRetries {
			return true
		}
	}
}

// write sends one retained message as the subscription asks, waiting for
// room in the window for QoS 1 and 2; false when the client is gone.
func (f *retainedFeed) write(sub feedSub, pk packets.Packet) bool {
	// pk is a packet of its own (retainedMessage.packet), not one mochi
	// holds: no copy needed.
	out := pk
	out.FixedHeader.Retain = true // [MQTT-3.3.1-9]
	out.FixedHeader.Qos = min(out.FixedHeader.Qos, sub.qos, f.b.server.Options.Capabilities.MaximumQos)
	out.Properties.TopicAlias, out.Properties.TopicAliasFlag = 0, false
	out.Origin = feedOrigin
	out.Properties.SubscriptionIdentifier = nil
	if sub.identifier > 0 {
		out.Properties.SubscriptionIdentifier = []int{sub.identifier} // [MQTT-3.3.4-3]
	}
	cl := f.cl
	if out.FixedHeader.Qos > 0 {
		if !f.waitWindow() {
			return false
		}
		id, err := cl.NextPacketID()
		if err != nil {
			return false
		}
		out.PacketID = uint16(id)
		if cl.State.Inflight.Set(out) {
			atomic.AddInt64(&f.b.server.Info.Inflight, 1)
			cl.State.Inflight.DecreaseSendQuota()
		}
	}
	if cl.Closed() {
		return false
	}
	return cl.WritePacket(out) == nil
}

// waitWindow waits until the client has fewer than its window of QoS 1/2
// messages unacknowledged; false when it is gone first.
func (f *retainedFeed) waitWindow() bool {
	window := feedWindow
	if rm := int(f.cl.Properties.Props.ReceiveMaximum); rm > 0 && rm < window {
		window = rm
	}
	for f.cl.State.Inflight.Len() >= window {
		select {
		case <-f.acked:
		case <-f.gone:
			return false
		case <-f.b.closing:
			return false
		}
	}
	select {
	case <-f.gone:
		return false
	case <-f.b.closing:
		return false
	default:
		return true
	}
}
