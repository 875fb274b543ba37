package identity

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pangate/pangate/gateway/jit"
	"github.com/pangate/pangate/integration/stack"
)

// TestSelfSetPasswordRefusedDirectly is the regression test for issue 13.1: a JIT role may change its own
// password (PostgreSQL allows ALTER ROLE CURRENT_USER PASSWORD), which gave a direct login that bypassed the
// gateway. The role is a member of the marker group and the stack's pg_hba.conf admits the group's members
// only from the gateway's source address: the same password is refused from anywhere else.
func TestSelfSetPasswordRefusedDirectly(t *testing.T) {
	p := newPG(t)
	ctx := context.Background()
	m := p.manager("gw-escape", "")
	c, err := m.Issue(ctx, "s", nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var member bool
	if err := p.pool.QueryRow(ctx, "SELECT pg_has_role($1, $2, 'MEMBER')", c.Role, m.Group()).Scan(&member); err != nil || !member {
		t.Fatalf("JIT role %s is not a member of %s: %v %v", c.Role, m.Group(), member, err)
	}
	conn, err := p.login(c.Role, c.Password)
	if err != nil {
		t.Fatalf("login from the gateway address: %v", err)
	}
	const mine = "chosen-by-the-session-0123456789"
	if _, err := conn.Exec(ctx, "ALTER ROLE CURRENT_USER PASSWORD '"+mine+"'"); err != nil {
		t.Fatalf("the role could not set its own password (the test would prove nothing): %v", err)
	}
	conn.Close(ctx)
	for _, src := range []string{"127.0.0.1", "127.0.0.3", ""} {
		direct, err := p.loginFrom(src, "postgres", c.Role, mine)
		if err == nil {
			direct.Close(ctx)
			t.Fatalf("direct login from %q with the self-set password succeeded", src)
		}
		if sqlstate(err) != "28000" || !strings.Contains(err.Error(), "pg_hba.conf rejects") {
			t.Fatalf("direct login from %q: %v, want pg_hba.conf's rejection (28000); is the stack's pg_hba up to date? run `go tool task up`", src, err)
		}
	}
	// The Unix socket (trusted for other roles on the stack) refuses the group too.
	if dir := os.Getenv("PANGATE_PG_SOCKET_DIR"); dir != "" {
		sock, err := pgx.Connect(ctx, "host="+dir+" port="+p.port+" user="+c.Role+" dbname=postgres")
		if err == nil {
			sock.Close(ctx)
			t.Fatal("login over the Unix socket succeeded")
		}
	}
}

// TestReapEndsUnservedSessions: an expired role whose only backend does not come from a gateway address is
// not spared by the live grace: its backend is terminated and the role dropped at the first reap, and the
// count is reported. A backend from a gateway address is spared.
func TestReapEndsUnservedSessions(t *testing.T) {
	p := newPG(t)
	ctx := context.Background()
	prefix := stack.UniqueName(t, "jit") + "_"
	p.manager("gw-cleanup", prefix) // drops leftovers at cleanup
	// The reaper of a deployment whose gateways connect from 127.0.0.9: the test's backend, from
	// 127.0.0.2, is nobody's session.
	elsewhere, err := jit.New(jit.Config{Prefix: prefix, Instance: "gw-a", GatewayAddrs: []string{"127.0.0.9/32"}}, p.pool)
	if err != nil {
		t.Fatal(err)
	}
	served, err := jit.New(jit.Config{Prefix: prefix, Instance: "gw-b", GatewayAddrs: []string{stack.GatewaySource}}, p.pool)
	if err != nil {
		t.Fatal(err)
	}
	c, err := served.Issue(ctx, "s", nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := p.login(c.Role, c.Password)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	p.exec("ALTER ROLE " + pgx.Identifier{c.Role}.Sanitize() + " VALID UNTIL '" + time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano) + "'")
	if got, err := served.Reap(ctx); err != nil || len(got) != 0 {
		t.Fatalf("reaper that serves the session: %v %v, want it spared", got, err)
	}
	var res []jit.Reaped
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		elsewhere.Run(rctx, func(r jit.Reaped) { res = append(res, r); cancel() })
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cancel()
		<-done
		t.Fatal("no reap reported")
	}
	if len(res) != 1 || res[0].Role != c.Role || res[0].Err != nil || res[0].Terminated != 1 {
		t.Fatalf("reaped %+v, want %s with 1 backend terminated", res, c.Role)
	}
	if p.exists(c.Role) || conn.Ping(ctx) == nil {
		t.Fatalf("role exists %v or its session survived", p.exists(c.Role))
	}
}

// TestRevokeWithObjectsInAnotherDatabase: a role that connected to another database of the server and
// created a large object there (owned by it) used to make every revocation and reap fail with 2BP01. The
// cleanup now runs in every database the role has dependencies in.
func TestRevokeWithObjectsInAnotherDatabase(t *testing.T) {
	p := newPG(t)
	ctx := context.Background()
	db := stack.UniqueName(t, "h5otherdb")
	p.exec("CREATE DATABASE " + pgx.Identifier{db}.Sanitize())
	t.Cleanup(func() {
		_, _ = p.pool.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
	})
	m := p.manager("gw-otherdb", "")
	for _, how := range []string{"revoke", "reap"} {
		c, err := m.Issue(ctx, "s", nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := p.loginFrom(stack.GatewaySource, db, c.Role, c.Password)
		if err != nil {
			t.Fatal(err)
		}
		var oid uint32
		if err := conn.QueryRow(ctx, "SELECT lo_create(0)").Scan(&oid); err != nil {
			t.Fatalf("large object in %s: %v", db, err)
		}
		conn.Close(ctx)
		if how == "revoke" {
			err = m.Revoke(ctx, c)
		} else {
			p.exec("ALTER ROLE " + pgx.Identifier{c.Role}.Sanitize() + " VALID UNTIL '2000-01-01 00:00:00+00'")
			_, err = m.Reap(ctx)
		}
		if err != nil || p.exists(c.Role) {
			t.Fatalf("%s of a role owning a large object in %s: %v (role exists %v)", how, db, err, p.exists(c.Role))
		}
	}
}

// TestConcurrentReapers: two gateways' reapers (and a revoke) racing over the same expired roles must not
// fail each other ("tuple concurrently updated" was seen).
func TestConcurrentReapers(t *testing.T) {
	p := newPG(t)
	ctx := context.Background()
	prefix := stack.UniqueName(t, "jit") + "_"
	a, b := p.manager("gw-a", prefix), p.manager("gw-b", prefix)
	var creds []jit.Credential
	for i := 0; i < 12; i++ {
		c, err := a.Issue(ctx, "s", nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, c)
		p.exec("ALTER ROLE " + pgx.Identifier{c.Role}.Sanitize() + " VALID UNTIL '2000-01-01 00:00:00+00'")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for _, m := range []*jit.Manager{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m.Reap(ctx); err != nil {
				errs <- err
			}
		}()
	}
	for _, c := range creds[:4] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Revoke(ctx, c); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent reap/revoke: %v", err)
	}
	for _, c := range creds {
		if p.exists(c.Role) {
			t.Errorf("%s survived", c.Role)
		}
	}
}
