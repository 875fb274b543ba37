package gateway_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// stackCA is the CA that signed the local PostgreSQL's server certificate.
func stackCA(t *testing.T) string {
	t.Helper()
	ca := stack.Env(t).PGCAFile
	if ca == "" {
		t.Fatalf("PANGATE_PG_CA_FILE is not set: PostgreSQL does not serve TLS yet; run: %s", stack.StartCommand)
	}
	return ca
}

// TestUpstreamTLSVerifyFull: with sslmode verify-full and the stack's CA, the JIT role's upstream backend
// runs over TLS.
func TestUpstreamTLSVerifyFull(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwOpts{upstreamSSLMode: "verify-full", upstreamCAFile: stackCA(t)})
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := g.connect(t, f.Role, "ci-tls-1")

	var role string
	var ssl bool
	if err := c.QueryRow(ctx, "SELECT current_user::text, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&role, &ssl); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(role, "pangate_jit_") {
		t.Fatalf("session runs as %q, want a JIT role", role)
	}
	if !ssl {
		t.Fatal("pg_stat_ssl.ssl = false for the JIT role's upstream backend with sslmode verify-full")
	}
	// The admin connection (sslmode=disable) is plaintext: the server still takes both.
	if err := f.admin.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	if ssl {
		t.Fatal("the sslmode=disable admin connection uses TLS; the check above would prove nothing")
	}
}

// TestUpstreamTLSWrongCA: with sslmode verify-full and a CA that did not sign the server certificate, the
// login fails with an error naming the certificate problem and no statement runs.
func TestUpstreamTLSWrongCA(t *testing.T) {
	t.Parallel()
	wrongCA, _ := stack.DevCert(t, t.TempDir()) // a fresh self-signed certificate: not PostgreSQL's issuer
	g := startGateway(t, gwOpts{upstreamSSLMode: "verify-full", upstreamCAFile: wrongCA})
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, g.dsn(f.Role, g.token("ci-tls-2"), "require"))
	if err == nil {
		_ = c.Close(context.Background())
		t.Fatal("login through the gateway succeeded although the upstream certificate cannot be verified")
	}
	// The client learns that the target is unreachable (08001), not why: the details stay in the log.
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "08001" || !strings.Contains(pe.Message, "could not connect to target") {
		t.Fatalf("login error = %v; want SQLSTATE 08001 \"could not connect to target\"", err)
	}
	// The JIT credential issued for the attempt is revoked, and no statement event exists.
	evs := g.events(t, func(evs []schemas.Event) bool {
		for _, e := range evs {
			if e.Type == schemas.TypeCredentialRevoked {
				return true
			}
		}
		return false
	})
	for _, e := range evs {
		if e.Type == schemas.TypeQueryExecuted || e.Type == schemas.TypeQueryBlocked {
			t.Fatalf("a statement event %s was written although the login failed: %s", e.Type, typesOf(evs))
		}
	}
	// The operator sees the cause, certificate verification (polled: stderr is read concurrently).
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs := strings.Join(g.Logs(), "\n")
		if strings.Contains(logs, "x509") || strings.Contains(logs, "certificate") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway log does not name the certificate failure:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
