package ops

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// serve starts s on a real loopback listener and returns its base URL; it stops at cleanup.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "ops_test_total", Help: "t"})
	reg.MustRegister(c)
	c.Inc()
	var kafkaDown atomic.Bool
	kafkaDown.Store(true)
	s := New(Config{Gatherer: reg, Pprof: true, Checks: map[string]Check{
		"kafka": func(context.Context) error {
			if kafkaDown.Load() {
				return errors.New("dial 127.0.0.1:1: connection refused")
			}
			return nil
		},
		"target payments": func(context.Context) error { return nil },
	}})
	s.AddCheck("issuers", func(context.Context) error { return errors.New("issuer https://idp: 503\nretrying") })
	url := serve(t, s)

	for _, tc := range []struct {
		path     string
		code     int
		contains []string
		absent   []string
	}{
		{"/healthz", 200, []string{"ok"}, nil},
		{"/metrics", 200, []string{"ops_test_total 1"}, nil},
		{"/readyz", 503, []string{"not ready", "kafka: dial 127.0.0.1:1: connection refused", "issuers: issuer https://idp: 503; retrying"}, []string{"target payments"}},
		{"/debug/pprof/", 200, []string{"goroutine"}, nil},
		{"/debug/pprof/cmdline", 404, nil, nil},
		{"/nothing", 404, nil, nil},
	} {
		t.Run(tc.path, func(t *testing.T) {
			code, body := get(t, url+tc.path)
			if code != tc.code {
				t.Fatalf("status %d, want %d: %s", code, tc.code, body)
			}
			for _, w := range tc.contains {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tc.absent {
				if strings.Contains(body, w) {
					t.Errorf("body names %q, which answers:\n%s", w, body)
				}
			}
		})
	}
	kafkaDown.Store(false)
	s.AddCheck("issuers", func(context.Context) error { return nil })
	if code, body := get(t, url+"/readyz"); code != 200 || !strings.Contains(body, "ready") {
		t.Fatalf("all checks pass: %d %s", code, body)
	}
}

func TestPprofOffByDefault(t *testing.T) {
	url := serve(t, New(Config{}))
	if code, _ := get(t, url+"/debug/pprof/"); code != 404 {
		t.Fatalf("/debug/pprof/ without Config.Pprof: status %d, want 404", code)
	}
	if code, body := get(t, url+"/readyz"); code != 200 {
		t.Fatalf("no checks: readyz %d %s", code, body)
	}
}

// TestReadyBounded: a check that hangs is cut off by CheckTimeout and named, instead of hanging the probe.
func TestReadyBounded(t *testing.T) {
	s := New(Config{CheckTimeout: 200 * time.Millisecond, Checks: map[string]Check{
		"clickhouse": func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
	}})
	s.Handle("/extra", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("extra")) }))
	url := serve(t, s)
	start := time.Now()
	code, body := get(t, url+"/readyz")
	if code != 503 || !strings.Contains(body, "clickhouse: context deadline exceeded") || time.Since(start) > 2*time.Second {
		t.Fatalf("hanging check: %d %q after %s", code, body, time.Since(start))
	}
	if code, body := get(t, url+"/extra"); code != 200 || body != "extra" {
		t.Fatalf("extra route: %d %q", code, body)
	}
}
