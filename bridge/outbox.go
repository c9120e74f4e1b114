package bridge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// message is one MQTT publish.
type message struct {
	topic   string
	payload []byte
	retain  bool
	// lively marks metrics and frame previews: QoS 0 (a newer one follows
	// within a second, and an offline session need not queue them) and
	// sent after what is queued at the same time, so that a burst of them
	// does not delay state and events.
	lively bool
	// ownQoS says that qosLevel is the message's QoS (a watchdog action
	// has its own); otherwise lively decides.
	ownQoS   bool
	qosLevel byte
}

// qos is the message's QoS.
func (m message) qos() byte {
	switch {
	case m.ownQoS:
		return m.qosLevel
	case m.lively:
		return 0
	}
	return 1
}

// Limits of the outbox.
const (
	// maxQueuedEvents bounds the non-retained messages waiting; beyond it
	// new ones are dropped and counted (retained topics are coalesced, so
	// they need no bound beyond the number of topics).
	maxQueuedEvents = 1024
	// maxInFlight bounds the QoS 1 publishes not yet acknowledged, so a
	// republish of many devices paces itself to the broker instead of
	// flooding its queues: a default mosquitto delivers 20 QoS 1 messages
	// at a time to each subscriber and queues at most 1,000 more, and
	// silently drops the rest (TestBridge_RepublishPacedForDefaultMosquitto
	// fails with an unbounded burst).
	maxInFlight = 20
	// ackTimeout bounds the wait for one acknowledgement.
	ackTimeout = 5 * time.Second
)

// outbox queues messages for the single publishing goroutine. A retained
// topic that is queued again before it went out is replaced in place: only
// its latest payload matters. It is safe for concurrent use and never
// blocks the caller.
type outbox struct {
	mu      sync.Mutex
	queues  [2][]message    // the rest, then the lively messages
	index   map[string]slot // retained topic -> its place in queues
	events  int             // non-retained messages queued
	dropped int             // non-retained messages dropped since the last report
	wake    chan struct{}   // capacity 1
}

// slot is a place in the outbox's queues.
type slot struct{ queue, i int }

func (m message) queue() int {
	if m.lively {
		return 1
	}
	return 0
}

func newOutbox() *outbox {
	return &outbox{index: make(map[string]slot), wake: make(chan struct{}, 1)}
}

// put queues m and reports false if it had to be dropped.
func (o *outbox) put(m message) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := m.queue()
	if m.retain {
		if at, ok := o.index[m.topic]; ok && at.queue == q {
			o.queues[q][at.i] = m
			return true
		}
		o.index[m.topic] = slot{q, len(o.queues[q])}
	} else {
		if o.events >= maxQueuedEvents {
			o.dropped++
			return false
		}
		o.events++
	}
	o.queues[q] = append(o.queues[q], m)
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return true
}

// take removes and returns everything queued, and how many non-retained
// messages were dropped since the last call.
func (o *outbox) take() ([]message, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q, d := append(o.queues[0], o.queues[1]...), o.dropped
	o.queues, o.events, o.dropped = [2][]message{}, 0, 0
	clear(o.index)
	return q, d
}

// publisher sends the outbox's messages with one client, keeping at most
// maxInFlight unacknowledged. Only its own goroutine uses it.
type publisher struct {
	client   mqtt.Client
	box      *outbox
	inFlight []sent
	// fresh is signalled (capacity 1) when a new connection is up: the
	// publishes in flight on the old one are forgotten. paho resends them
	// under new tokens, so the old ones might never complete and the
	// window would wait ackTimeout for each.
	fresh   chan struct{}
	onError func(topic string, err error) // a publish failed
	onDrop  func(n int)                   // n events were dropped
	// published, if set, counts the publishes handed to the client.
	published *atomic.Uint64
}

// sent is a publish waiting for its acknowledgement.
type sent struct {
	topic string
	token mqtt.Token
}

// run publishes until ctx is done.
func (p *publisher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.box.wake:
			p.sendQueued(ctx)
		}
	}
}

// sendQueued publishes everything queued now.
func (p *publisher) sendQueued(ctx context.Context) {
	p.forgetIfFresh()
	q, dropped := p.box.take()
	if dropped > 0 && p.onDrop != nil {
		p.onDrop(dropped)
	}
	for _, m := range q {
		p.send(ctx, m)
	}
}

func (p *publisher) send(ctx context.Context, m message) {
	if !p.client.IsConnectionOpen() {
		// Dropped: every retained topic is published again when the
		// connection comes back, and events are best-effort.
		return
	}
	p.reap()
	for len(p.inFlight) >= maxInFlight {
		if !p.await(ctx, p.inFlight[0]) {
			p.inFlight = nil // a new connection: the old window is gone
			break
		}
		p.inFlight = p.inFlight[1:]
	}
	p.inFlight = append(p.inFlight, sent{m.topic, p.client.Publish(m.topic, m.qos(), m.retain, m.payload)})
	if p.published != nil {
		p.published.Add(1)
	}
}

// reap drops the acknowledged publishes from the front of the window.
func (p *publisher) reap() {
	for len(p.inFlight) > 0 {
		select {
		case <-p.inFlight[0].token.Done():
			p.check(p.inFlight[0])
			p.inFlight = p.inFlight[1:]
			continue
		default:
		}
		return
	}
}

// drain waits for every publish in flight, up to ctx.
func (p *publisher) drain(ctx context.Context) {
	for _, s := range p.inFlight {
		if !p.await(ctx, s) {
			break
		}
	}
	p.inFlight = nil
}

// await waits for one publish's acknowledgement, up to ackTimeout; it
// returns false if a new connection came up meanwhile.
func (p *publisher) await(ctx context.Context, s sent) bool {
	timer := time.NewTimer(ackTimeout)
	defer timer.Stop()
	select {
	case <-s.token.Done():
		p.check(s)
	case <-timer.C:
	case <-ctx.Done():
	case <-p.fresh:
		return false
	}
	return true
}

// forgetIfFresh empties the window if a new connection came up.
func (p *publisher) forgetIfFresh() {
	select {
	case <-p.fresh:
		p.inFlight = nil
	default:
	}
}

// connectionUp tells the publisher that a new connection is up. It never
// blocks.
func (p *publisher) connectionUp() {
	select {
	case p.fresh <- struct{}{}:
	default:
	}
}

func (p *publisher) check(s sent) {
	if err := s.token.Error(); err != nil && p.onError != nil {
		p.onError(s.topic, err)
	}
}
