package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/logkey"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/broker"
	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/userscene"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/atomicfile"
	"github.com/pidicon/pidicon-mqtt/schedule"
	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/topic"
	"github.com/pidicon/pidicon-mqtt/web"
)

// gcPercent is the daemon's garbage collection target unless GOGC is set.
const gcPercent = 50

// runDaemon runs the daemon until ctx is done (a signal).
func runDaemon(ctx context.Context, configPath string, logw io.Writer, getenv func(string) string) error {
	cfg, err := loadConfig(configPath, getenv)
	if err != nil {
		return err
	}
	sec, err := prepare(cfg, getenv) // validates, reads secrets and certificates
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		// Most of the daemon's heap is live state, a little per display;
		// Go's default lets the heap grow to twice that before it
		// collects. Half of it again keeps the memory of many displays
		// down at a small cost in collections (docs/PERFORMANCE.md);
		// GOGC in the environment decides otherwise.
		debug.SetGCPercent(gcPercent)
	}
	level, _ := parseLogLevel(cfg.Log.Level)
	handler := newLogHandler(logw, cfg.Log.Format)
	log := newLogger(handler, level)
	bridge.SetLibraryLogger(log.With(logkey.Component, "mqtt"))
	ver := buildVersion()
	log.Info("pidicon-mqtt starting", logkey.Version, ver, logkey.Config, displayPath(configPath))
	warnInsecure(cfg, log)

	// Every part reports into events from the moment it exists: nothing
	// reported before the bridge connects is lost for the log or the page.
	events := event.NewLog(recentEvents)
	store := state.NewStore()
	file := openStateFile(cfg.State, store, events, log)

	url, username, password := sec.mqttURL, sec.mqttUsername, sec.mqttPassword
	var embedded *broker.Broker
	if url == "" {
		embedded, err = startBroker(cfg, sec, handler, level, log, events)
		if err != nil {
			return err
		}
		defer embedded.Close()
		url = embedded.URL()
		username, password = embedded.DaemonLogin() // only the daemon knows it
	}

	images, closeImages, err := openImages(cfg, log)
	if err != nil {
		return err
	}
	defer closeImages()
	catalog, inputs, library := openScenes(cfg, events, log)
	devices, closeDevices, err := buildDevices(cfg, handler, ver, images, catalog, log)
	if err != nil {
		return err
	}
	defer closeDevices()

	persister := file.persister
	flush := func(context.Context) error { return nil }
	if persister != nil {
		flush = persister.Flush
	}
	b := bridge.New(bridge.Options{
		URL:             url,
		BaseTopic:       cfg.MQTT.BaseTopic,
		ClientID:        cfg.MQTT.ClientID,
		Username:        username,
		Password:        password,
		TLS:             sec.mqttTLS,
		RestoreWait:     cfg.State.RestoreWait,
		Version:         ver,
		Logger:          log,
		Store:           store,
		File:            file.doc,
		FileQuarantined: file.quarantined,
		Events:          events,
		Devices:         devices,
		Flush:           flush,
		HomeAssistant: bridge.HomeAssistant{
			Enabled:         cfg.HomeAssistant.Enabled,
			DiscoveryPrefix: cfg.HomeAssistant.DiscoveryPrefix,
			StatusTopic:     cfg.HomeAssistant.StatusTopic,
		},
		Images:  images,
		Compat:  bridge.Compat{Pidicon: cfg.Compat.Pidicon.Enabled, Prefix: cfg.Compat.Pidicon.Prefix},
		Catalog: catalog,
		Inputs:  inputs,

		// The embedded broker refuses retained commands itself.
		RetainedCommandsRefused: embedded != nil,
	})
	page := web.New(web.Options{Bridge: b, Events: events, BaseTopic: cfg.MQTT.BaseTopic, Logger: log.With(logkey.Component, "web")})
	stopHTTP, err := serveHTTP(cfg.HTTP, sec.httpUsers, &observed{bridge: b, broker: embedded, persister: persister, version: ver}, page, log)
	if err != nil {
		return err
	}
	defer stopHTTP()

	var wg sync.WaitGroup
	var persistErr error
	pctx, stopPersister := context.WithCancel(context.WithoutCancel(ctx))
	if persister != nil {
		wg.Go(func() { persistErr = persister.Run(pctx) })
	}
	wg.Go(func() { library.Run(pctx) })
	var entries []schedule.Entry
	for _, dc := range cfg.Devices {
		e, _ := dc.scheduleEntries() // checked by Validate
		entries = append(entries, e...)
	}
	wg.Go(func() {
		schedule.Run(pctx, schedule.Options{
			Entries: entries,
			Submit: func(ctx context.Context, id string, set []byte) error {
				return b.Submit(ctx, topic.Layout{Base: cfg.MQTT.BaseTopic}.Device(id, topic.Set), set)
			},
			Restored: b.Restored(),
			Changed: func(id string) time.Time {
				st, _ := store.Get(id)
				return st.Timestamp
			},
			Logger: log.With(logkey.Component, "schedule"),
		})
	})
	runErr := b.Run(ctx)
	stopPersister()
	wg.Wait()
	if err := errors.Join(runErr, persistErr); err != nil {
		log.Error("pidicon-mqtt stopped with errors", logkey.Error, err)
		return err
	}
	log.Info("pidicon-mqtt stopped")
	return nil
}

// recentEvents is how many events the daemon keeps for the web page.
const recentEvents = 50

// stateFile is the state file as the daemon found it at start-up.
type stateFile struct {
	// doc is the file's content; nil when there is none or it is unusable.
	doc *state.Document
	// quarantined is true when the file could not be used: the daemon
	// starts from the broker's retained state.
	quarantined bool
	// persister writes the store to the file; nil with state.persist false.
	persister *state.Persister
}

// openStateFile reads the state file at start-up and makes the Persister
// that writes it. A missing file is a first start; one that cannot be used
// is moved aside, never written over: while it cannot be moved (a
// read-only folder), nothing is written and the move is tried again before
// each write. A file that cannot be written is logged at once with how to
// fix it, reported, and kept in the Persister's Stats (/healthz, /metrics).
func openStateFile(cfg StateConfig, store *state.Store, events *event.Log, log *slog.Logger) stateFile {
	if !cfg.Persist {
		log.Warn("state persistence is off (state.persist: false): nothing is read or written")
		return stateFile{}
	}
	log.Info("state file", logkey.Path, cfg.Path)
	mkdirErr := os.MkdirAll(filepath.Dir(cfg.Path), 0o755)
	if removed, err := atomicfile.RemoveTemps(cfg.Path); err != nil {
		log.Warn("cannot remove temporary files of an interrupted write", logkey.Error, err)
	} else if len(removed) > 0 {
		log.Info("removed temporary files of an interrupted write", logkey.Files, removed)
	}
	report := func(err error) {
		events.Report(event.AboutFile(time.Now(), event.LevelError, cfg.Path, 0,
			fmt.Errorf("state file not written (state is kept in memory and retried): %w", err)))
	}
	opts := state.PersisterOptions{
		Path:     cfg.Path,
		Debounce: cfg.Debounce,
		MaxDelay: cfg.MaxDelay,
		Logger:   log,
		OnError:  report,
	}
	var f stateFile
	doc, err := state.ReadFile(cfg.Path)
	switch {
	case err == nil:
		log.Info("state file read", logkey.Path, cfg.Path, logkey.Entries, len(doc.Devices), logkey.Written, state.FormatTime(doc.Timestamp))
		f.doc = doc
	case errors.Is(err, fs.ErrNotExist):
		log.Info("no state file yet: first start", logkey.Path, cfg.Path)
	default:
		log.Error("state file cannot be used; starting from the broker's retained state", logkey.Path, cfg.Path, logkey.Error, err)
		f.quarantined = true
		aside := &unusableFile{path: cfg.Path, found: time.Now(), log: log}
		opts.BeforeWrite = aside.moveAside
	}
	f.persister = state.NewPersister(store, opts)
	// Probe moves an unusable file aside (BeforeWrite) and checks that the
	// folder takes a new file.
	if err := f.persister.Probe(); err != nil {
		if mkdirErr != nil {
			err = mkdirErr
		}
		uid, gid := os.Getuid(), os.Getgid()
		log.Error("the state file cannot be written: changes will not survive a restart until this is fixed; /healthz answers 503 meanwhile",
			logkey.Path, cfg.Path, logkey.Error, err,
			logkey.Hint, fmt.Sprintf("make %s writable by the daemon's user (uid %d): chown -R %d:%d %s (in Docker, on the host folder mounted there)",
				filepath.Dir(cfg.Path), uid, uid, gid, filepath.Dir(cfg.Path)))
		report(err)
	}
	return f
}

// unusableFile is a state file that could not be read: it must be moved
// aside before anything is written to its path (CONTRACT §4: never
// overwritten in place). moveAside is the Persister's BeforeWrite.
type unusableFile struct {
	path  string
	found time.Time // when it was found unusable: every attempt uses this name
	log   *slog.Logger

	mu    sync.Mutex
	moved bool
}

// moveAside moves the file aside once; until that succeeds it fails, and
// nothing is written.
func (u *unusableFile) moveAside() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.moved {
		return nil
	}
	aside, err := state.Quarantine(u.path, u.found)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		u.log.Info("the unusable state file is gone; a new one will be written", logkey.Path, u.path)
	case err != nil:
		return fmt.Errorf("the unusable state file is kept as it is, not written over, until it can be moved aside: %w", err)
	default:
		u.log.Warn("unusable state file moved aside", logkey.Path, u.path, logkey.MovedTo, aside)
	}
	u.moved = true
	return nil
}

// openImages opens the image store: images/ beside the state file, and
// the user's images.dir. Without persistence, or when that folder cannot
// be used, the images go to a temporary folder (and do not survive a
// restart: logged), which the returned func removes.
func openImages(cfg Config, log *slog.Logger) (*picture.Store, func(), error) {
	dir := filepath.Join(filepath.Dir(cfg.State.Path), "images")
	var store *picture.Store
	var err error
	if cfg.State.Persist {
		if store, err = picture.OpenStore(dir, cfg.Images.Dir); err != nil {
			log.Error("cannot keep images beside the state file; uploaded images will not survive a restart",
				logkey.Path, dir, logkey.Error, err)
		}
	}
	done := func() {}
	if store == nil {
		tmp, err := os.MkdirTemp("", "pidicon-images-")
		if err != nil {
			return nil, nil, fmt.Errorf("images: %w", err)
		}
		dir, done = tmp, func() { os.RemoveAll(tmp) }
		if store, err = picture.OpenStore(dir, cfg.Images.Dir); err != nil {
			done()
			return nil, nil, fmt.Errorf("images: %w", err)
		}
	}
	for _, p := range store.Problems() {
		log.Warn("image skipped", logkey.Error, p)
	}
	log.Info("images", logkey.Path, dir, logkey.Count, len(store.List()), logkey.UserDir, cfg.Images.Dir)
	return store, done, nil
}

// openScenes reads the scene files into a catalog with the built-in
// scenes; the library keeps it up to date once it runs. Problems with a
// file are events about it.
func openScenes(cfg Config, events *event.Log, log *slog.Logger) (*scene.Catalog, *userscene.Inputs, *userscene.Library) {
	builtin := scene.Builtin()
	catalog := scene.NewCatalog(builtin)
	inputs := userscene.NewInputs()
	if cfg.State.Persist {
		// Where users look for it; without persistence (tests) nothing is
		// created, and a folder that is there is still read.
		if err := os.MkdirAll(cfg.Scenes.Dir, 0o755); err != nil {
			log.Warn("cannot create the scenes folder", logkey.Path, cfg.Scenes.Dir, logkey.Error, err)
		}
	}
	library := userscene.New(userscene.Options{
		Dir:     cfg.Scenes.Dir,
		Builtin: builtin,
		Catalog: catalog,
		Inputs:  inputs,
		Report: func(p userscene.Problem) {
			events.Report(event.AboutFile(time.Now(), p.Level, p.File, p.Line, p.Err))
		},
		Logger: log.With(logkey.Component, "scenes"),
	})
	library.Scan()
	return catalog, inputs, library
}

// buildDevices creates each configured device's driver and controller. The
// returned func closes what they hold (simulators).
func buildDevices(cfg Config, handler slog.Handler, ver string, images *picture.Store, scenes *scene.Catalog, log *slog.Logger) ([]bridge.Device, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	known := kinds()
	previews, buffers := device.NewPreviews(), device.NewBuffers()
	var out []bridge.Device
	for _, dc := range cfg.Devices {
		kind, ok := known.Lookup(dc.Type)
		if !ok {
			closeAll()
			return nil, nil, fmt.Errorf("device %s: %w %q", dc.ID, device.ErrUnknownKind, dc.Type)
		}
		drv, closeDrv, err := kind.Open(device.OpenOptions{Host: dc.Host, API: dc.API, Logger: log.With(logkey.Device, dc.ID), Buffers: buffers})
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("device %s: %w", dc.ID, err)
		}
		closers = append(closers, closeDrv)
		fill, _ := parseColor(dc.FillColor)
		ctrl := device.NewController(device.Options{
			ID:            dc.ID,
			Name:          dc.Name,
			Version:       ver,
			SceneDefaults: map[string]scene.Values{scene.Fill: {"color": fill}},
			Driver:        drv,
			Scenes:        scenes,
			Images:        images,
			MaxFPS:        dc.MaxFPS,
			LogHandler:    handler,
			ProbeEvery:    dc.ProbeInterval,
			Previews:      previews,
			Buffers:       buffers,
		})
		out = append(out, bridge.Device{
			ID:         dc.ID,
			Name:       dc.Name,
			Kind:       kind,
			Host:       dc.Host,
			Defaults:   dc.defaults(),
			Controller: ctrl,
			Watchdog:   dc.watchdog(),
		})
		log.Info("device", logkey.ID, dc.ID, logkey.Type, dc.Type, logkey.Host, dc.Host, logkey.API, dc.API)
	}
	return out, closeAll, nil
}
