package service

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pangate/pangate/internal/ops"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUnavailableDependencyLoggedAtStart: the gateway logged "gateway serving" while its OIDC issuer or a
// target's admin DSN was unreachable; only /readyz said so (issue 15).
func TestUnavailableDependencyLoggedAtStart(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var issuerCalls atomic.Int32
	checks := map[string]ops.Check{
		"kafka": func(context.Context) error { return nil },
		"issuers": func(context.Context) error {
			if issuerCalls.Add(1) < 3 {
				return errors.New("https://issuer.example: dial tcp: connection refused")
			}
			return nil
		},
		"target payments": func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, // hangs: bounded by the timeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	got := watchDependencies(ctx, log, checks, 200*time.Millisecond)
	if want := []string{"issuers", "target payments"}; !slices.Equal(got, want) {
		t.Fatalf("unavailable = %v, want %v", got, want)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the start check took %s: a hanging dependency must be bounded by the timeout", d)
	}
	out := buf.String()
	for _, want := range []string{"level=WARN", "dependency=issuers", "connection refused", `dependency="target payments"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "dependency=kafka") {
		t.Errorf("an available dependency was logged:\n%s", out)
	}
	// The failing issuer is retried until it answers (1s, then 2s backoff).
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), `msg="dependency available" dependency=issuers`) {
		if time.Now().After(deadline) {
			t.Fatalf("the issuer was not retried until available:\n%s", buf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
