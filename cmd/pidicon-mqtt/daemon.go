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
	"sync"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/logkey"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/broker"
	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/atomicfile"
	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/web"
)

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
	doc, quarantined := openStateFile(cfg.State, log)

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
	devices, closeDevices, err := buildDevices(cfg, handler, ver, images, log)
	if err != nil {
		return err
	}
	defer closeDevices()

	var persister *state.Persister
	flush := func(context.Context) error { return nil }
	if cfg.State.Persist {
		persister = state.NewPersister(store, state.PersisterOptions{
			Path:     cfg.State.Path,
			Debounce: cfg.State.Debounce,
			MaxDelay: cfg.State.MaxDelay,
			Logger:   log,
			OnError: func(err error) {
				events.Report(event.AboutFile(time.Now(), event.LevelError, cfg.State.Path, 0,
					fmt.Errorf("state file not written (state is kept in memory and retried): %w", err)))
			},
		})
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
		File:            doc,
		FileQuarantined: quarantined,
		Events:          events,
		Devices:         devices,
		Flush:           flush,
		HomeAssistant: bridge.HomeAssistant{
			Enabled:         cfg.HomeAssistant.Enabled,
			DiscoveryPrefix: cfg.HomeAssistant.DiscoveryPrefix,
			StatusTopic:     cfg.HomeAssistant.StatusTopic,
		},
		Images: images,
		Compat: bridge.Compat{Pidicon: cfg.Compat.Pidicon.Enabled, Prefix: cfg.Compat.Pidicon.Prefix},
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

// openStateFile reads the state file at start-up. A missing file is a
// first start; one that cannot be used is moved aside, never overwritten,
// and the daemon starts from the broker's retained state (quarantined is
// then true).
func openStateFile(cfg StateConfig, log *slog.Logger) (doc *state.Document, quarantined bool) {
	if !cfg.Persist {
		log.Warn("state persistence is off (state.persist: false): nothing is read or written")
		return nil, false
	}
	log.Info("state file", logkey.Path, cfg.Path)
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		log.Error("cannot create the state file's folder", logkey.Path, cfg.Path, logkey.Error, err)
	}
	if removed, err := atomicfile.RemoveTemps(cfg.Path); err != nil {
		log.Warn("cannot remove temporary files of an interrupted write", logkey.Error, err)
	} else if len(removed) > 0 {
		log.Info("removed temporary files of an interrupted write", logkey.Files, removed)
	}
	doc, err := state.ReadFile(cfg.Path)
	switch {
	case err == nil:
		log.Info("state file read", logkey.Path, cfg.Path, logkey.Entries, len(doc.Devices), logkey.Written, state.FormatTime(doc.Timestamp))
		return doc, false
	case errors.Is(err, fs.ErrNotExist):
		log.Info("no state file yet: first start", logkey.Path, cfg.Path)
		return nil, false
	}
	log.Error("state file cannot be used; starting from the broker's retained state", logkey.Path, cfg.Path, logkey.Error, err)
	aside, qerr := state.Quarantine(cfg.Path, time.Now())
	if qerr != nil {
		log.Error("cannot move the unusable state file aside; it is left in place and will be replaced at the next write",
			logkey.Path, cfg.Path, logkey.Error, qerr)
		return nil, true
	}
	log.Warn("unusable state file moved aside", logkey.Path, cfg.Path, logkey.MovedTo, aside)
	return nil, true
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

// buildDevices creates each configured device's driver and controller. The
// returned func closes what they hold (simulators).
func buildDevices(cfg Config, handler slog.Handler, ver string, images *picture.Store, log *slog.Logger) ([]bridge.Device, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	known := kinds()
	scenes := scene.Builtin()
	previews := device.NewPreviews()
	var out []bridge.Device
	for _, dc := range cfg.Devices {
		kind, ok := known.Lookup(dc.Type)
		if !ok {
			closeAll()
			return nil, nil, fmt.Errorf("device %s: %w %q", dc.ID, device.ErrUnknownKind, dc.Type)
		}
		drv, closeDrv, err := kind.Open(dc.Host)
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
		})
		out = append(out, bridge.Device{
			ID:         dc.ID,
			Name:       dc.Name,
			Kind:       kind,
			Host:       dc.Host,
			Defaults:   dc.defaults(),
			Controller: ctrl,
		})
		log.Info("device", logkey.ID, dc.ID, logkey.Type, dc.Type, logkey.Host, dc.Host)
	}
	return out, closeAll, nil
}
