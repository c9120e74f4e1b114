package main

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/pidicon/pidicon-mqtt/broker"

	"github.com/spf13/viper"
)

// TLSClientConfig is TLS to an external broker (mqtt.tls), used with the
// ssl://, tls://, mqtts:// and wss:// schemes.
type TLSClientConfig struct {
	// CAFile holds the CA certificates (PEM) that sign the broker's
	// certificate; empty: the system's.
	CAFile string `mapstructure:"ca_file"`
	// CertFile and KeyFile are a client certificate and its key (PEM), for
	// brokers that ask for one.
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
	// ServerName is the name the broker's certificate must carry; empty:
	// the host of mqtt.url.
	ServerName string `mapstructure:"server_name"`
	// InsecureSkipVerify accepts any certificate (logged as a warning at
	// every start).
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify"`
}

// BrokerUser is a login of the embedded broker (broker.users[]) or of the
// web page (http.users[]): a username and exactly one source of its
// password.
type BrokerUser struct {
	Username string `mapstructure:"username"`
	// Password is the password in the config file itself.
	Password string `mapstructure:"password"`
	// PasswordHash is a bcrypt hash of it ("pidicon-mqtt hash-password").
	PasswordHash string `mapstructure:"password_hash"`
	// PasswordEnv names an environment variable that holds it.
	PasswordEnv string `mapstructure:"password_env"`
	// PasswordFile names a file that holds it (a Docker or systemd secret);
	// a trailing newline is ignored.
	PasswordFile string `mapstructure:"password_file"`
}

// ListenerConfig is an optional listener of the embedded broker
// (broker.tls, broker.websocket): an address, and a certificate and key
// (PEM) for TLS.
type ListenerConfig struct {
	Listen   string `mapstructure:"listen"`
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
}

// HTTPConfig is the HTTP endpoint: the web page and its API, /healthz and
// /metrics (CONTRACT §9).
type HTTPConfig struct {
	// Listen is its address (default DefaultHTTPListen); empty: off.
	Listen string `mapstructure:"listen"`
	// Users may log in to the page (HTTP basic authentication); with
	// users, the page needs a login on any address.
	Users []BrokerUser `mapstructure:"users"`
	// AllowAnonymous opens the page without a login on an address other
	// machines reach (logged as a warning at every start).
	AllowAnonymous bool `mapstructure:"allow_anonymous"`

	// listenIsDefault: Listen was set neither in the config file nor in
	// the environment. When the default address is taken (another daemon
	// on this machine), the daemon runs without the page.
	listenIsDefault bool
}

// DefaultHTTPListen is http.listen when neither the config nor the
// environment sets it.
const DefaultHTTPListen = "127.0.0.1:8080"

// tlsSchemes are the mqtt.url schemes that use TLS.
var tlsSchemes = []string{"ssl", "tls", "mqtts", "wss"}

// setSecurityDefaults declares the security and operation keys, so that
// their PIDICON_* variables are read too.
func setSecurityDefaults(v *viper.Viper) {
	for _, key := range []string{
		"mqtt.password_file",
		"mqtt.tls.ca_file", "mqtt.tls.cert_file", "mqtt.tls.key_file", "mqtt.tls.server_name",
		"broker.tls.listen", "broker.tls.cert_file", "broker.tls.key_file",
		"broker.websocket.listen", "broker.websocket.cert_file", "broker.websocket.key_file",
	} {
		v.SetDefault(key, "")
	}
	v.SetDefault("mqtt.tls.insecure_skip_verify", false)
	v.SetDefault("http.listen", DefaultHTTPListen)
	v.SetDefault("http.allow_anonymous", false)
}

// validateSecurity checks the logins, TLS, listeners and the HTTP
// endpoint; it reads no file (loadSecrets does).
func (c Config) validateSecurity() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.MQTT.Password != "" && c.MQTT.PasswordFile != "" {
		bad("mqtt.password and mqtt.password_file are both set: use one")
	}
	t := c.MQTT.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("mqtt.tls.cert_file and mqtt.tls.key_file go together (a client certificate and its key)")
	}
	if c.MQTT.URL == "" {
		if t != (TLSClientConfig{}) {
			bad("mqtt.tls is for an external broker (mqtt.url); the embedded broker's TLS listener is broker.tls")
		}
	} else if u, err := url.Parse(c.MQTT.URL); err == nil {
		if u.User != nil && (c.MQTT.Username != "" || c.MQTT.Password != "" || c.MQTT.PasswordFile != "") {
			bad("mqtt.url %s has a login and mqtt.username, mqtt.password or mqtt.password_file is set too: use one", u.Redacted())
		}
		if t != (TLSClientConfig{}) && !slices.Contains(tlsSchemes, u.Scheme) {
			bad("mqtt.tls is set but mqtt.url %s does not use TLS: use ssl://, mqtts:// or wss://", u.Redacted())
		}
	}
	errs = append(errs, validateUsers("broker.users", c.Broker.Users, broker.DaemonUsername)...)
	errs = append(errs, validateUsers("http.users", c.HTTP.Users, "")...)
	for i, u := range c.HTTP.Users {
		if strings.Contains(u.Username, ":") {
			bad("http.users[%d] (%q): a username with ':' cannot log in to a web page (HTTP basic authentication)", i, u.Username)
		}
	}
	if c.MQTT.URL == "" {
		errs = append(errs, c.validateListeners()...)
	}
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			bad("http.listen %q: want host:port (%v)", c.HTTP.Listen, err)
		}
	}
	return errs
}

// validateUsers checks the logins of the list key (broker.users,
// http.users); reserved, if not empty, is a username nobody may take.
func validateUsers(key string, users []BrokerUser, reserved string) []error {
	var errs []error
	seen := make(map[string]int)
	for i, u := range users {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s[%d] (%q): %s", key, i, u.Username, fmt.Sprintf(format, args...)))
		}
		switch {
		case u.Username == "":
			bad("username is empty")
		case u.Username == reserved:
			bad("username %q is reserved for the daemon's own connection", u.Username)
		}
		if j, dup := seen[u.Username]; dup && u.Username != "" {
			bad("username is also used by %s[%d]", key, j)
		}
		seen[u.Username] = i
		if n := countSet(u.Password, u.PasswordHash, u.PasswordEnv, u.PasswordFile); n != 1 {
			bad("set exactly one of password, password_hash (bcrypt), password_env and password_file (%d are set)", n)
		}
		if u.PasswordHash != "" {
			if err := broker.CheckPasswordHash(u.PasswordHash); err != nil {
				bad("password_hash: %v", err)
			}
		}
	}
	return errs
}

// validateListeners checks the embedded broker's listeners: addresses,
// certificates, and that none is open to anyone unless that is asked for.
func (c Config) validateListeners() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	open := len(c.Broker.Users) == 0 && !c.Broker.AllowAnonymous
	addrs := make(map[string]string) // address -> key
	check := func(key, addr string) (host string, ok bool) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			bad("%s %q: want host:port (%v)", key, addr, err)
			return "", false
		}
		if port != "0" {
			if other, dup := addrs[addr]; dup {
				bad("%s %q: %s listens there too", key, addr, other)
			}
			addrs[addr] = key
		}
		return host, true
	}
	if host, ok := check("broker.listen", c.Broker.Listen); ok && open && !isLoopback(host) {
		bad("broker.listen %q is reachable from other machines and the embedded broker has no users: "+
			"add broker.users, listen on 127.0.0.1, or set broker.allow_anonymous: true if anyone on the network may control the displays", c.Broker.Listen)
	}
	tl := c.Broker.TLS
	switch {
	case tl.Listen != "":
		host, ok := check("broker.tls.listen", tl.Listen)
		if tl.CertFile == "" || tl.KeyFile == "" {
			bad("broker.tls needs cert_file and key_file (the server's certificate and key, PEM)")
		}
		if ok && open && !isLoopback(host) {
			bad("broker.tls.listen %q is reachable from other machines and the embedded broker has no users: "+
				"add broker.users, or set broker.allow_anonymous: true if anyone on the network may control the displays", tl.Listen)
		}
	case tl.CertFile != "" || tl.KeyFile != "":
		bad("broker.tls has a certificate but no listen address")
	}
	ws := c.Broker.WebSocket
	switch {
	case ws.Listen != "":
		check("broker.websocket.listen", ws.Listen)
		if (ws.CertFile == "") != (ws.KeyFile == "") {
			bad("broker.websocket.cert_file and key_file go together (wss://); set both or neither (ws://)")
		}
		if open {
			bad("broker.websocket lets any web page open in a browser that reaches %q connect, and the embedded broker has no users: "+
				"add broker.users, or set broker.allow_anonymous: true", ws.Listen)
		}
	case ws.CertFile != "" || ws.KeyFile != "":
		bad("broker.websocket has a certificate but no listen address")
	}
	if c.HTTP.Listen != "" {
		if other, dup := addrs[c.HTTP.Listen]; dup {
			bad("http.listen %q: %s listens there too", c.HTTP.Listen, other)
		}
	}
	return errs
}

func countSet(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}
