package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/userscene"
	"github.com/pidicon/pidicon-mqtt/schedule"
	"github.com/pidicon/pidicon-mqtt/state"
)

// sceneRegistry is the built-in scenes and those of the scene files that
// can be used now, for checking the configuration's scene names.
func (c Config) sceneRegistry() *scene.Registry {
	builtin := scene.Builtin()
	lib := userscene.New(userscene.Options{Dir: c.Scenes.Dir, Builtin: builtin})
	lib.Scan()
	all := make([]scene.Scene, 0)
	for _, name := range builtin.Names() {
		sc, _ := builtin.Lookup(name)
		all = append(all, sc)
	}
	return scene.NewRegistry(append(all, lib.Scenes()...)...)
}

// scheduleEntries checks the device's schedule and returns its entries.
func (d DeviceConfig) scheduleEntries() ([]schedule.Entry, error) {
	var out []schedule.Entry
	var errs []error
	for i, s := range d.Schedule {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("schedule[%d]: %s", i, fmt.Sprintf(format, args...)))
		}
		at, err := schedule.ParseClock(s.At)
		if err != nil {
			bad("%v", err)
		}
		days, err := schedule.ParseDays(s.Days)
		if err != nil {
			bad("%v", err)
		}
		if len(s.Set) == 0 {
			bad("set: want the fields to set, as on %s/set (e.g. {displayOn: false})", d.ID)
			continue
		}
		set, err := json.Marshal(canonicalSet(s.Set))
		if err != nil {
			bad("set: %v", err)
			continue
		}
		if _, err := state.ParsePatch(set); err != nil {
			bad("set: %v", err)
			continue
		}
		out = append(out, schedule.Entry{Device: d.ID, Index: i, At: at, Days: days, Set: set})
	}
	return out, errors.Join(errs...)
}

// canonicalSet gives the keys of a set object the case of the state's
// fields: the environment and some config formats lose it.
func canonicalSet(set map[string]any) map[string]any {
	out := make(map[string]any, len(set))
	for k, v := range set {
		for _, f := range state.Fields() {
			if strings.EqualFold(k, f) {
				k = f
			}
		}
		out[k] = v
	}
	return out
}

// restoreScheduleCase reads the schedules' set objects from the config
// file again, keeping the case of their keys (sceneParams, parameter
// names): viper makes every key lower case. A file it cannot read as
// YAML (or JSON) keeps what viper read.
func restoreScheduleCase(path string, cfg *Config) {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".yaml" && ext != ".yml" && ext != ".json" {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var raw struct {
		Devices []struct {
			Schedule []struct {
				Set map[string]any `yaml:"set"`
			} `yaml:"schedule"`
		} `yaml:"devices"`
	}
	if yaml.Unmarshal(data, &raw) != nil {
		return
	}
	for i := range min(len(raw.Devices), len(cfg.Devices)) {
		for j := range min(len(raw.Devices[i].Schedule), len(cfg.Devices[i].Schedule)) {
			if set := raw.Devices[i].Schedule[j].Set; set != nil {
				cfg.Devices[i].Schedule[j].Set = set
			}
		}
	}
}

// checkScene checks one scene file as the daemon does (the same
// messages), prints what it found and fails on a problem. It also draws
// the scene once without input values at each size it declares (64x64
// and 32x8 if any) and prints problems of drawing as warnings.
func checkScene(path string, stdout io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	builtin := scene.Builtin()
	f, err := userscene.Parse(path, data, builtin)
	if err != nil {
		return err
	}
	var warnings []string
	sc := f.Scene(userscene.NewInputs(), func(p userscene.Problem) {
		warnings = append(warnings, (&userscene.Error{Path: p.File, Line: p.Line, Err: p.Err}).Error())
	})
	sizes := sc.Sizes
	if len(sizes) == 0 {
		sizes = []scene.Size{{W: 64, H: 64}, {W: 32, H: 8}}
	}
	for _, size := range sizes {
		drawOnce(sc, size)
	}
	sizeText := "any size"
	if len(sc.Sizes) > 0 {
		var s []string
		for _, sz := range sc.Sizes {
			s = append(s, sz.String())
		}
		sizeText = strings.Join(s, ", ")
	}
	var inputs []string
	for _, in := range sc.Inputs {
		inputs = append(inputs, in.Name)
	}
	fmt.Fprintf(stdout, "%s: scene %q is valid: %s, %v fps, %d parameters, inputs: %s\n",
		path, sc.Name, sizeText, sc.FPS, len(sc.Params), orNone(inputs))
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// drawOnce draws a frame of sc at size, with its default parameters.
func drawOnce(sc scene.Scene, size scene.Size) {
	frame := image.NewRGBA(image.Rect(0, 0, size.W, size.H))
	sc.Render(frame, scene.Frame{DeviceName: "check", Version: buildVersion(), Now: time.Now(), Params: sc.WithDefaults(nil)})
}
