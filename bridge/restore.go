package bridge

import (
	"context"
	"fmt"
	"strings"
	"time"

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
			Check:    d.Controller.CheckState,
		})
	}
	res := state.Restore(in)
	for _, r := range res.Devices {
		d := b.devices[r.ID]
		log := b.log.With(logkey.Device, r.ID)
		if r.FileKey != "" && r.FileKey != r.ID && b.firstTime("claimed", r.ID, r.FileKey) {
			log.Info("state file entry claimed by host address", logkey.Key, r.FileKey)
		}
		if r.HostTakenBy != "" && b.firstTime("host taken", r.ID, r.HostTakenBy) {
			log.Warn("the state file's entry for this device's host address went to another device",
				logkey.Host, d.Host, logkey.ClaimedBy, r.HostTakenBy)
		}
		if r.FileClamped && b.firstTime("clamped", r.ID) {
			log.Warn("state file entry is dated in the future; treated as undated")
		}
		if r.BrokerRefused != nil {
			b.opts.Events.Report(event.New(in.Now, event.LevelWarning, r.ID, b.topics.Device(r.ID, topic.State),
				broker[r.ID], fmt.Errorf("retained state on the broker ignored: %w", r.BrokerRefused)))
		}
		if r.SceneRefused != nil && b.firstTime("scene refused", r.ID, r.SceneRefused.Error()) {
			log.Warn("restored scene cannot run; using the startup scene",
				logkey.StartupScene, d.Defaults.ActiveScene, logkey.Error, r.SceneRefused)
		}
		b.opts.Store.Put(r.ID, r.State)
	}
	if len(res.Kept) > 0 {
		b.opts.Store.Keep(res.Kept)
		if entries := strings.Join(sortedKeys(res.Kept), ", "); b.firstTime("kept", entries) {
			b.log.Warn("state file holds entries that no configured device claims; they are kept in the file",
				logkey.Entries, entries)
		}
	}
	return res
}

// firstTime reports whether the restore has not said this yet: without a
// broker at start-up it runs twice on the same file, and says each finding
// of the file once.
func (b *Bridge) firstTime(finding ...string) bool {
	key := strings.Join(finding, "\x00")
	if b.restoreSaid[key] {
		return false
	}
	if b.restoreSaid == nil {
		b.restoreSaid = make(map[string]bool)
	}
	b.restoreSaid[key] = true
	return true
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

// restoreFromBroker reads the broker's retained state once, at the first
// connection, and restores each device's newest state (file or broker).
//
// Each configured device's state topic is read by its exact topic, so the
// restore works on a broker that hands retained messages only to exact
// subscriptions. The wildcards add what exact topics cannot name: devices
// no longer configured and discovery configs of entities that are gone,
// both to be cleared. The read also checks the broker: bridge/state,
// published retained just before it, must come back through the wildcard
// <base>/+/state, or else on its exact topic (checkRetained).
//
// It waits until the broker has sent every retained message (a sync
// message published after subscribing comes back behind them) or
// RestoreWait passed.
func (b *Bridge) restoreFromBroker(ctx context.Context) {
	start := time.Now()
	deadline := start.Add(b.opts.RestoreWait)
	acked := b.publishProbe(ctx, deadline)
	filters := []string{b.topics.Base + "/+/" + topic.State, b.discoveryFilter()}
	for _, id := range b.ids {
		filters = append(filters, b.topics.Device(id, topic.State))
	}
	got, synced, err := b.readRetained(ctx, filters, deadline)
	if err != nil {
		b.log.Warn("cannot read the broker's retained state; going on with the file's", logkey.Error, err)
	}

	probeBack := false
	states := make(map[string][]byte)
	var configs, seen []string
	for _, t := range sortedKeys(got) {
		switch p := b.topics.Parse(t); {
		case t == b.topics.Bridge(topic.BridgeState):
			probeBack = true
		case p.Kind == topic.StateTopic:
			seen = append(seen, p.Device)
			if _, ok := b.devices[p.Device]; ok {
				states[p.Device] = got[t]
			}
		case strings.HasPrefix(t, b.opts.HomeAssistant.DiscoveryPrefix+"/"):
			configs = append(configs, t)
		}
	}
	res := b.restore(states)
	counts := make(map[state.Source]int)
	for _, r := range res.Devices {
		counts[r.Source]++
	}
	b.clearStale(configs, seen)
	check := b.checkRetained(ctx, acked, synced, probeBack)
	b.judge(check)
	if !check.wildcard {
		b.clearKeptDevices(sortedKeys(res.Kept), seen)
	}
	// Complete: every retained message came, from a broker that keeps them.
	complete := synced && (check.exact || !check.conclusive)
	b.log.Info("state restored (newest of file and broker wins)",
		logkey.FromFile, counts[state.FromFile], logkey.FromBroker, counts[state.FromBroker],
		logkey.FromDefaults, counts[state.FromDefaults], logkey.RetainedSeen, len(got),
		logkey.Complete, complete, logkey.Took, time.Since(start).Round(time.Millisecond))
}
