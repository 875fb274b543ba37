package foundation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pangate/pangate/integration/stack"
)

// TestPostgres checks the stack's cluster: version 15, superuser access, and a
// role with VALID UNTIL (as the gateway's JIT roles use) that can log in.
func TestPostgres(t *testing.T) {
	conn := stack.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		t.Fatalf("server_version: %v", err)
	}
	if !strings.HasPrefix(version, "15.") {
		t.Errorf("server_version = %q, want 15.x", version)
	}
	role := stack.UniqueName(t, "jit")
	if _, err := conn.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD 'pw-"+role+"' VALID UNTIL 'infinity'"); err != nil {
		t.Fatalf("create role: %v", err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })

	cfg, err := pgx.ParseConfig(stack.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Password = role, "pw-"+role
	rc, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("log in as %s: %v", role, err)
	}
	defer rc.Close(ctx)
	var user string
	if err := rc.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user != role {
		t.Errorf("current_user = %q, %v; want %q", user, err, role)
	}
	cfg.Password = "wrong"
	if c, err := pgx.ConnectConfig(ctx, cfg); err == nil {
		c.Close(ctx)
		t.Error("a wrong password was accepted")
	}
}
