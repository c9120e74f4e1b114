package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pidicon/pidicon-mqtt/state"
)

// startFromFile puts each device's state from the file (or its defaults)
// into the store and the controller, so the hardware is driven even before
// the broker answers.
func (b *Bridge) startFromFile() {
	claimed := make(map[string]bool)
	counts := make(map[state.Source]int)
	for _, id := range b.ids {
		d := b.devices[id]
		var file *state.Entry
		for _, key := range []string{id, hostIP(d.Host)} {
			if e, ok := b.opts.File.Entry(key); ok && key != "" {
				file = &e
				claimed[key] = true
				if key != id {
					b.log.Info("state file entry claimed by host address", "device", id, "key", key)
				}
				break
			}
		}
		st, src := state.Restore(d.Defaults, file, nil)
		st = b.checkScene(d, st)
		b.sources[id] = src
		counts[src]++
		b.opts.Store.Put(id, st)
		d.Controller.Desire(st, false)
	}
	if b.opts.File != nil {
		kept := make(map[string]json.RawMessage)
		for key, raw := range b.opts.File.Raw {
			if !claimed[key] {
				kept[key] = raw
			}
		}
		if len(kept) > 0 {
			b.opts.Store.Keep(kept)
			b.log.Warn("state file holds entries that no configured device claims; they are kept in the file",
				"entries", strings.Join(sortedKeys(kept), ", "))
		}
	}
	b.log.Info("state read from the file", "from_file", counts[state.FromFile], "from_defaults", counts[state.FromDefaults])
}

// checkScene replaces a scene the device cannot show with its default.
func (b *Bridge) checkScene(d *Device, st state.State) state.State {
	if err := d.Controller.CheckScene(st.ActiveScene); err != nil {
		b.log.Warn("restored scene cannot run; using the startup scene", "device", d.ID,
			"scene", st.ActiveScene, "startup_scene", d.Defaults.ActiveScene, "error", err)
		st.ActiveScene = d.Defaults.ActiveScene
	}
	return st
}

// restoreFromBroker reads the retained state topics once, at the first
// connection, and takes each device's broker state where it is newer than
// what the file gave. It waits until the broker has sent every retained
// state (a sync message we publish after subscribing comes back behind
// them) or RestoreWait passed.
func (b *Bridge) restoreFromBroker(ctx context.Context) {
	start := time.Now()
	deadline := time.NewTimer(b.opts.RestoreWait)
	defer deadline.Stop()
	filter := b.topics.base + "/+/" + topicState
	syncTopic := b.topics.bridge(bridgeSync)
	b.mu.Lock()
	b.found = make(map[string][]byte)
	b.mu.Unlock()
	b.restoring.Store(true)
	synced := false
	subCtx, cancel := context.WithTimeout(ctx, b.opts.RestoreWait)
	// QoS 0 throughout: the broker then sends the retained messages and
	// our sync message behind them in order, without the per-client limits
	// on QoS 1 deliveries (mosquitto: 20 in flight, 1,000 queued, the rest
	// dropped) that would let the sync overtake or lose retained state.
	err := subscribe(subCtx, b.client, map[string]byte{filter: 0, b.discoveryFilter(): 0, syncTopic: 0}, b.opts.RestoreWait)
	cancel()
	if err != nil {
		b.log.Warn("cannot read the broker's retained state; going on with the file's", "error", err)
	} else {
		b.client.Publish(syncTopic, 0, false, b.opts.ClientID)
	}
	// paho calls the handler in arrival order, so when the sync message is
	// handled every retained message before it has been recorded.
	select {
	case <-b.syncCh:
		synced = true
	case <-deadline.C:
	case <-ctx.Done():
	}
	b.restoring.Store(false)
	b.mu.Lock()
	got := b.found
	b.found = nil
	b.mu.Unlock()
	b.client.Unsubscribe(filter, b.discoveryFilter(), syncTopic)

	fromBroker := 0
	var configs, seen []string
	for _, topic := range sortedKeys(got) {
		payload := got[topic]
		p := b.topics.parse(topic)
		if p.kind != kindState {
			configs = append(configs, topic) // a discovery config
			continue
		}
		seen = append(seen, p.device)
		d, ok := b.devices[p.device]
		if !ok {
			continue
		}
		bs, err := state.ParseStateJSON(payload)
		if err == nil {
			err = bs.Validate()
		}
		if err != nil {
			b.event(newEvent(time.Now(), levelWarning, d.ID, topic, payload,
				fmt.Errorf("retained state on the broker ignored: %w", err)))
			continue
		}
		cur, _ := b.opts.Store.Get(d.ID)
		if !bs.Timestamp.After(cur.Timestamp) {
			continue
		}
		bs = b.checkScene(d, bs)
		b.opts.Store.Put(d.ID, bs)
		d.Controller.Desire(bs, false)
		b.sources[d.ID] = state.FromBroker
		fromBroker++
	}
	// A device that came from its defaults gets its first timestamp now.
	now := time.Now()
	counts := make(map[state.Source]int)
	for _, id := range b.ids {
		counts[b.sources[id]]++
		if st, _ := b.opts.Store.Get(id); st.Timestamp.IsZero() {
			st.Timestamp = now
			b.opts.Store.Put(id, st)
		}
	}
	b.clearStale(configs, seen)
	b.log.Info("state restored (newest of file and broker wins)",
		"from_file", counts[state.FromFile], "from_broker", counts[state.FromBroker],
		"from_defaults", counts[state.FromDefaults], "retained_seen", len(got),
		"complete", synced, "took", time.Since(start).Round(time.Millisecond))
}

// recordFound keeps a retained message seen while restoring.
func (b *Bridge) recordFound(m mqtt.Message) {
	if !m.Retained() || len(m.Payload()) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.found != nil {
		b.found[m.Topic()] = m.Payload()
	}
}

// hostIP is the address part of a device's host setting.
func hostIP(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}
