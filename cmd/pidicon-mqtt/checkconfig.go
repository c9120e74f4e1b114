package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// redacted replaces secrets in printed configuration.
const redacted = "<redacted>"

// checkConfig validates the configuration, reads the files and variables
// it points to, and prints it, secrets redacted.
func checkConfig(path string, stdout io.Writer, getenv func(string) string) error {
	cfg, err := loadConfig(path, getenv)
	var decodeErr *decodeError
	if err != nil && !errors.As(err, &decodeErr) {
		return err // the file cannot be read at all
	}
	// List every problem: those of decoding (unknown keys, bad values)
	// with those of what could be decoded.
	_, errs := loadSecrets(cfg, getenv)
	if err := invalid(append([]error{err, cfg.Validate()}, errs...)...); err != nil {
		return err
	}
	out, err := effectiveConfig(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# effective configuration of %s (valid)\n%s", displayPath(path), out)
	return nil
}

// effectiveConfig renders cfg as YAML, with the config file's keys and the
// secrets redacted: passwords (also one in mqtt.url) and password hashes.
func effectiveConfig(cfg Config) ([]byte, error) {
	if cfg.MQTT.Password != "" {
		cfg.MQTT.Password = redacted
	}
	cfg.MQTT.URL = redactURL(cfg.MQTT.URL)
	cfg.Broker.Users = redactUsers(cfg.Broker.Users)
	cfg.HTTP.Users = redactUsers(cfg.HTTP.Users)
	b, err := yaml.Marshal(plain(reflect.ValueOf(cfg)))
	if err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return b, nil
}

// redactUsers is a copy of users with the passwords and their hashes
// redacted.
func redactUsers(users []BrokerUser) []BrokerUser {
	out := make([]BrokerUser, len(users))
	for i, u := range users {
		if u.Password != "" {
			u.Password = redacted
		}
		if u.PasswordHash != "" {
			u.PasswordHash = redacted
		}
		out[i] = u
	}
	return out
}

// plain turns a config value into maps keyed by the mapstructure tags
// (the config file's keys), slices and scalars, for YAML.
func plain(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return plain(v.Elem())
	case reflect.Struct:
		m := make(map[string]any)
		for i := range v.NumField() {
			f := v.Type().Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if !f.IsExported() || key == "" || key == "-" {
				continue
			}
			m[key] = plain(v.Field(i))
		}
		return m
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = plain(v.Index(i))
		}
		return out
	}
	return v.Interface()
}
