// Package ops is the one operational HTTP server every long-running pangate service (gateway, approver,
// indexer) runs: /healthz (the process answers), /readyz (every named dependency answers; the body names
// each that does not), /metrics (Prometheus) and, when Config.Pprof is on, /debug/pprof/.
//
//	GET /healthz        200 "ok"
//	GET /readyz         200 "ready" | 503 "not ready" + one line per failing check: "<name>: <error>"
//	GET /metrics        the service's registry
//	GET /debug/pprof/   profiles (Config.Pprof only)
//
// Profiles are served only on a listener of its own that carries nothing else a client reaches: the
// gateway's and the indexer's ops listeners (loopback by default; in Kubernetes behind the network
// policy) turn them on, the approver's does not, because its listener also serves Slack's public
// interactions endpoint. A profile shows stacks and sizes, never memory contents, but it costs CPU and
// tells an attacker what runs; the command-line and trace handlers are never mounted.
package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness probe; it returns nil when its dependency answers.
type Check func(ctx context.Context) error

// Config configures a Server.
type Config struct {
	// Gatherer is the registry /metrics serves. Required.
	Gatherer prometheus.Gatherer
	// Checks are the readiness probes by dependency name (for example "kafka", "target payments"); more
	// can be added with AddCheck before or while serving.
	Checks map[string]Check
	// CheckTimeout bounds all checks of one /readyz request together; default 3s.
	CheckTimeout time.Duration
	// Pprof mounts /debug/pprof/ (index, named profiles, CPU profile, symbols). Only on a listener that
	// serves nothing else to clients; see the package doc.
	Pprof bool
}

// Server is the ops HTTP server.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	mu     sync.Mutex
	checks map[string]Check
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 3 * time.Second
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), checks: map[string]Check{}}
	for n, c := range cfg.Checks {
		s.checks[n] = c
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("GET /readyz", s.ready)
	if cfg.Pprof {
		s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	}
	return s
}

// AddCheck adds (or replaces) the readiness probe name.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// Handle serves another route on the same listener (the approver's Slack interactions endpoint).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler is the server's routes, for tests and for callers that run their own http.Server.
func (s *Server) Handler() http.Handler { return s.mux }

// Ready runs every check in parallel, bounded by ctx, and joins the failures as "<name>: <error>", sorted
// by name.
func (s *Server) Ready(ctx context.Context) error {
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	checks := make([]Check, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		checks = append(checks, s.checks[n])
	}
	s.mu.Unlock()
	res := make([]error, len(names))
	var wg sync.WaitGroup
	for i := range names {
		wg.Add(1)
		go func() { defer wg.Done(); res[i] = checks[i](ctx) }()
	}
	wg.Wait()
	var errs []error
	for i, err := range res {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", names[i], strings.ReplaceAll(err.Error(), "\n", "; ")))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CheckTimeout)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "not ready\n%s\n", err)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Serve serves on ln until ctx ends, then shuts down (2s for requests in flight).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	defer close(stopped)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
