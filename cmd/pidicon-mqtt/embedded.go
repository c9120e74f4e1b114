package main

import (
	"log/slog"

	"github.com/pidicon/pidicon-mqtt/broker"
	"github.com/pidicon/pidicon-mqtt/event"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
)

// startBroker starts the embedded broker with the config's listeners and
// logins. Only the daemon's own connection (cfg.MQTT.ClientID with the
// broker's DaemonLogin) may publish to the daemon's topics. Refused
// retained commands and denied publishes are reported to events.
func startBroker(cfg Config, sec secrets, handler slog.Handler, level slog.Level, log *slog.Logger,
	events *event.Log) (*broker.Broker, error) {
	blog := log.With(logkey.Component, "broker")
	embedded, err := broker.Start(broker.Options{
		Listen:          cfg.Broker.Listen,
		TLS:             broker.ListenerOptions{Listen: cfg.Broker.TLS.Listen, TLSCfg: sec.brokerTLS},
		WebSocket:       broker.ListenerOptions{Listen: cfg.Broker.WebSocket.Listen, TLSCfg: sec.webSocketTLS},
		BaseTopic:       cfg.MQTT.BaseTopic,
		DiscoveryPrefix: cfg.HomeAssistant.DiscoveryPrefix,
		StatusTopic:     cfg.HomeAssistant.StatusTopic,
		DaemonClientID:  cfg.MQTT.ClientID,
		Users:           sec.users,
		AllowAnonymous:  cfg.Broker.AllowAnonymous,
		// mochi logs routine client errors as warnings: only its errors.
		Logger:     newLogger(handler, max(level, slog.LevelError)).With(logkey.Component, "broker"),
		AuthLogger: blog,
		Report:     events.Report,
	})
	if err != nil {
		return nil, err
	}
	attrs := []any{logkey.Address, embedded.Addr(), logkey.Users, len(sec.users),
		logkey.Anonymous, len(sec.users) == 0 || cfg.Broker.AllowAnonymous}
	if a := embedded.TLSAddr(); a != "" {
		attrs = append(attrs, logkey.TLSAddress, a)
	}
	if a := embedded.WebSocketAddr(); a != "" {
		attrs = append(attrs, logkey.WebSocketAddress, a)
	}
	blog.Info("embedded MQTT broker listening", attrs...)
	return embedded, nil
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
