package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pidicon/pidicon-mqtt/broker"
)

// healthcheckTimeout bounds the whole healthcheck request.
const healthcheckTimeout = 5 * time.Second

// healthcheck asks the running daemon's /healthz, at http.listen of the
// same config file and environment, and returns nil when it answers 200.
// It is the Docker HEALTHCHECK of an image that has no shell and no curl.
func healthcheck(ctx context.Context, configPath string, stdout io.Writer, getenv func(string) string) error {
	cfg, err := loadConfig(configPath, getenv)
	if err != nil {
		return err
	}
	if cfg.HTTP.Listen == "" {
		return errors.New("healthcheck: http.listen is off; set it for the daemon and the healthcheck alike " +
			"(e.g. PIDICON_HTTP_LISTEN=127.0.0.1:8080)")
	}
	u, err := healthURL(cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprint(stdout, string(body))
	return nil
}

// healthURL is the /healthz URL of the endpoint listening on listen; an
// unspecified host (":8080", "0.0.0.0:8080") is reached on loopback.
func healthURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("http.listen %q: %w", listen, err)
	}
	ip := net.ParseIP(host)
	switch {
	case host == "", ip != nil && ip.Equal(net.IPv4zero):
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}

// hashPassword reads a password (the first line of in) and prints its
// bcrypt hash, for broker.users[].password_hash.
func hashPassword(in io.Reader, stdout io.Writer) error {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return errors.New("hash-password: no password on standard input (e.g. printf '%s' \"$PASSWORD\" | pidicon-mqtt hash-password)")
	}
	hash, err := broker.HashPassword([]byte(password))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, hash)
	return nil
}
