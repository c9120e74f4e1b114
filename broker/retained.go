package broker

import (
	"strings"
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The retained messages of a new subscription (MQTT 3.3.1-9) are sent by
// the broker's own feed, not by mochi: mochi puts every one of them in the
// client's queue at once and drops what does not fit (more than 8,192
// unacknowledged, or queued), so a late subscriber to pidicon/# of a
// thousand displays got a part of their state. The feed walks an index of
// the retained topics with a cursor and sends, per client, at most
// feedWindow QoS 1/2 messages that the client has not acknowledged; each
// write waits for the client's socket. What a late subscriber costs is
// one goroutine and its window, however many topics there are.
//
// A retained message can change while the feed sends it. The subscription
// already exists, so the client gets the change as a live publish; the
// feed must not send the old value after it. Every change of a retained
// topic gets a new version in the index (after mochi stored it, before
// mochi delivers it); the feed reads the version before it reads the
// message and again after it wrote it, and sends the topic again while the
// two differ. A topic deleted meanwhile is sent once more with an empty
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

// retainedIndex lists the topics that hold a retained message, each in a
// slot it keeps until it is deleted, so that a feed can walk them with a
// cursor while topics come and go. A new topic may land in a slot the
// cursor has passed: its publish reached the subscriber live.
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
}

// retainedTopic is a topic the feed is about to send, with its version
// when the feed took it from the index.
type retainedTopic struct {
	name    string
	version uint64
}

// stored records that topic holds a new retained message.
func (x *retainedIndex) stored(topic string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seq++
	if i, ok := x.byName[topic]; ok {
		x.slots[i].version = x.seq
		return
	}
	if x.byName == nil {
		x.byName = make(map[string]int)
	}
	i := len(x.slots)
	if n := len(x.free); n > 0 {
		i, x.free = x.free[n-1], x.free[:n-1]
		x.slots[i] = retainedSlot{topic: topic, version: x.seq}
	} else {
		x.slots = append(x.slots, retainedSlot{topic: topic, version: x.seq})
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

	sent atomic.Uint64 // retained messages sent, for tests
}

func newRetainedFeed(b *Broker, cl *mochi.Client) *retainedFeed {
	return &retainedFeed{b: b, cl: cl, acked: make(chan struct{}, 1), gone: make(chan struct{})}
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
}

// send sends t's retained message to the client, again while it changed
// under the feed (see the comment at the top); false when the client is
// gone.
func (f *retainedFeed) send(sub feedSub, t retainedTopic) bool {
	for try := 0; ; try++ {
		pk, ok := f.b.server.Topics.Retained.Get(t.name)
		if hook := f.b.afterFeedRead.Load(); hook != nil {
			(*hook)(t.name)
		}
		if !ok {
			if try == 0 {
				return true // deleted since the feed took it: the client saw it go
			}
			pk = packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}, TopicName: t.name}
		}
		if sub.noLocal && pk.Origin == f.cl.ID {
			return true // [MQTT-3.8.3-3]
		}
		if !f.write(sub, pk) {
			return false
		}
		version, exists := f.b.retained.version(t.name)
		if (exists && version == t.version) || (!exists && !ok) || try == feedRetries {
			return true
		}
		t.version = version
	}
}

// write sends one retained message as the subscription asks, waiting for
// room in the window for QoS 1 and 2; false when the client is gone.
func (f *retainedFeed) write(sub feedSub, pk packets.Packet) bool {
	out := pk.Copy(false)
	out.FixedHeader.Retain = true // [MQTT-3.3.1-9]
	out.FixedHeader.Qos = min(out.FixedHeader.Qos, sub.qos, f.b.server.Options.Capabilities.MaximumQos)
	out.Properties.TopicAlias, out.Properties.TopicAliasFlag = 0, false
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
	if err := cl.WritePacket(out); err != nil {
		return false
	}
	f.sent.Add(1)
	return true
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
