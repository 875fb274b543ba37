package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pangate/pangate/integration/stack"
)

// TestSelfSetPasswordThroughGatewayUseless pins issue 13.1 end to end: a JIT role sets its own password
// through a real gateway (the development policy allows every statement), and a direct login to
// PostgreSQL with that password is refused by pg_hba, whatever address it comes from but the gateway's.
func TestSelfSetPasswordThroughGatewayUseless(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	c := g.connect(t, f.Role, "self-password")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var role string
	if err := c.QueryRow(ctx, "SELECT current_user").Scan(&role); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(role, "pangate_jit_") {
		t.Fatalf("session runs as %q, not a JIT role", role)
	}
	const pw = "Self-set-password-1234"
	if _, err := c.Exec(ctx, fmt.Sprintf("ALTER ROLE CURRENT_USER PASSWORD '%s'", pw)); err != nil {
		t.Fatalf("ALTER ROLE through the gateway: %v", err)
	}
	// PostgreSQL really holds the new password: the role can authenticate with it only from the gateway's
	// address, which no test client has.
	env := stack.Env(t)
	for _, sslmode := range []string{"disable", "require"} {
		dsn := fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=postgres sslmode=%s connect_timeout=10",
			env.PGHost, env.PGPort, role, pw, sslmode)
		dc, err := pgx.Connect(ctx, dsn)
		if err == nil {
			dc.Close(ctx)
			t.Fatalf("a direct login as JIT role %s with its self-set password succeeded (sslmode=%s)", role, sslmode)
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "28000" {
			t.Fatalf("direct login as %s (sslmode=%s): %v; want pg_hba's refusal (28000)", role, sslmode, err)
		}
	}
}

// TestDatabaseOutsideTargetRefused pins issue 13.6 through a real gateway: a token valid for the target
// cannot open another database of the same server.
func TestDatabaseOutsideTargetRefused(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dsn := strings.Replace(g.dsn(f.Role, g.token("other-db"), "require"), "dbname=postgres", "dbname=template1", 1)
	c, err := pgx.Connect(ctx, dsn)
	if err == nil {
		c.Close(ctx)
		t.Fatal("a session opened database template1, which the target does not list")
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" || !strings.Contains(pe.Message, "template1") {
		t.Fatalf("opening template1: %v; want FATAL 42501 naming the database", err)
	}
}
