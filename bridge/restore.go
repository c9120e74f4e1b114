package bridge

import (
	"context"
	"fmt"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// restore decides every device's state with state.Restore, from the file
// and the broker's retained states (nil: the broker was not read), puts it
// into the store, which the file writer saves, and says in the log and on
// bridge/event what it had to do. The hardware is not driven here.
func (b *Bridge) restore(broker map[string][]byte) state.RestoreResult {
	in := state.RestoreInput{
		File:        b.opts.File,
		Quarantined: b.opts.FileQuarantined,
		Broker:      broker,
		Now:         time.Now(),
	}
	for _, id := range b.ids {
		d := b.devices[id]
		in.Devices = append(in.Devices, state.RestoreDevice{
			ID:       id,
			Host:     d.Host,
			Defaults: d.Defaults,
			Check:    func(st state.State) error { return d.Controller.CheckScene(st.ActiveScene) },
		})
	}
	res := state.Restore(in)
	for _, r := range res.Devices {
		d := b.devices[r.ID]
		log := b.log.With(logkey.Device, r.ID)
		if r.FileKey != "" && r.FileKey != r.ID {
			log.Info("state file entry claimed by host address", logkey.Key, r.FileKey)
		}
		if r.HostTakenBy != "" {
			log.Warn("the state file's entry for this device's host address went to another device",
				logkey.Host, d.Host, "claimed_by", r.HostTakenBy)
		}
		if r.FileClamped {
			log.Warn("state file entry is dated in the future; treated as undated")
		}
		if r.BrokerRefused != nil {
			b.opts.Events.Report(event.New(in.Now, event.LevelWarning, r.ID, b.topics.Device(r.ID, topic.State),
				broker[r.ID], fmt.Errorf("retained state on the broker ignored: %w", r.BrokerRefused)))
		}
		if r.SceneRefused != nil {
			log.Warn("restored scene cannot run; using the startup scene",
				logkey.StartupScene, d.Defaults.ActiveScene, logkey.Error, r.SceneRefused)
		}
		b.opts.Store.Put(r.ID, r.State)
	}
	if len(res.Kept) > 0 {
		b.opts.Store.Keep(res.Kept)
		b.log.Warn("state file holds entries that no configured device claims; they are kept in the file",
			logkey.Entries, strings.Join(sortedKeys(res.Kept), ", "))
	}
	return res
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

// restoreFromBroker reads the retained state topics once, at the first
// connection, and restores each device's newest state (file or broker).
// It waits until the broker has sent every retained state (a sync message
// we publish after subscribing comes back behind them) or RestoreWait
// passed.
func (b *Bridge) restoreFromBroker(ctx context.Context) {
	start := time.Now()
	deadline := time.NewTimer(b.opts.RestoreWait)
	defer deadline.Stop()
	filter := b.topics.Base + "/+/" + topic.State
	syncTopic := b.topics.Bridge(topic.BridgeSync)
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
		b.log.Warn("cannot read the broker's retained state; going on with the file's", logkey.Error, err)
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

	states := make(map[string][]byte)
	var configs, seen []string
	for _, t := range sortedKeys(got) {
		p := b.topics.Parse(t)
		if p.Kind != topic.StateTopic {
			configs = append(configs, t) // a discovery config
			continue
		}
		seen = append(seen, p.Device)
		if _, ok := b.devices[p.Device]; ok {
			states[p.Device] = got[t]
		}
	}
	res := b.restore(states)
	counts := make(map[state.Source]int)
	for _, r := range res.Devices {
		counts[r.Source]++
	}
	b.clearStale(configs, seen)
	b.log.Info("state restored (newest of file and broker wins)",
		"from_file", counts[state.FromFile], "from_broker", counts[state.FromBroker],
		"from_defaults", counts[state.FromDefaults], "retained_seen", len(got),
		"complete", synced, logkey.Took, time.Since(start).Round(time.Millisecond))
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
