package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pidicon/pidicon-mqtt/broker"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/state"
	"github.com/pidicon/pidicon-mqtt/web"
)

// observed is what the HTTP endpoint reports on. broker and persister are
// nil when there is none (external broker, state.persist: false); web and
// access while the page is not served.
type observed struct {
	bridge    *bridge.Bridge
	broker    *broker.Broker
	persister *state.Persister
	web       *web.Server
	access    *webAccess
	version   string
}

// handler serves /healthz and /metrics to anyone, and everything else
// (the web page and its API) to whom page lets through.
func (o *observed) handler(page http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", o.healthz)
	mux.HandleFunc("GET /metrics", o.metrics)
	mux.Handle("/", page)
	return mux
}

// healthz answers 200 "ok" when the daemon serves (connected to the broker,
// state restored) and can write its state file, else 503 with the reason.
// A 200 lists, after "ok", one "warning: " line for each thing that is
// wrong but does not stop the daemon from serving (a broker that does not
// hand back retained messages).
func (o *observed) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := o.bridge.Ready(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	if err := o.stateFileError(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "unhealthy: the state file cannot be written, changes will not survive a restart: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ok")
	for _, warn := range o.bridge.Warnings() {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// stateFileError says why the state file cannot be written now (the last
// attempt, or the check at start-up, failed); nil when it can, or without
// persistence.
func (o *observed) stateFileError() error {
	if o.persister == nil {
		return nil
	}
	return o.persister.Stats().Err
}

func (o *observed) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(o.prometheus())
}

// Timeouts of the HTTP endpoint's requests. The page's stream of events
// lifts them for itself and bounds each of its writes instead.
const (
	httpReadTimeout  = 30 * time.Second // a request with its body (an image of 1 MiB)
	httpWriteTimeout = 10 * time.Second
	httpIdleTimeout  = time.Minute
)

// serveHTTP serves the web page (page), /healthz and /metrics at
// cfg.Listen until the returned func is called, which closes page and
// waits for the server to stop. An empty address serves nothing. The
// address is bound before it returns: an address that cannot be used
// fails the start-up, unless it is the default one, which only logs a
// warning (another daemon on this machine has it).
func serveHTTP(cfg HTTPConfig, users []broker.User, o *observed, page *web.Server, log *slog.Logger) (func(), error) {
	if cfg.Listen == "" {
		page.Close()
		log.Info("the web page, /healthz and /metrics are off (http.listen is empty)")
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		page.Close()
		if cfg.listenIsDefault {
			log.Warn("the web page's default address is taken (another daemon on this machine?): running without the web page, /healthz and /metrics",
				logkey.Address, cfg.Listen, logkey.Error, err, logkey.Hint, "set http.listen (PIDICON_HTTP_LISTEN) to a free address, e.g. 127.0.0.1:8081")
			return func() {}, nil
		}
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	access := newWebAccess(cfg, users, log)
	o.web, o.access = page, access
	srv := &http.Server{
		Handler:           o.handler(access.guard(page.Handler())),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP endpoint stopped", logkey.Error, err)
		}
	})
	log.Info("web page listening", logkey.URL, pageURL(ln.Addr().String()), logkey.Address, ln.Addr().String(),
		logkey.Paths, "/ /api/ /healthz /metrics")
	access.warn()
	return func() {
		page.Close() // ends the streams, which would keep Shutdown waiting
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		srv.Close()
		wg.Wait()
	}, nil
}

// pageURL is the web page's address for the log: an unspecified host
// (":8080", "0.0.0.0:8080") is reached on loopback.
func pageURL(addr string) string {
	u, err := healthURL(addr)
	if err != nil {
		return addr
	}
	return strings.TrimSuffix(u, "healthz")
}
