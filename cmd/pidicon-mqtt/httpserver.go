package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/pidicon/pidicon-mqtt/broker"

	"github.com/pidicon/pidicon-mqtt/bridge"
	"github.com/pidicon/pidicon-mqtt/state"
)

// observed is what the HTTP endpoint reports on. broker and persister are
// nil when there is none (external broker, state.persist: false).
type observed struct {
	bridge    *bridge.Bridge
	broker    *broker.Broker
	persister *state.Persister
	version   string
}

// handler serves /healthz and /metrics.
func (o *observed) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", o.healthz)
	mux.HandleFunc("GET /metrics", o.metrics)
	return mux
}

// healthz answers 200 "ok" when the daemon serves (connected to the broker,
// state restored), else 503 with the reason. A 200 lists, after "ok", one
// "warning: " line for each thing that is wrong but does not stop the
// daemon from serving (a broker that does not hand back retained messages).
func (o *observed) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := o.bridge.Ready(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ok")
	for _, warn := range o.bridge.Warnings() {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

func (o *observed) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(o.prometheus())
}

// serveHTTP serves the HTTP endpoint on listen until the returned func is
// called (it waits for the server to stop). An empty listen serves
// nothing. The address is bound before it returns, so a busy port fails
// the start-up.
func serveHTTP(listen string, o *observed, log *slog.Logger) (func(), error) {
	if listen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	srv := &http.Server{
		Handler:           o.handler(),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP endpoint stopped", "error", err)
		}
	})
	log.Info("HTTP endpoint listening", "address", ln.Addr().String(), "paths", "/healthz /metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		wg.Wait()
	}, nil
}
