package main

import (
	"fmt"
	"io"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"
)

// redacted replaces secrets in printed configuration.
const redacted = "<redacted>"

// checkConfig validates the configuration and prints it, secrets redacted.
func checkConfig(path string, stdout io.Writer, getenv func(string) string) error {
	cfg, err := loadConfig(path, getenv)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	out, err := effectiveConfig(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# effective configuration of %s (valid)\n%s", displayPath(path), out)
	return nil
}

// effectiveConfig renders cfg as YAML with secrets redacted.
func effectiveConfig(cfg Config) ([]byte, error) {
	if cfg.MQTT.Password != "" {
		cfg.MQTT.Password = redacted
	}
	var m map[string]any
	if err := mapstructure.Decode(cfg, &m); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return b, nil
}
