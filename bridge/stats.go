package bridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/pidicon/pidicon-mqtt/device"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
)

// connectLogEvery rate-limits the log of a connection failure that keeps
// failing the same way.
const connectLogEvery = time.Minute

// Stats is a snapshot of the bridge's counters, for /metrics.
type Stats struct {
	// Connected: the MQTT connection is up.
	Connected bool
	// Restored: the state was restored at start-up (file and broker).
	Restored bool
	// Received counts the MQTT messages received; Published those handed
	// to the client to publish.
	Received, Published uint64
	// Devices are the devices' latest metrics, in config order.
	Devices []DeviceStats
}

// DeviceStats is one device's availability and latest metrics.
type DeviceStats struct {
	ID      string
	Online  bool
	Metrics device.Metrics
}

// stats are the bridge's counters and readiness. Every method is safe for
// concurrent use: /metrics and /healthz read them from the HTTP server.
type stats struct {
	received  atomic.Uint64
	published atomic.Uint64
	restored  atomic.Bool
	client    atomic.Value // mqtt.Client, once Run made it

	mu       sync.Mutex
	online   map[string]bool
	metrics  map[string]device.Metrics
	lastErr  error // the last connection failure, nil once connected
	logged   string
	loggedAt time.Time
}

func (s *stats) setClient(c mqtt.Client) { s.client.Store(c) }

func (s *stats) connected() bool {
	c, _ := s.client.Load().(mqtt.Client)
	return c != nil && c.IsConnectionOpen()
}

func (s *stats) setOnline(id string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.online == nil {
		s.online = make(map[string]bool)
	}
	s.online[id] = on
}

func (s *stats) setMetrics(id string, m device.Metrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.metrics == nil {
		s.metrics = make(map[string]device.Metrics)
	}
	s.metrics[id] = m
}

// Stats returns the bridge's counters now.
func (b *Bridge) Stats() Stats {
	out := Stats{
		Connected: b.stats.connected(),
		Restored:  b.stats.restored.Load(),
		Received:  b.stats.received.Load(),
		Published: b.stats.published.Load(),
	}
	b.stats.mu.Lock()
	defer b.stats.mu.Unlock()
	for _, id := range b.ids {
		out.Devices = append(out.Devices, DeviceStats{ID: id, Online: b.stats.online[id], Metrics: b.stats.metrics[id]})
	}
	return out
}

// Ready returns nil when the bridge serves: connected to the broker, with
// the state restored; otherwise it says why not.
func (b *Bridge) Ready() error {
	switch {
	case b.closing.Load():
		return errors.New("shutting down")
	case !b.stats.connected():
		b.stats.mu.Lock()
		last := b.stats.lastErr
		b.stats.mu.Unlock()
		if last != nil {
			return fmt.Errorf("not connected to the MQTT broker: %w", last)
		}
		return errors.New("not connected to the MQTT broker")
	case !b.stats.restored.Load():
		return errors.New("state not restored yet")
	}
	return nil
}

// onConnectionNotification is paho's connection notification handler: it
// logs why a connection attempt failed (paho itself would only retry),
// the first time, when the reason changes, and then once a minute.
func (b *Bridge) onConnectionNotification(_ mqtt.Client, n mqtt.ConnectionNotification) {
	switch n := n.(type) {
	case mqtt.ConnectionNotificationFailed:
		b.connectFailed(n.Reason, time.Now())
	case mqtt.ConnectionNotificationConnected:
		b.stats.mu.Lock()
		b.stats.lastErr, b.stats.logged = nil, ""
		b.stats.mu.Unlock()
	}
}

func (b *Bridge) connectFailed(err error, now time.Time) {
	if err == nil {
		return
	}
	s := &b.stats
	s.mu.Lock()
	s.lastErr = err
	log := err.Error() != s.logged || now.Sub(s.loggedAt) >= connectLogEvery
	if log {
		s.logged, s.loggedAt = err.Error(), now
	}
	s.mu.Unlock()
	if !log {
		return
	}
	attrs := []any{logkey.URL, b.opts.URL, logkey.Error, err}
	if hint := connectHint(err); hint != "" {
		attrs = append(attrs, logkey.Hint, hint)
	}
	b.log.Error("cannot connect to the MQTT broker; retrying", attrs...)
}

// connectHint says what to check for common connection failures.
func connectHint(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknownCA):
		return "the broker's certificate is not signed by a trusted CA: set the CA file (mqtt.tls.ca_file)"
	case errors.As(err, &hostname):
		return "the broker's certificate is not valid for this host name: use the name it was issued for, or set mqtt.tls.server_name"
	case errors.As(err, &invalid):
		return "the broker's certificate is not valid (expired, or not for a server)"
	case errors.As(err, &verify):
		return "the broker's certificate could not be verified"
	case errors.Is(err, packets.ErrorRefusedNotAuthorised), errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		return "the broker refused the login: check mqtt.username and mqtt.password"
	}
	return ""
}
