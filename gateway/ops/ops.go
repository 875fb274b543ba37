// Package ops serves the gateway's operational endpoints: Prometheus /metrics, /healthz (the process
// runs), /readyz (Kafka and every target answer) and /debug/pprof, on a listener separate from pgwire
// (keep it on loopback or behind the cluster network policy).
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

// Server is the ops HTTP server.
type Server struct {
	srv    *http.Server
	mu     sync.Mutex
	checks map[string]Check
}

// New returns a Server for gatherer's metrics and checks.
func New(gatherer prometheus.Gatherer, checks map[string]Check) *Server {
	s := &Server{checks: checks}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", s.ready)
	// Profiles for benchmarks and incidents; the ops listener is loopback by default.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s
}

// Ready runs every check (bounded by ctx) and joins the failures.
func (s *Server) Ready(ctx context.Context) error {
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	s.mu.Unlock()
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		if err := s.checks[n](ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", n, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(strings.ReplaceAll(err.Error(), "\n", "; ") + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(sctx)
	}()
	if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
