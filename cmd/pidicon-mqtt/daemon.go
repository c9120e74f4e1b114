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
	"sync/atomic"
	"time"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/awtrix"
	"github.com/pidicon/pidicon-mqtt/device/mock"
	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/internal/atomicfile"
	"github.com/pidicon/pidicon-mqtt/state"
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
	bridge.SetLibraryLogger(log.With("component", "mqtt"))
	ver := buildVersion()
	log.Info("pidicon-mqtt starting", "version", ver, "config", displayPath(configPath))
	warnInsecure(cfg, log)

	store := state.NewStore()
	doc := openStateFile(cfg.State, log)

	var br atomic.Pointer[bridge.Bridge]
	url, username, password := sec.mqttURL, sec.mqttUsername, sec.mqttPassword
	var broker *bridge.Broker
	if url == "" {
		broker, err = startBroker(cfg, sec, handler, level, log, &br)
		if err != nil {
			return err
		}
		defer broker.Close()
		url = broker.URL()
		username, password = broker.DaemonLogin() // only the daemon knows it
	}

	devices, closeDevices, err := buildDevices(cfg, handler, ver, log)
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
				if b := br.Load(); b != nil {
					b.ReportPersistFailure(err)
				}
			},
		})
		flush = persister.Flush
	}
	b := bridge.New(bridge.Options{
		URL:         url,
		BaseTopic:   cfg.MQTT.BaseTopic,
		ClientID:    cfg.MQTT.ClientID,
		Username:    username,
		Password:    password,
		TLS:         sec.mqttTLS,
		RestoreWait: cfg.State.RestoreWait,
		Version:     ver,
		Logger:      log,
		Store:       store,
		File:        doc,
		Devices:     devices,
		Flush:       flush,
		HomeAssistant: bridge.HomeAssistant{
			Enabled:         cfg.HomeAssistant.Enabled,
			DiscoveryPrefix: cfg.HomeAssistant.DiscoveryPrefix,
			StatusTopic:     cfg.HomeAssistant.StatusTopic,
		},
	})
	br.Store(b)
	stopHTTP, err := serveHTTP(cfg.HTTP.Listen, &observed{bridge: b, broker: broker, persister: persister, version: ver}, log)
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
		log.Error("pidicon-mqtt stopped with errors", "error", err)
		return err
	}
	log.Info("pidicon-mqtt stopped")
	return nil
}

// openStateFile reads the state file at start-up. A missing file is a
// first start; one that cannot be used is moved aside, never overwritten,
// and the daemon starts from the broker's retained state.
func openStateFile(cfg StateConfig, log *slog.Logger) *state.Document {
	if !cfg.Persist {
		log.Warn("state persistence is off (state.persist: false): nothing is read or written")
		return nil
	}
	log.Info("state file", "path", cfg.Path)
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		log.Error("cannot create the state file's folder", "path", cfg.Path, "error", err)
	}
	if removed, err := atomicfile.RemoveTemps(cfg.Path); err != nil {
		log.Warn("cannot remove temporary files of an interrupted write", "error", err)
	} else if len(removed) > 0 {
		log.Info("removed temporary files of an interrupted write", "files", removed)
	}
	doc, err := state.ReadFile(cfg.Path)
	switch {
	case err == nil:
		log.Info("state file read", "path", cfg.Path, "entries", len(doc.Devices), "written", state.FormatTime(doc.Timestamp))
		return doc
	case errors.Is(err, fs.ErrNotExist):
		log.Info("no state file yet: first start", "path", cfg.Path)
		return nil
	}
	log.Error("state file cannot be used; starting from the broker's retained state", "path", cfg.Path, "error", err)
	aside, qerr := state.Quarantine(cfg.Path, time.Now())
	if qerr != nil {
		log.Error("cannot move the unusable state file aside; it is left in place and will be replaced at the next write",
			"path", cfg.Path, "error", qerr)
		return nil
	}
	log.Warn("unusable state file moved aside", "path", cfg.Path, "moved_to", aside)
	return nil
}

// buildDevices creates each configured device's driver and controller. The
// returned func closes what they hold (simulators).
func buildDevices(cfg Config, handler slog.Handler, ver string, log *slog.Logger) ([]bridge.Device, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	scenes := scene.Builtin()
	previews := device.NewPreviews()
	var out []bridge.Device
	for _, dc := range cfg.Devices {
		drv, closeDrv, err := newDriver(dc)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("device %s: %w", dc.ID, err)
		}
		closers = append(closers, closeDrv)
		fill, _ := parseColor(dc.FillColor)
		ctrl := device.NewController(device.Options{
			ID:         dc.ID,
			Name:       dc.Name,
			Version:    ver,
			Fill:       fill,
			Driver:     drv,
			Scenes:     scenes,
			LogHandler: handler,
			ProbeEvery: dc.ProbeInterval,
			Previews:   previews,
		})
		out = append(out, bridge.Device{
			ID:         dc.ID,
			Name:       dc.Name,
			Type:       dc.Type,
			Host:       dc.Host,
			Defaults:   dc.defaults(),
			Controller: ctrl,
		})
		log.Info("device", "id", dc.ID, "type", dc.Type, "host", dc.Host)
	}
	return out, closeAll, nil
}

// newDriver makes the driver of one device, and a func that releases it.
func newDriver(dc DeviceConfig) (device.Driver, func(), error) {
	switch dc.Type {
	case typePixoo64:
		c, err := pixoo64.New(dc.Host, pixoo64.Options{})
		if err != nil {
			return nil, nil, err
		}
		return c, c.Close, nil
	case typeAwtrix:
		c, err := awtrix.New(dc.Host, awtrix.Options{})
		if err != nil {
			return nil, nil, err
		}
		return c, c.Close, nil
	case typeSim, typeSimAwtrix:
		srv, closeSim, err := startSimulator(dc.Type, "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		drv, closeDrv, err := newDriver(DeviceConfig{Type: simulated(dc.Type), Host: srv.Addr()})
		if err != nil {
			closeSim()
			return nil, nil, err
		}
		return drv, func() { closeDrv(); closeSim() }, nil
	case typeMock:
		size, _ := deviceSize(typeMock)
		return mock.New(size), func() {}, nil
	}
	return nil, nil, fmt.Errorf("unknown device type %q", dc.Type)
}

// simulated is the hardware type a simulator type imitates.
func simulated(typ string) string {
	if typ == typeSimAwtrix {
		return typeAwtrix
	}
	return typePixoo64
}
