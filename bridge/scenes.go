package bridge

import (
	"fmt"
	"time"

	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// Restored is closed once the devices' state has been restored at
// start-up (file and broker, newest wins) and commands are taken: from
// then on the store holds the restored state (schedules compare their
// last run with it).
func (b *Bridge) Restored() <-chan struct{} { return b.restored }

// scenesChanged follows a change of the scene list (a scene file added,
// edited or removed): displays showing a scene file look it up again, a
// display whose scene is gone shows black and is reported once, and
// bridge/info and the discovery configs (the scene select's options) are
// published again.
func (b *Bridge) scenesChanged(restored bool) {
	b.log.Info("scenes changed")
	for _, id := range b.ids {
		st, ok := b.opts.Store.Get(id)
		if !ok {
			continue
		}
		d := b.devices[id]
		sc, found := d.Controller.Scene(st.ActiveScene)
		if found && sc.Source == "" {
			continue // a built-in scene: no file can change it
		}
		d.Controller.Reload()
		switch {
		case !found && !b.missing[id]:
			b.missing[id] = true
			err := fmt.Errorf("scene %q no longer exists (its file was removed or renamed); the display shows black until it is back", st.ActiveScene)
			d.Controller.Logger().Warn("active scene is gone; showing black", logkey.Scene, st.ActiveScene)
			b.opts.Events.Report(event.New(time.Now(), event.LevelWarning, id, b.topics.Device(id, state.FieldActiveScene), []byte(st.ActiveScene), err))
		case found && b.missing[id]:
			delete(b.missing, id)
			d.Controller.Logger().Info("active scene is back", logkey.Scene, st.ActiveScene)
		}
	}
	if restored {
		b.publishDiscovery()
		b.retain(b.topics.Bridge(topic.BridgeInfo), b.info())
		b.updateInputs()
	}
}
