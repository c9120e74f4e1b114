package bridge

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// Brokers differ in whom they hand retained messages: mosquitto and the
// embedded broker send them to every matching subscription; RabbitMQ 3.10
// only to a subscription whose filter is the topic itself, none to a
// wildcard. So the daemon reads what it needs by exact topics, and checks
// at start-up what the broker does with a retained message it has just
// published (see retainedCheck).

// retainedRead collects the retained messages that one subscription
// brings, until the sync message published behind it comes back.
type retainedRead struct {
	token  string        // the payload of our sync message
	synced chan struct{} // closed when it came back
	once   sync.Once

	mu  sync.Mutex
	got map[string][]byte
}

// retainedReads are the bridge's reads of retained messages and what the
// first one showed of the broker. Its methods are safe for concurrent use.
type retainedReads struct {
	current atomic.Pointer[retainedRead] // the read in progress, or nil
	seq     atomic.Uint64                // numbers the sync tokens

	// exactSweep: subscribe the exact command topics after each
	// connection, because wildcard subscriptions do not bring the
	// retained commands (or the broker's behaviour is not known).
	exactSweep atomic.Bool

	mu       sync.Mutex
	warnings []string
}

// take gives m to the read in progress: our sync message, or a retained
// message other than a command (commands go their own way, to be cleared
// and reported). It reports whether m was taken.
func (r *retainedReads) take(m mqtt.Message, syncTopic string, isCommand bool) bool {
	rd := r.current.Load()
	if rd == nil {
		return false
	}
	if m.Topic() == syncTopic {
		if string(m.Payload()) == rd.token {
			rd.once.Do(func() { close(rd.synced) })
		}
		return true
	}
	if !m.Retained() || isCommand {
		return false
	}
	if len(m.Payload()) > 0 {
		rd.mu.Lock()
		rd.got[m.Topic()] = m.Payload()
		rd.mu.Unlock()
	}
	return true
}

// readRetained subscribes at QoS 0 to filters and to the sync topic,
// publishes a sync message and collects the retained messages that arrive
// before it comes back, or until deadline. It returns them and whether the
// sync message came back (every retained message was seen).
//
// QoS 0 throughout: the broker then sends the retained messages and our
// sync message behind them in order, without the per-client limits on QoS
// 1 deliveries (mosquitto: 20 in flight, 1,000 queued, the rest dropped)
// that would let the sync overtake or lose retained state. paho calls the
// handler in arrival order, so when the sync message is handled every
// retained message before it has been recorded.
func (b *Bridge) readRetained(ctx context.Context, filters []string, deadline time.Time) (map[string][]byte, bool, error) {
	syncTopic := b.topics.Bridge(topic.BridgeSync)
	rd := &retainedRead{
		token:  fmt.Sprintf("%s/%d", b.opts.ClientID, b.retained.seq.Add(1)),
		synced: make(chan struct{}),
		got:    make(map[string][]byte),
	}
	b.retained.current.Store(rd)
	defer b.retained.current.Store(nil)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	filters = append(filters, syncTopic)
	err := subscribeAll(ctx, b.client, filters, 0, time.Until(deadline))
	synced := false
	if err == nil {
		b.client.Publish(syncTopic, 0, false, rd.token)
		select {
		case <-rd.synced:
			synced = true
		case <-ctx.Done():
		}
	}
	// Not awaited: nothing depends on it, and retained messages that still
	// come are ignored once the read is over.
	for batch := range slices.Chunk(filters, filtersPerPacket) {
		b.client.Unsubscribe(batch...)
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.got, synced, err
}

// publishProbe publishes bridge/state offline (the daemon is not serving
// yet) retained, directly rather than through the outbox, and waits for
// the broker's acknowledgement, so that the read that follows sees it if
// the broker keeps it and hands it to the subscription. It reports whether
// the broker acknowledged it in time.
func (b *Bridge) publishProbe(ctx context.Context, deadline time.Time) bool {
	tok := b.client.Publish(b.topics.Bridge(topic.BridgeState), 1, true, []byte(topic.Offline))
	b.stats.published.Add(1)
	return await(ctx, tok, time.Until(deadline)) == nil
}

// retainedCheck is what the first reads showed of the broker, from the
// probe published just before them.
type retainedCheck struct {
	// conclusive: the probe was acknowledged and the reads completed.
	conclusive bool
	// wildcard: the probe came back through the wildcard <base>/+/state.
	wildcard bool
	// exact: the probe came back on its exact topic (or through the
	// wildcard: a broker that hands a retained message to a wildcard
	// subscription hands it to an exact one).
	exact bool
}

// checkRetained completes the check of the restore's read, which found
// whether the probe came back through the wildcard: if it did not, a read
// of its exact topic tells a broker that hands retained messages only to
// exact subscriptions from one that keeps none.
func (b *Bridge) checkRetained(ctx context.Context, acked, synced, wildcard bool) retainedCheck {
	c := retainedCheck{conclusive: acked && synced, wildcard: wildcard, exact: wildcard}
	if !c.conclusive || wildcard {
		return c
	}
	probe := b.topics.Bridge(topic.BridgeState)
	got, synced, _ := b.readRetained(ctx, []string{probe}, time.Now().Add(b.opts.RestoreWait))
	_, c.exact = got[probe]
	c.conclusive = synced
	return c
}

// judge records what the check says about the broker: whether retained
// commands must be looked for by exact topics, and the warnings for the
// log (once) and Warnings.
func (b *Bridge) judge(c retainedCheck) {
	b.retained.exactSweep.Store(!b.opts.RetainedCommandsRefused && (!c.conclusive || !c.wildcard))
	if !c.conclusive {
		return
	}
	var warn string
	switch {
	case !c.exact:
		warn = fmt.Sprintf("the MQTT broker did not hand back the retained %s it had just acknowledged: it does not keep retained messages, so clients do not get the full state when they connect and the next start cannot restore from the broker (see docs/BROKERS.md)",
			b.topics.Bridge(topic.BridgeState))
	case !c.wildcard:
		warn = fmt.Sprintf("the MQTT broker hands retained messages only to subscriptions of exact topics: clients that subscribe with wildcards (such as %s/+/state or %s/#) do not get the full state when they connect; subscribe to exact topics or use a broker that sends retained messages to wildcard subscriptions (see docs/BROKERS.md)",
			b.topics.Base, b.opts.HomeAssistant.DiscoveryPrefix)
	default:
		return
	}
	b.log.Warn(warn)
	b.retained.mu.Lock()
	b.retained.warnings = append(b.retained.warnings, warn)
	b.retained.mu.Unlock()
}

// Warnings lists what is wrong but does not stop the daemon from serving,
// such as a broker that does not hand back retained messages (for
// /healthz); empty when all is well.
func (b *Bridge) Warnings() []string {
	b.retained.mu.Lock()
	defer b.retained.mu.Unlock()
	return append([]string(nil), b.retained.warnings...)
}

// commandTopics are the exact command topics of every configured device
// (topic.Layout.DeviceCommands) and bridge/notify.
func (b *Bridge) commandTopics() []string {
	out := []string{b.topics.Bridge(topic.BridgeNotify)}
	for _, id := range b.ids {
		out = append(out, b.topics.DeviceCommands(id)...)
	}
	return out
}

// sweepTimeout bounds each step of a sweep of retained commands.
const sweepTimeout = 10 * time.Second

// sweepRetainedCommands looks for retained commands on the exact command
// topics of every configured device, for a broker that hands retained
// messages only to exact subscriptions (onMessage clears and reports
// them). It uses a connection of its own, with a clean session: the
// daemon's session keeps only its wildcard subscriptions (two matching
// subscriptions may bring a command twice), the subscriptions go when the
// connection closes, and a broker that is slow per subscription (RabbitMQ
// 3.10: a millisecond or more each) works on them beside the daemon's
// connection, not in its way.
func (b *Bridge) sweepRetainedCommands(ctx context.Context) {
	start := time.Now()
	syncTopic := b.topics.Bridge(topic.BridgeSync)
	token := fmt.Sprintf("%s-sweep/%d", b.opts.ClientID, b.retained.seq.Add(1))
	synced := make(chan struct{})
	var once sync.Once
	c := mqtt.NewClient(b.sweepOptions(func(_ mqtt.Client, m mqtt.Message) {
		switch {
		case m.Topic() == syncTopic:
			if string(m.Payload()) == token {
				once.Do(func() { close(synced) })
			}
		case m.Retained():
			b.onMessage(nil, m)
		}
	}))
	tok := c.Connect()
	if err := await(ctx, tok, sweepTimeout); err != nil {
		if ctx.Err() == nil {
			b.log.Warn("cannot connect to look for retained commands on their exact topics", logkey.Error, err)
		}
		// A connection still being made cannot be stopped halfway: let
		// it end (ConnectTimeout), then close it if it was made.
		tok.WaitTimeout(sweepTimeout)
		c.Disconnect(250)
		return
	}
	defer c.Disconnect(250)
	topics := append(b.commandTopics(), syncTopic)
	if err := subscribeAll(ctx, c, topics, 0, sweepTimeout); err != nil {
		if ctx.Err() == nil {
			b.log.Warn("cannot subscribe to the exact command topics; retained commands may stay on the broker", logkey.Error, err)
		}
		return
	}
	c.Publish(syncTopic, 0, false, token)
	timer := time.NewTimer(sweepTimeout)
	defer timer.Stop()
	select {
	case <-synced:
	case <-timer.C:
	case <-ctx.Done():
	}
	b.log.Debug("looked for retained commands on the exact command topics",
		logkey.Count, len(topics)-1, logkey.Took, time.Since(start).Round(time.Millisecond))
}

// sweepOptions are the options of the sweep's connection: the daemon's
// broker and login, a client id of its own, a clean session.
func (b *Bridge) sweepOptions(handler mqtt.MessageHandler) *mqtt.ClientOptions {
	return b.connectOptions(b.opts.ClientID + "-sweep").
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetDefaultPublishHandler(handler)
}

// sweeper runs sweepRetainedCommands in the background, one at a time:
// a broker that is slow per subscription must not hold up the commands.
// Only Run's goroutine uses it.
type sweeper struct {
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// start stops the sweep in progress, if any, and starts f.
func (s *sweeper) start(ctx context.Context, f func(context.Context)) {
	s.stop()
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Go(func() { f(ctx) })
}

// stop stops the sweep in progress and waits for it.
func (s *sweeper) stop() {
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
	s.wg.Wait()
}
