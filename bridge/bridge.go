package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/internal/lograte"
	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// MaxPayload is the largest command payload accepted, in bytes.
const MaxPayload = 16 * 1024

// inboxSize bounds the commands accepted but not yet applied.
const inboxSize = 1024

// Options configure a Bridge.
type Options struct {
	// URL is the broker: tcp://, ssl://, tls://, ws:// or wss://.
	URL string
	// BaseTopic is the first level of every topic (e.g. "pidicon").
	BaseTopic string
	// ClientID is the MQTT client id; stable, so the broker keeps the session.
	ClientID string
	// Username and Password log in to the broker, if set.
	Username, Password string
	// TLS configures ssl://, tls:// and wss:// connections.
	TLS *tls.Config
	// RestoreWait bounds the wait for the broker's retained state at the
	// first connection.
	RestoreWait time.Duration
	// RetainedCommandsRefused says the broker refuses retained publishes to
	// command topics (the embedded broker does), so there are none to look
	// for on their exact topics. (The embedded broker would also refuse the
	// login of that look's second connection: the daemon's login is for its
	// own client id only.)
	RetainedCommandsRefused bool
	// Version is the daemon's version, published in bridge/info.
	Version string
	// Logger receives the bridge's logs.
	Logger *slog.Logger
	// Store holds the devices' state.
	Store *state.Store
	// File is the state file as read at start-up, or nil.
	File *state.Document
	// FileQuarantined reports that the state file could not be used and
	// was moved aside.
	FileQuarantined bool
	// Events receives what the bridge reports (refused commands, device
	// faults); the bridge publishes every event of it on bridge/event.
	Events *event.Log
	// Devices are the configured devices, in config order.
	Devices []Device
	// Flush writes the state file now; called at shutdown, after the last
	// command and before bridge/state goes offline.
	Flush func(context.Context) error
	// HomeAssistant configures MQTT discovery.
	HomeAssistant HomeAssistant
	// Images is the image store: uploads over MQTT, listed in
	// bridge/info (nil: no images).
	Images *picture.Store
	// Compat takes the original pidicon daemon's commands.
	Compat Compat
	// Catalog, if set, is the devices' set of scenes, which changes while
	// the daemon runs (scene files): at each change the bridge has the
	// displays look their scene up again and republishes bridge/info and
	// the discovery configs (the scene select's options).
	Catalog *scene.Catalog
	// Inputs, if set, takes the messages of the topics the scenes on the
	// displays read (CONTRACT §8); the bridge subscribes to those topics
	// while some display shows a scene that reads them.
	Inputs InputRecorder
}

// Device is one configured display.
type Device struct {
	ID   string
	Name string
	// Kind is the device's kind: its type name, maker and model.
	Kind device.Kind
	// Host is the device's address from the config, used to claim an entry
	// of an original pidicon state file keyed by IP address.
	Host string
	// Defaults is the state used when nothing is restored.
	Defaults   state.State
	Controller *device.Controller
	// Watchdog publishes messages when the display has not answered for
	// a while (zero: none).
	Watchdog Watchdog
}

// Bridge connects the devices to MQTT. Create it with New and call Run.
type Bridge struct {
	opts    Options
	log     *slog.Logger
	topics  topic.Layout
	devices map[string]*Device
	ids     []string // config order
	box     *outbox
	client  mqtt.Client

	inbox        chan command
	republishReq chan struct{}   // capacity 1: "republish everything" (requests, Home Assistant's birth)
	imageJobs    chan command    // image uploads, fetches and deletes for runImages
	takingMu     sync.RWMutex    // taking commands (read) vs. shutdown stopping it (write)
	rejectLog    lograte.Limiter // rate-limits the log of rejected commands
	connected    chan struct{}   // capacity 1: "a connection came up"
	closing      atomic.Bool     // shutdown began: take no more commands

	retained retainedReads // reads of the broker's retained messages (retained.go)

	mu     sync.Mutex           // guards the maps below
	last   map[string][]byte    // transient retained topics (availability, metrics, frame)
	lively map[string]bool      // which of last are lively (message.lively)
	clears map[string]time.Time // set topics we cleared, until when their empty echo is ours

	// Only Run's goroutine uses these.
	missing     map[string]bool // displays whose scene is gone, reported
	warnedInput map[string]bool // input topics refused, logged
	restoreSaid map[string]bool // what the restore logged (firstTime)

	in       inputs        // the scenes' input topics (inputs.go)
	restored chan struct{} // closed once the state is restored

	stats     stats      // counters and readiness for Stats and Ready (stats.go)
	view      view       // the retained topics, for View and Watch (view.go)
	watchdogs *watchdogs // the displays' watchdogs (watchdog.go)
}

// command is a checked message for the bridge's goroutine.
type command struct {
	kind    topic.Kind
	device  string // "" for bridge/notify: every display
	topic   string
	payload []byte // for the events about it
	patch   state.Patch
	note    *device.Notification
	dismiss string // the id to dismiss, "" the one on screen
	image   string // the image of an image request
	reply   chan<- error
}

// done tells whoever submitted the command its outcome (Submit), once.
func (c command) done(err error) {
	if c.reply != nil {
		c.reply <- err
	}
}

// New returns a bridge for opts.
func New(opts Options) *Bridge {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RestoreWait <= 0 {
		opts.RestoreWait = time.Second
	}
	if opts.HomeAssistant.DiscoveryPrefix == "" {
		opts.HomeAssistant.DiscoveryPrefix = "homeassistant"
	}
	if opts.HomeAssistant.StatusTopic == "" {
		opts.HomeAssistant.StatusTopic = opts.HomeAssistant.DiscoveryPrefix + "/status"
	}
	if opts.Events == nil {
		opts.Events = event.NewLog(0)
	}
	b := &Bridge{
		opts:         opts,
		log:          opts.Logger,
		topics:       topic.Layout{Base: opts.BaseTopic},
		devices:      make(map[string]*Device),
		box:          newOutbox(),
		inbox:        make(chan command, inboxSize),
		republishReq: make(chan struct{}, 1),
		imageJobs:    make(chan command, imageQueue),
		rejectLog:    lograte.Limiter{Every: 100 * time.Millisecond},
		connected:    make(chan struct{}, 1),
		last:         make(map[string][]byte),
		lively:       make(map[string]bool),
		clears:       make(map[string]time.Time),
		missing:      make(map[string]bool),
		warnedInput:  make(map[string]bool),
		in:           inputs{wake: make(chan struct{}, 1)},
		restored:     make(chan struct{}),
	}
	for i := range opts.Devices {
		d := &opts.Devices[i]
		b.devices[d.ID] = d
		b.ids = append(b.ids, d.ID)
	}
	b.watchdogs = newWatchdogs(b.devices, b.log, func() bool { return b.client.IsConnectionOpen() }, b.fireWatchdog)
	return b
}

// Run restores state, runs the device controllers and serves MQTT until ctx
// is done, then shuts down in the contract's order: stop taking commands,
// flush the state file, publish bridge/state offline, disconnect.
func (b *Bridge) Run(ctx context.Context) error {
	stopEvents := b.opts.Events.Subscribe(func(e event.Event) {
		b.box.put(message{topic: b.topics.Bridge(topic.BridgeEvent), payload: e.JSON()})
	})
	defer stopEvents()

	ctrlCtx, stopCtrls := context.WithCancel(context.WithoutCancel(ctx))
	var ctrls sync.WaitGroup
	for _, id := range b.ids {
		c := b.devices[id].Controller
		ctrls.Go(func() { c.Run(ctrlCtx, b) })
	}
	if b.opts.Images != nil {
		ctrls.Go(func() { b.runImages(ctrlCtx) })
	}
	defer func() {
		stopCtrls()
		ctrls.Wait()
	}()

	b.client = mqtt.NewClient(b.clientOptions())
	b.stats.setClient(b.client)
	watchCtx, stopWatching := context.WithCancel(context.WithoutCancel(ctx))
	var watching sync.WaitGroup
	watching.Go(func() { b.watchdogs.run(watchCtx) }) // uses b.client
	defer func() {
		stopWatching()
		watching.Wait()
	}()
	if b.opts.Inputs != nil {
		ctrls.Go(func() { b.runInputs(ctrlCtx) })
	}
	pub := &publisher{
		client:    b.client,
		box:       b.box,
		fresh:     make(chan struct{}, 1),
		onError:   func(t string, err error) { b.log.Debug("publish failed", logkey.Topic, t, logkey.Error, err) },
		published: &b.stats.published,
		onDrop: func(n int) {
			b.log.Warn("events dropped: the broker connection is too slow", logkey.Count, n)
		},
	}
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		pub.run(pubCtx)
	}()

	b.log.Info("connecting to MQTT broker", logkey.URL, b.opts.URL, logkey.ClientID, b.opts.ClientID)
	connCtx, stopConnecting := context.WithCancel(ctx)
	var connecting sync.WaitGroup
	connecting.Go(func() { b.connectLoop(connCtx) }) // OnConnect tells us
	defer func() {
		stopConnecting()
		connecting.Wait()
	}()
	warn := time.NewTimer(5 * time.Second)
	defer warn.Stop()

	restored := false
	var inbox chan command      // nil (blocked) until state is restored
	var republish chan struct{} // likewise
	var scenesChanged <-chan struct{}
	if b.opts.Catalog != nil {
		scenesChanged = b.opts.Catalog.Changed()
	}
	var sweep sweeper // retained commands on exact topics, if needed
	defer sweep.stop()
	for {
		select {
		case <-ctx.Done():
			stopPub()
			<-pubDone
			return b.shutdown(pub, inbox)
		case <-warn.C:
			if !b.client.IsConnectionOpen() {
				if !restored {
					// Drive the displays from the file meanwhile; the broker
					// may still bring newer state when it answers.
					b.log.Warn("MQTT broker not reachable yet; driving the displays from the state file and still trying", logkey.URL, b.opts.URL)
					b.restore(nil)
					b.driveAll()
					b.updateInputs()
				} else {
					b.log.Warn("MQTT broker not reachable; still trying", logkey.URL, b.opts.URL)
				}
				warn.Reset(time.Minute)
			}
		case <-b.connected:
			b.log.Info("connected to MQTT broker", logkey.URL, b.opts.URL)
			pub.connectionUp()
			first := !restored
			if first {
				b.restoreFromBroker(ctx)
				b.driveAll() // CONTRACT §4: drive the hardware, then publish
				restored, inbox, republish = true, b.inbox, b.republishReq
				b.updateInputs()
			}
			b.subscribeCommands(ctx)
			b.in.resubscribe()
			b.republishAll()
			if first {
				// Ready only once commands are subscribed and everything
				// is published: a client that waits for readiness (healthz)
				// and then sends a command must not lose it, and a page
				// opened then gets the full state (View).
				b.stats.restored.Store(true)
				close(b.restored)
			}
			if b.retained.exactSweep.Load() {
				sweep.start(ctx, b.sweepRetainedCommands)
			}
		case c := <-inbox:
			b.apply(c)
		case <-republish:
			b.log.Info("republishing everything (requested, or Home Assistant started)")
			b.republishAll()
		case <-scenesChanged:
			scenesChanged = b.opts.Catalog.Changed()
			b.scenesChanged(restored)
		}
	}
}

// Backoff of the first connection; paho backs off between reconnections
// itself, up to the same maximum.
const (
	connectRetryMin = time.Second
	connectRetryMax = 30 * time.Second
)

// connectLoop makes the first connection, trying again with a capped
// exponential backoff until it succeeds or ctx is done. Later drops are
// paho's to reconnect.
func (b *Bridge) connectLoop(ctx context.Context) {
	delay := connectRetryMin
	for {
		tok := b.client.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return
		}
		if tok.Error() == nil {
			return
		}
		// The failure itself is logged by onConnectionNotification.
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return
		}
		delay = min(2*delay, connectRetryMax)
	}
}

func (b *Bridge) clientOptions() *mqtt.ClientOptions {
	return b.connectOptions(b.opts.ClientID).
		SetCleanSession(false).
		SetStore(newResendStore()).
		SetAutoReconnect(true).
		SetConnectRetry(false). // the first connection: connectLoop, with backoff
		SetMaxReconnectInterval(30*time.Second).
		SetKeepAlive(30*time.Second).
		SetPingTimeout(10*time.Second).
		SetWill(b.topics.Bridge(topic.BridgeState), topic.Offline, 1, true).
		SetDefaultPublishHandler(b.onMessage).
		SetConnectionNotificationHandler(b.onConnectionNotification).
		SetOnConnectHandler(func(mqtt.Client) {
			select {
			case b.connected <- struct{}{}:
			default:
			}
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			b.log.Warn("lost the MQTT broker; reconnecting", logkey.Error, err)
		})
}

// connectOptions are what every connection of the daemon shares: the
// broker, the login, TLS, ordered delivery and the connect and write
// timeouts.
func (b *Bridge) connectOptions(clientID string) *mqtt.ClientOptions {
	o := mqtt.NewClientOptions().
		AddBroker(b.opts.URL).
		SetClientID(clientID).
		SetOrderMatters(true).
		SetConnectTimeout(5 * time.Second).
		SetWriteTimeout(5 * time.Second)
	if b.opts.Username != "" {
		o.SetUsername(b.opts.Username)
		o.SetPassword(b.opts.Password)
	}
	if b.opts.TLS != nil {
		o.SetTLSConfig(b.opts.TLS)
	}
	return o
}

// shutdown stops taking commands, applies those already accepted, flushes
// the state file, publishes bridge/state offline and disconnects.
func (b *Bridge) shutdown(pub *publisher, inbox chan command) error {
	b.takingMu.Lock()
	b.closing.Store(true)
	b.takingMu.Unlock()
	b.log.Info("shutting down")
	for inbox != nil {
		select {
		case c := <-inbox:
			b.apply(c)
			continue
		default:
		}
		break
	}
	var errs []error
	if b.opts.Flush != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := b.opts.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flush state: %w", err))
		}
		cancel()
	}
	b.retain(b.topics.Bridge(topic.BridgeState), []byte(topic.Offline))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pub.sendQueued(ctx)
	pub.drain(ctx)
	b.client.Disconnect(250)
	return errors.Join(errs...)
}
