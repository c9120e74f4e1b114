package bridge

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// Compat takes the original pidicon daemon's commands (CONTRACT §10).
type Compat struct {
	// Pidicon enables <Prefix>/<ip>/state/upd.
	Pidicon bool
	// Prefix is the original daemon's topic prefix (default "pixoo").
	Prefix string
}

// compatFilter is the original daemon's command topic, for every address.
func (b *Bridge) compatFilter() string { return b.opts.Compat.Prefix + "/+/state/upd" }

// compatDevice returns the address of an original daemon's command topic
// <prefix>/<ip>/state/upd, if t is one.
func (b *Bridge) compatAddress(t string) (string, bool) {
	if !b.opts.Compat.Pidicon {
		return "", false
	}
	rest, ok := strings.CutPrefix(t, b.opts.Compat.Prefix+"/")
	if !ok {
		return "", false
	}
	ip, ok := strings.CutSuffix(rest, "/state/upd")
	return ip, ok && ip != "" && !strings.Contains(ip, "/")
}

// checkCompat turns {"scene":"fill","color":[255,0,0,255],...} on
// <prefix>/<ip>/state/upd into a set of the device whose host is ip: the
// scene, and the payload's keys that are parameters of the scene; the
// other keys are ignored and listed in an info event.
func (b *Bridge) checkCompat(ip, t string, payload []byte) (command, error) {
	c := command{kind: topic.JSONSet, topic: t, payload: payload}
	for _, id := range b.ids {
		if h := b.devices[id].Host; h != "" && state.HostAddress(h) == ip {
			c.device = id
			break
		}
	}
	if c.device == "" {
		return c, fmt.Errorf("no configured device has the host %q", ip)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil || m == nil {
		return c, fmt.Errorf(`want a JSON object such as {"scene":"fill","color":[255,0,0,255]}`)
	}
	var name string
	if json.Unmarshal(m["scene"], &name) != nil || name == "" {
		return c, fmt.Errorf(`the object needs "scene", a scene name`)
	}
	name, err := state.ParseSceneName(name)
	if err != nil {
		return c, err
	}
	ctrl := b.devices[c.device].Controller
	if err := ctrl.CheckScene(name); err != nil {
		return c, err
	}
	sc, _ := ctrl.Scene(name)
	params := make(map[string]json.RawMessage)
	var ignored []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch {
		case k == "scene":
		case slices.ContainsFunc(sc.Params, func(p scene.Param) bool { return p.Name == k }):
			params[k] = m[k]
		default:
			ignored = append(ignored, k)
		}
	}
	if len(ignored) > 0 {
		b.opts.Events.Report(event.New(time.Now(), event.LevelInfo, c.device, t, payload,
			fmt.Errorf("keys that are no parameters of scene %q were ignored: %s", name, strings.Join(ignored, ", "))))
	}
	p := state.ParamsOf(params)
	c.patch = state.Patch{ActiveScene: &name, SceneParams: &p}
	return c, nil
}
