package main

import (
	"log/slog"
	"sync/atomic"

	"github.com/pidicon/pidicon-mqtt/bridge"
)

// startBroker starts the embedded broker with the config's listeners and
// logins. Only the daemon's own connection (cfg.MQTT.ClientID with the
// broker's DaemonLogin) may publish to the daemon's topics. Refused
// retained commands and denied publishes are reported through br once the
// bridge exists.
func startBroker(cfg Config, sec secrets, handler slog.Handler, level slog.Level, log *slog.Logger,
	br *atomic.Pointer[bridge.Bridge]) (*bridge.Broker, error) {
	blog := log.With("component", "broker")
	broker, err := bridge.StartBroker(bridge.BrokerOptions{
		Listen:          cfg.Broker.Listen,
		TLS:             bridge.ListenerOptions{Listen: cfg.Broker.TLS.Listen, TLSCfg: sec.brokerTLS},
		WebSocket:       bridge.ListenerOptions{Listen: cfg.Broker.WebSocket.Listen, TLSCfg: sec.webSocketTLS},
		BaseTopic:       cfg.MQTT.BaseTopic,
		DiscoveryPrefix: cfg.HomeAssistant.DiscoveryPrefix,
		StatusTopic:     cfg.HomeAssistant.StatusTopic,
		DaemonClientID:  cfg.MQTT.ClientID,
		Users:           sec.users,
		AllowAnonymous:  cfg.Broker.AllowAnonymous,
		// mochi logs routine client errors as warnings: only its errors.
		Logger:     newLogger(handler, max(level, slog.LevelError)).With("component", "broker"),
		AuthLogger: blog,
		OnRefused: func(clientID, topic string, payload []byte) {
			if b := br.Load(); b != nil {
				b.ReportRefused(clientID, topic, payload)
			}
		},
		OnDenied: func(clientID, topic string, payload []byte) {
			if b := br.Load(); b != nil {
				b.ReportDenied(clientID, topic, payload)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	attrs := []any{"address", broker.Addr(), "users", len(sec.users),
		"anonymous", len(sec.users) == 0 || cfg.Broker.AllowAnonymous}
	if a := broker.TLSAddr(); a != "" {
		attrs = append(attrs, "tls_address", a)
	}
	if a := broker.WebSocketAddr(); a != "" {
		attrs = append(attrs, "websocket_address", a)
	}
	blog.Info("embedded MQTT broker listening", attrs...)
	return broker, nil
}

// warnInsecure logs, at every start, the settings that weaken security on
// purpose.
func warnInsecure(cfg Config, log *slog.Logger) {
	if cfg.MQTT.URL == "" && cfg.Broker.AllowAnonymous {
		log.Warn("broker.allow_anonymous is on: any client that reaches the embedded broker may connect without a password and control the displays")
	}
	if cfg.MQTT.URL != "" && cfg.MQTT.TLS.InsecureSkipVerify {
		log.Warn("mqtt.tls.insecure_skip_verify is on: the broker's certificate is not checked, so anyone on the network path can pose as the broker")
	}
}
