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

// maxClockSkew is how far in the future a restored timestamp may be. A
// later one (a host with a wrong clock, or a hand-made retained message)
// would win every restore and freeze every later timestamp, since they
// never go backwards.
const maxClockSkew = time.Minute

// readFile claims the file's entry of each device (by id, or by host
// address for a file of the original pidicon daemon) and puts the state
// from the file, or the defaults, into the store, which the file writer
// saves: nothing of the file may be lost even if the broker never answers.
// Entries no device claims are kept as they are. The hardware is not
// driven yet: the broker may hold newer state.
func (b *Bridge) readFile() {
	claimed := make(map[string]bool)
	now := time.Now()
	for _, id := range b.ids {
		d := b.devices[id]
		for _, key := range []string{id, hostIP(d.Host)} {
			e, ok := b.opts.File.Entry(key)
			if !ok || key == "" {
				continue
			}
			claimed[key] = true
			if key != id {
				b.log.Info("state file entry claimed by host address", "device", id, "key", key)
			}
			switch {
			case e.Timestamp.IsZero():
				// Undated (a file of the original daemon without any
				// timestamp): older than anything the broker holds, but kept.
				e.Timestamp = time.Unix(0, 0).UTC()
			case e.Timestamp.After(now.Add(maxClockSkew)):
				b.log.Warn("state file entry is dated in the future; treated as undated", "device", id,
					"timestamp", state.FormatTime(e.Timestamp))
				e.Timestamp = time.Unix(0, 0).UTC()
			}
			b.fileEntries[id] = &e
			break
		}
		st, _ := state.Restore(d.Defaults, b.fileEntries[id], nil)
		b.opts.Store.Put(id, b.checkScene(d, st))
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
	b.log.Info("state read from the file", "devices", len(b.fileEntries), "configured", len(b.ids))
}

// driveAll sends every device's state in the store to its controller, which
// drives the hardware to it.
func (b *Bridge) driveAll() {
	for _, id := range b.ids {
		if st, ok := b.opts.Store.Get(id); ok {
			b.devices[id].Controller.Desire(st, false)
		}
	}
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
// connection, and puts each device's newest state (file or broker) into the
// store. It waits until the broker has sent every retained state (a sync
// message we publish after subscribing comes back behind them) or
// RestoreWait passed.
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

	now := time.Now()
	brokerStates := make(map[string]*state.State)
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
		if err == nil && bs.Timestamp.After(now.Add(maxClockSkew)) {
			err = fmt.Errorf("its timestamp %s is in the future", state.FormatTime(bs.Timestamp))
		}
		if err != nil {
			b.event(newEvent(now, levelWarning, d.ID, topic, payload,
				fmt.Errorf("retained state on the broker ignored: %w", err)))
			continue
		}
		brokerStates[d.ID] = &bs
	}
	// Per device, the newest of file and broker; a device in neither starts
	// from its defaults and gets its first timestamp now.
	counts := make(map[state.Source]int)
	for _, id := range b.ids {
		d := b.devices[id]
		st, src := state.Restore(d.Defaults, b.fileEntries[id], brokerStates[id])
		if st.Timestamp.IsZero() {
			st.Timestamp = now
		}
		counts[src]++
		b.opts.Store.Put(id, b.checkScene(d, st))
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
