package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/pidicon/pidicon-mqtt/broker"
)

// secrets are what the config points to rather than holds: passwords from
// the environment and from files, certificates and keys. They are read
// once at start-up, never logged, and never printed by check-config.
type secrets struct {
	// mqttURL is mqtt.url without a login in it.
	mqttURL string
	// mqttUsername and mqttPassword log in to an external broker: from
	// mqtt.username and mqtt.password (PIDICON_MQTT_PASSWORD) or
	// mqtt.password_file, or from a login in mqtt.url.
	mqttUsername, mqttPassword string
	// mqttTLS is the TLS of a TLS scheme, else nil.
	mqttTLS *tls.Config
	// users are the embedded broker's logins.
	users []broker.User
	// httpUsers are the web page's logins (http.users).
	httpUsers []broker.User
	// brokerTLS and webSocketTLS are the certificates of the embedded
	// broker's TLS and wss:// listeners, or nil.
	brokerTLS, webSocketTLS *tls.Config
}

// prepare validates cfg and reads its secrets, and returns every problem
// of both.
func prepare(cfg Config, getenv func(string) string) (secrets, error) {
	sec, errs := loadSecrets(cfg, getenv)
	return sec, invalid(append([]error{cfg.Validate()}, errs...)...)
}

// invalid joins a config's problems into one error, or returns nil.
func invalid(errs ...error) error {
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	return nil
}

// loadSecrets reads the secrets cfg points to. It skips what Validate
// refuses (such as two password sources), so that the problems are not
// listed twice.
func loadSecrets(cfg Config, getenv func(string) string) (secrets, []error) {
	var errs []error
	var s secrets
	s.mqttURL, s.mqttUsername, s.mqttPassword = cfg.MQTT.URL, cfg.MQTT.Username, cfg.MQTT.Password
	var userErrs []error
	s.httpUsers, userErrs = loadUsers("http.users", cfg.HTTP.Users, getenv)
	errs = append(errs, userErrs...)
	if cfg.MQTT.PasswordFile != "" && cfg.MQTT.Password == "" {
		p, err := readSecretFile(cfg.MQTT.PasswordFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("mqtt.password_file: %w", err))
		}
		s.mqttPassword = p
	}
	if cfg.MQTT.URL == "" {
		errs = append(errs, s.loadBroker(cfg.Broker, getenv)...)
		return s, errs
	}
	u, err := url.Parse(cfg.MQTT.URL)
	if err != nil {
		return s, errs // Validate says why
	}
	if u.User != nil {
		// The login moves out of the URL, which is logged.
		s.mqttUsername = u.User.Username()
		s.mqttPassword, _ = u.User.Password()
		u.User = nil
		s.mqttURL = u.String()
	}
	if slices.Contains(tlsSchemes, u.Scheme) {
		s.mqttTLS, err = clientTLS(cfg.MQTT.TLS)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return s, errs
}

// loadBroker reads the embedded broker's passwords and certificates.
func (s *secrets) loadBroker(cfg BrokerConfig, getenv func(string) string) []error {
	var errs []error
	s.users, errs = loadUsers("broker.users", cfg.Users, getenv)
	var err error
	if l := cfg.TLS; l.Listen != "" && l.CertFile != "" && l.KeyFile != "" {
		if s.brokerTLS, err = serverTLS(l); err != nil {
			errs = append(errs, fmt.Errorf("broker.tls: %w", err))
		}
	}
	if l := cfg.WebSocket; l.Listen != "" && l.CertFile != "" && l.KeyFile != "" {
		if s.webSocketTLS, err = serverTLS(l); err != nil {
			errs = append(errs, fmt.Errorf("broker.websocket: %w", err))
		}
	}
	return errs
}

// loadUsers reads the passwords of the logins of the list key
// (broker.users, http.users), from whichever of the four sources each
// names.
func loadUsers(key string, users []BrokerUser, getenv func(string) string) ([]broker.User, []error) {
	var errs []error
	var out []broker.User
	for i, u := range users {
		user := broker.User{Username: u.Username}
		var err error
		switch {
		case countSet(u.Password, u.PasswordHash, u.PasswordEnv, u.PasswordFile) != 1:
			continue // Validate says why
		case u.Password != "":
			user.Password = u.Password
		case u.PasswordHash != "":
			user.PasswordHash = []byte(u.PasswordHash)
		case u.PasswordEnv != "":
			if user.Password = getenv(u.PasswordEnv); user.Password == "" {
				err = fmt.Errorf("password_env: the environment variable %s is not set or empty", u.PasswordEnv)
			}
		case u.PasswordFile != "":
			user.Password, err = readSecretFile(u.PasswordFile)
			if err != nil {
				err = fmt.Errorf("password_file: %w", err)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d] (%q): %w", key, i, u.Username, err))
			continue
		}
		out = append(out, user)
	}
	return out, errs
}

// readSecretFile reads a password from a file, without its trailing
// newline. Its content never appears in an error.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return p, nil
}

// clientTLS is the TLS configuration of an external broker connection.
func clientTLS(t TLSClientConfig) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, // asked for; warned about at every start
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt.tls.ca_file %s: no PEM certificate in it", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" && t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls.cert_file and key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// serverTLS is the TLS configuration of a listener of the embedded broker.
func serverTLS(l ListenerConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("cert_file and key_file: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// redactURL is u with the password of a login in it replaced; u itself if
// it does not parse.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if strings.Contains(u, "@") {
			return redacted
		}
		return u
	}
	return p.Redacted()
}
