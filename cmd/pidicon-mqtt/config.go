package main

import (
	"errors"
	"fmt"
	"image/color"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/viper"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/awtrix"
	"github.com/pidicon/pidicon-mqtt/device/mock"
	"github.com/pidicon/pidicon-mqtt/device/pixoo64"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/sim"
	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// Config is the daemon's configuration: CONTRACT §5. It is filled by viper
// (file, then PIDICON_* environment) and checked by Validate; nothing else
// sees viper.
type Config struct {
	MQTT          MQTTConfig          `mapstructure:"mqtt"`
	Broker        BrokerConfig        `mapstructure:"broker"`
	HomeAssistant HomeAssistantConfig `mapstructure:"homeassistant"`
	State         StateConfig         `mapstructure:"state"`
	Log           LogConfig           `mapstructure:"log"`
	HTTP          HTTPConfig          `mapstructure:"http"`
	Images        ImagesConfig        `mapstructure:"images"`
	Scenes        ScenesConfig        `mapstructure:"scenes"`
	Compat        CompatConfig        `mapstructure:"compat"`
	Devices       []DeviceConfig      `mapstructure:"devices"`
}

// ImagesConfig is where images come from besides uploads.
type ImagesConfig struct {
	// Dir is a folder of the user's own images, listed read-only; empty:
	// none.
	Dir string `mapstructure:"dir"`
}

// ScenesConfig is where the user's scene files are (CONTRACT §8).
type ScenesConfig struct {
	// Dir is the folder of scene files (*.yaml); default scenes/ beside
	// the state file.
	Dir string `mapstructure:"dir"`
}

// CompatConfig takes the commands of the original pidicon daemon.
type CompatConfig struct {
	Pidicon PidiconCompatConfig `mapstructure:"pidicon"`
}

// PidiconCompatConfig is compat.pidicon (CONTRACT §10).
type PidiconCompatConfig struct {
	Enabled bool   `mapstructure:"enabled"`
	Prefix  string `mapstructure:"prefix"`
}

// MQTTConfig is the daemon's MQTT connection.
type MQTTConfig struct {
	URL       string `mapstructure:"url"`
	BaseTopic string `mapstructure:"base_topic"`
	ClientID  string `mapstructure:"client_id"`
	Username  string `mapstructure:"username"`
	Password  string `mapstructure:"password"`
	// PasswordFile holds the password instead (a Docker secret).
	PasswordFile string          `mapstructure:"password_file"`
	TLS          TLSClientConfig `mapstructure:"tls"`
}

// BrokerConfig is the embedded broker, used when mqtt.url is empty.
type BrokerConfig struct {
	Listen         string `mapstructure:"listen"`
	AllowAnonymous bool   `mapstructure:"allow_anonymous"`
	// Users may log in; without users, only a loopback broker.listen is
	// allowed (unless AllowAnonymous).
	Users     []BrokerUser   `mapstructure:"users"`
	TLS       ListenerConfig `mapstructure:"tls"`
	WebSocket ListenerConfig `mapstructure:"websocket"`
}

// HomeAssistantConfig is MQTT discovery for Home Assistant.
type HomeAssistantConfig struct {
	Enabled         bool   `mapstructure:"enabled"`
	DiscoveryPrefix string `mapstructure:"discovery_prefix"`
	// StatusTopic is Home Assistant's birth topic (default
	// <discovery_prefix>/status).
	StatusTopic string `mapstructure:"status_topic"`
}

// StateConfig is the state file.
type StateConfig struct {
	Path        string        `mapstructure:"path"`
	Debounce    time.Duration `mapstructure:"debounce"`
	MaxDelay    time.Duration `mapstructure:"max_delay"`
	RestoreWait time.Duration `mapstructure:"restore_wait"`
	Persist     bool          `mapstructure:"persist"`
}

// LogConfig is the daemon's own logging.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// DeviceConfig is one display and the state it starts with when nothing is
// restored.
type DeviceConfig struct {
	ID           string `mapstructure:"id"`
	Name         string `mapstructure:"name"`
	Type         string `mapstructure:"type"`
	Host         string `mapstructure:"host"`
	StartupScene string `mapstructure:"startup_scene"`
	PlayState    string `mapstructure:"play_state"`
	Brightness   *int   `mapstructure:"brightness"`
	DisplayOn    *bool  `mapstructure:"display_on"`
	LoggingLevel string `mapstructure:"logging_level"`
	// FillColor is the fill scene's colour, "#rrggbb".
	FillColor string `mapstructure:"fill_color"`
	// ProbeInterval is the health check period while the device answers.
	ProbeInterval time.Duration `mapstructure:"probe_interval"`
	// MaxFPS caps the frames a second sent to the display (default and at
	// most 5).
	MaxFPS float64 `mapstructure:"max_fps"`
	// API is how the display's firmware takes commands, for kinds that
	// have several (pixoo64: auto, post, divoom_api); empty: the kind's
	// default.
	API string `mapstructure:"api"`
	// Watchdog publishes messages when the display has not answered for a
	// while, such as switching its smart plug off and on.
	Watchdog WatchdogConfig `mapstructure:"watchdog"`
	// Schedule sets fields of the display at times of day (CONTRACT §8).
	Schedule []ScheduleEntry `mapstructure:"schedule"`
}

// ScheduleEntry is one entry of a display's schedule.
type ScheduleEntry struct {
	// At is the local time, "07:00" or "07:00:30".
	At string `mapstructure:"at"`
	// Days are lower-case three-letter day names; none: every day.
	Days []string `mapstructure:"days"`
	// Set is applied as on <base>/<id>/set.
	Set map[string]any `mapstructure:"set"`
}

// WatchdogConfig is devices[].watchdog: after the display has not answered
// for After, each of Actions is published, once per outage.
type WatchdogConfig struct {
	After   time.Duration    `mapstructure:"after"`
	Actions []WatchdogAction `mapstructure:"actions"`
}

// WatchdogAction is one MQTT message the watchdog publishes.
type WatchdogAction struct {
	Topic   string `mapstructure:"topic"`
	Payload string `mapstructure:"payload"`
	Retain  bool   `mapstructure:"retain"`
	// QoS is 0, 1 or 2; nil (not set) is 1.
	QoS *int `mapstructure:"qos"`
}

// Limits of watchdog settings.
const (
	// minWatchdogAfter is the shortest watchdog.after: a number without a
	// unit ("after: 300") reads as nanoseconds, which would fire at every
	// blip, and is refused with the hint to write a unit.
	minWatchdogAfter = time.Second
	// maxActionPayload caps a watchdog action's payload.
	maxActionPayload = 64 << 10
)

// kinds are the display kinds the daemon knows (devices[].type): the one
// list of them. A new kind of display is a driver package and a line here.
func kinds() device.Kinds {
	pixoo, clock := pixoo64.Kind(), awtrix.Kind()
	return device.Kinds{
		pixoo,                         // a Divoom Pixoo 64 on the network
		clock,                         // an AWTRIX 3 clock (Ulanzi TC001) on the network
		sim.Kind(pixoo, "sim"),        // a simulated Pixoo 64 inside the daemon
		sim.Kind(clock, "sim-awtrix"), // a simulated AWTRIX 3 inside the daemon
		mock.Kind(),                   // an in-memory display (load tests)
	}
}

// defaults are CONTRACT §5's defaults, as viper keys.
func setDefaults(v *viper.Viper) {
	v.SetDefault("mqtt.url", "")
	v.SetDefault("mqtt.base_topic", "pidicon")
	v.SetDefault("mqtt.client_id", "")
	v.SetDefault("mqtt.username", "")
	v.SetDefault("mqtt.password", "")
	v.SetDefault("broker.listen", "127.0.0.1:1883")
	v.SetDefault("broker.allow_anonymous", false)
	v.SetDefault("homeassistant.enabled", true)
	v.SetDefault("homeassistant.discovery_prefix", "homeassistant")
	v.SetDefault("homeassistant.status_topic", "")
	v.SetDefault("state.path", "")
	v.SetDefault("state.debounce", "10s")
	v.SetDefault("state.max_delay", "60s")
	v.SetDefault("state.restore_wait", "1s")
	v.SetDefault("state.persist", true)
	v.SetDefault("log.level", "info")
	v.SetDefault("log.format", "text")
	v.SetDefault("images.dir", "")
	v.SetDefault("scenes.dir", "")
	v.SetDefault("compat.pidicon.enabled", false)
	v.SetDefault("compat.pidicon.prefix", "pixoo")
	setSecurityDefaults(v)
}

// defaultDevices is the device list when the config has none: one
// simulated Pixoo 64.
func defaultDevices() []DeviceConfig {
	return []DeviceConfig{{ID: "demo", Name: "Demo", Type: "sim"}}
}

// loadConfig reads the config file (if any) and the environment.
func loadConfig(path string, getenv func(string) string) (Config, error) {
	v := viper.New()
	setDefaults(v)
	v.SetEnvPrefix("PIDICON")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if path != "" {
		v.SetConfigFile(path)
		// JSON and TOML files by their extension; any other file
		// (/etc/pidicon-mqtt/config, config.conf) is read as YAML. (viper
		// lists more extensions than it has decoders for.)
		format := "yaml"
		if ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), ".")); ext == "json" || ext == "toml" {
			format = ext
		}
		v.SetConfigType(format)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("read config %s: %w", path, err)
		}
	}
	var cfg Config
	decodeErr := v.UnmarshalExact(&cfg)
	// Viper reads the environment itself (os.LookupEnv, empty is unset).
	cfg.HTTP.listenIsDefault = !v.InConfig("http.listen") && os.Getenv("PIDICON_HTTP_LISTEN") == ""
	if len(cfg.Devices) == 0 && !v.IsSet("devices") {
		if slices.Contains(v.AllKeys(), "devices") {
			// "devices:" with nothing under it (every entry commented
			// out?): refused rather than read as the demo display, or as
			// no display, which would remove every display's entities.
			decodeErr = errors.Join(decodeErr, errors.New("devices: the key has no value: list the displays under it, "+
				"write \"devices: []\" for none, or remove the key for the simulated demo display"))
		} else {
			cfg.Devices = defaultDevices()
		}
	}
	if path != "" {
		restoreScheduleCase(path, &cfg)
	}
	cfg.fillDefaults(getenv)
	if decodeErr != nil {
		// cfg holds what could be read: check-config lists its other
		// problems too.
		return cfg, &decodeError{path: displayPath(path), err: decodeErr}
	}
	return cfg, nil
}

// decodeError is a config with unknown keys or values of the wrong type
// (a bad duration, a word for a number).
type decodeError struct {
	path string
	err  error
}

func (e *decodeError) Error() string { return fmt.Sprintf("config %s: %v", e.path, e.err) }
func (e *decodeError) Unwrap() error { return e.err }

func displayPath(path string) string {
	if path == "" {
		return "(defaults and environment)"
	}
	return path
}

// fillDefaults sets the values whose defaults depend on other values.
func (c *Config) fillDefaults(getenv func(string) string) {
	if c.MQTT.ClientID == "" {
		c.MQTT.ClientID = "pidicon-mqtt-" + c.MQTT.BaseTopic
	}
	if c.HomeAssistant.StatusTopic == "" {
		c.HomeAssistant.StatusTopic = c.HomeAssistant.DiscoveryPrefix + "/status"
	}
	if c.State.Path == "" {
		c.State.Path = defaultStatePath(getenv)
	}
	if c.Scenes.Dir == "" {
		c.Scenes.Dir = filepath.Join(filepath.Dir(c.State.Path), "scenes")
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Name == "" {
			d.Name = d.ID
		}
		if d.StartupScene == "" {
			d.StartupScene = scene.Startup
		}
		if d.PlayState == "" {
			d.PlayState = string(state.Playing)
		}
		if d.Brightness == nil {
			b := 75
			d.Brightness = &b
		}
		if d.DisplayOn == nil {
			on := true
			d.DisplayOn = &on
		}
		if d.LoggingLevel == "" {
			d.LoggingLevel = string(state.LevelWarning)
		}
		if d.FillColor == "" {
			d.FillColor = "#ff6000"
		}
		if d.ProbeInterval == 0 {
			d.ProbeInterval = 5 * time.Second
		}
		if d.MaxFPS == 0 {
			d.MaxFPS = device.MaxFPS
		}
		if k, ok := kinds().Lookup(d.Type); ok && d.API == "" && len(k.APIs) > 0 {
			d.API = k.APIs[0]
		}
		for j := range d.Watchdog.Actions {
			if a := &d.Watchdog.Actions[j]; a.QoS == nil {
				qos := 1
				a.QoS = &qos
			}
		}
	}
}

// stateFileName is the state file's name in its folder.
const stateFileName = "runtime-state.json"

// defaultStatePath is PIDICON_STATE_DIR's file, else /data's where /data is
// writable (the container volume), else the user's state directory.
func defaultStatePath(getenv func(string) string) string {
	if dir := getenv("PIDICON_STATE_DIR"); dir != "" {
		return filepath.Join(dir, stateFileName)
	}
	if writableDir("/data") {
		return filepath.Join("/data", stateFileName)
	}
	dir := getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return stateFileName
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "pidicon-mqtt", stateFileName)
}

func writableDir(dir string) bool {
	f, err := os.CreateTemp(dir, ".pidicon-write-test-*")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// discoveryNodeID is what Home Assistant accepts as the node id of a
// discovery topic.
var discoveryNodeID = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Validate checks the whole config and returns every problem it finds.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.MQTT.URL != "" {
		u, err := url.Parse(c.MQTT.URL)
		switch {
		case err != nil:
			bad("mqtt.url %q: %v", redactURL(c.MQTT.URL), errors.Unwrap(err))
		case !slices.Contains([]string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}, u.Scheme):
			bad("mqtt.url %q: scheme must be tcp://, ssl://, tls://, mqtts://, ws:// or wss://", u.Redacted())
		case u.Host == "":
			bad("mqtt.url %q: no host", u.Redacted())
		}
	}
	if b := c.MQTT.BaseTopic; b == "" || strings.ContainsAny(b, "+#") || strings.HasPrefix(b, "/") ||
		strings.HasSuffix(b, "/") || strings.HasPrefix(b, "$") {
		bad("mqtt.base_topic %q: must be a non-empty topic without +, #, a leading $ or surrounding /", b)
	} else if c.HomeAssistant.Enabled && !discoveryNodeID.MatchString(b) {
		// The base topic is the node id of our discovery topics, and Home
		// Assistant ignores discovery topics whose node id has other
		// characters: discovery would fail without a word.
		bad("mqtt.base_topic %q: with homeassistant.enabled it must be letters, digits, _ and - only (it is the node id of the discovery topics); or set homeassistant.enabled: false", b)
	}
	errs = append(errs, c.validateSecurity()...) // logins, TLS, listeners, http.listen
	if c.State.Debounce < 0 || c.State.MaxDelay <= 0 || c.State.RestoreWait < 0 {
		bad("state.debounce, state.max_delay and state.restore_wait must be positive durations")
	}
	if c.State.MaxDelay < c.State.Debounce {
		bad("state.max_delay (%s) must not be smaller than state.debounce (%s)", c.State.MaxDelay, c.State.Debounce)
	}
	if _, err := parseLogLevel(c.Log.Level); err != nil {
		bad("log.level: %v", err)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format %q: must be text or json", c.Log.Format)
	}
	if p := c.Compat.Pidicon; p.Enabled && (p.Prefix == "" || strings.ContainsAny(p.Prefix, "+#") ||
		strings.HasPrefix(p.Prefix, "/") || strings.HasSuffix(p.Prefix, "/") || p.Prefix == c.MQTT.BaseTopic) {
		bad("compat.pidicon.prefix %q: must be a topic without +, # or surrounding /, other than mqtt.base_topic", p.Prefix)
	}
	if c.Images.Dir != "" {
		if fi, err := os.Stat(c.Images.Dir); err != nil || !fi.IsDir() {
			bad("images.dir %q: not a folder", c.Images.Dir)
		}
	}
	if fi, err := os.Stat(c.Scenes.Dir); err == nil && !fi.IsDir() {
		bad("scenes.dir %q: not a folder", c.Scenes.Dir)
	}
	errs = append(errs, c.validateDevices()...)
	return errors.Join(errs...)
}

func (c Config) validateDevices() []error {
	var errs []error
	scenes := c.sceneRegistry()
	known := kinds()
	ids := make(map[string]int)
	hosts := make(map[string]int)
	for i, d := range c.Devices {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("devices[%d] (id %q): %s", i, d.ID, fmt.Sprintf(format, args...)))
		}
		if !topic.ValidID(d.ID) {
			bad("id %q is not valid: use 1 to 64 lower-case letters, digits, _ and -, starting with a letter or digit", d.ID)
		}
		if d.ID == topic.BridgeID {
			bad("id %q is reserved for the bridge's own topics", d.ID)
		}
		if j, dup := ids[d.ID]; dup {
			bad("id %q is also used by devices[%d]", d.ID, j)
		}
		ids[d.ID] = i
		kind, ok := known.Lookup(d.Type)
		if !ok {
			bad("type %q is not one of %s", d.Type, strings.Join(known.Types(), ", "))
		}
		switch {
		case ok && !kind.NeedsHost && d.Host != "":
			bad("a %s device runs inside the daemon and takes no host", d.Type)
		case kind.NeedsHost && d.Host == "":
			bad("type %s needs a host (ip or ip:port)", d.Type)
		}
		if d.Host != "" {
			if j, dup := hosts[d.Host]; dup {
				bad("host %q is also used by devices[%d]", d.Host, j)
			}
			hosts[d.Host] = i
		}
		if ok {
			if err := scenes.Check(d.StartupScene, kind.Size); err != nil {
				bad("startup_scene: %v", err)
			}
		}
		if _, err := state.ParsePlayState(d.PlayState); err != nil {
			bad("play_state: %v", err)
		}
		if _, err := state.ParseLogLevel(d.LoggingLevel); err != nil {
			bad("logging_level: %v", err)
		}
		if d.Brightness != nil && (*d.Brightness < 0 || *d.Brightness > 100) {
			bad("brightness %d: must be from 0 to 100", *d.Brightness)
		}
		if _, err := parseColor(d.FillColor); err != nil {
			bad("fill_color: %v", err)
		}
		if d.ProbeInterval < 100*time.Millisecond {
			bad("probe_interval %s: must be at least 100ms", d.ProbeInterval)
		}
		if d.MaxFPS <= 0 || d.MaxFPS > device.MaxFPS {
			bad("max_fps %v: must be more than 0 and at most %v", d.MaxFPS, device.MaxFPS)
		}
		switch {
		case !ok || d.API == "":
		case len(kind.APIs) == 0:
			bad("api %q: a %s device has one API; leave api out", d.API, d.Type)
		case !slices.Contains(kind.APIs, d.API):
			bad("api %q is not one of %s", d.API, strings.Join(kind.APIs, ", "))
		}
		for _, p := range c.watchdogProblems(d.Watchdog) {
			bad("%s", p)
		}
		if _, err := d.scheduleEntries(); err != nil {
			bad("%v", err)
		}
	}
	return errs
}

// watchdogProblems lists what is wrong with a device's watchdog.
func (c Config) watchdogProblems(w WatchdogConfig) []string {
	if w.After == 0 && len(w.Actions) == 0 {
		return nil // no watchdog
	}
	var out []string
	if w.After < minWatchdogAfter {
		out = append(out, fmt.Sprintf("watchdog.after %s: must be at least %s; write a unit, such as 90s or 5m", w.After, minWatchdogAfter))
	}
	if len(w.Actions) == 0 {
		out = append(out, "watchdog.actions: give at least one message to publish ({topic, payload})")
	}
	for i, a := range w.Actions {
		if p := c.actionTopicProblem(a.Topic); p != "" {
			out = append(out, fmt.Sprintf("watchdog.actions[%d].topic %q: %s", i, a.Topic, p))
		}
		if len(a.Payload) > maxActionPayload {
			out = append(out, fmt.Sprintf("watchdog.actions[%d].payload: %d bytes, at most %d", i, len(a.Payload), maxActionPayload))
		}
		if a.QoS != nil && (*a.QoS < 0 || *a.QoS > 2) {
			out = append(out, fmt.Sprintf("watchdog.actions[%d].qos %d: must be 0, 1 or 2", i, *a.QoS))
		}
	}
	return out
}

// actionTopicProblem says why the watchdog may not publish to t, or "".
// The daemon's own topics are out: its state and commands under the base
// topic, its discovery configs, Home Assistant's status topic and the
// original pidicon's commands it takes; a watchdog publishing there would
// set, fake or trigger the daemon itself.
func (c Config) actionTopicProblem(t string) string {
	base := c.MQTT.BaseTopic
	policy := topic.Policy{Layout: topic.Layout{Base: base}, Status: c.HomeAssistant.StatusTopic}
	if c.HomeAssistant.Enabled {
		policy.Discovery = c.HomeAssistant.DiscoveryPrefix
	}
	compat := c.Compat.Pidicon
	switch {
	case t == "":
		return "empty; give the topic of the message to publish"
	case strings.ContainsAny(t, "+#"):
		return "a topic to publish to has no wildcards (+, #)"
	case strings.HasPrefix(t, "$"):
		return "topics starting with $ belong to the broker"
	case !utf8.ValidString(t) || strings.ContainsRune(t, 0):
		return "not valid UTF-8 text"
	case len(t) > 65535:
		return "longer than MQTT allows (65535 bytes)"
	case t == base || strings.HasPrefix(t, base+"/") || policy.DaemonOnly(t):
		return fmt.Sprintf("is one of the daemon's own topics (under %s/, or its discovery configs); the watchdog publishes to other devices, such as a smart plug", base)
	case t == c.HomeAssistant.StatusTopic:
		return "is Home Assistant's status topic, which Home Assistant publishes"
	case compat.Enabled && (t == compat.Prefix || strings.HasPrefix(t, compat.Prefix+"/")):
		return fmt.Sprintf("is under compat.pidicon.prefix %s/, whose commands the daemon takes", compat.Prefix)
	}
	return ""
}

// watchdog is the device's watchdog as the bridge takes it; the zero
// value (no after) is none.
func (d DeviceConfig) watchdog() bridge.Watchdog {
	if d.Watchdog.After <= 0 {
		return bridge.Watchdog{}
	}
	w := bridge.Watchdog{After: d.Watchdog.After}
	for _, a := range d.Watchdog.Actions {
		qos := 1
		if a.QoS != nil {
			qos = *a.QoS
		}
		w.Actions = append(w.Actions, bridge.Action{Topic: a.Topic, Payload: []byte(a.Payload), Retain: a.Retain, QoS: byte(qos)})
	}
	return w
}

// defaults is the device's configured start state.
func (d DeviceConfig) defaults() state.State {
	ps, _ := state.ParsePlayState(d.PlayState)
	ll, _ := state.ParseLogLevel(d.LoggingLevel)
	return state.State{
		ActiveScene:  d.StartupScene,
		PlayState:    ps,
		Brightness:   *d.Brightness,
		DisplayOn:    *d.DisplayOn,
		LoggingLevel: ll,
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseColor reads "#rrggbb" or "#rgb".
func parseColor(s string) (color.RGBA, error) {
	c, err := scene.ParseColorText(s)
	if err != nil {
		return color.RGBA{}, fmt.Errorf("%q: want #rrggbb", s)
	}
	return c, nil
}
