package identity

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pangate/pangate/gateway/jit"
	"github.com/pangate/pangate/integration/stack"
)

// pg is one test's view of the stack's PostgreSQL: an admin pool and the roles it created, dropped at cleanup.
type pg struct {
	t     *testing.T
	pool  *pgxpool.Pool
	host  string
	port  string
	roles []string
}

func newPG(t *testing.T) *pg {
	t.Helper()
	dsn := stack.PostgresDSN(t)
	e := stack.Env(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("admin pool: %v", err)
	}
	p := &pg{t: t, pool: pool, host: e.PGHost, port: e.PGPort}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, r := range slices.Backward(p.roles) {
			id := pgx.Identifier{r}.Sanitize()
			_, _ = pool.Exec(ctx, "DROP OWNED BY "+id)
			_, _ = pool.Exec(ctx, "DROP ROLE IF EXISTS "+id)
		}
		pool.Close()
	})
	return p
}

func (p *pg) exec(sql string, args ...any) {
	p.t.Helper()
	if _, err := p.pool.Exec(context.Background(), sql, args...); err != nil {
		p.t.Fatalf("%s: %v", sql, err)
	}
}

// role creates a NOLOGIN role with a unique name, dropped at cleanup.
func (p *pg) role(prefix string) string {
	p.t.Helper()
	name := stack.UniqueName(p.t, prefix)
	p.exec("CREATE ROLE " + pgx.Identifier{name}.Sanitize() + " NOLOGIN")
	p.roles = append(p.roles, name)
	return name
}

// manager returns a JIT manager with a prefix unique to this test, so concurrent tests and gateways never
// see each other's roles; every role with the prefix is dropped at cleanup.
func (p *pg) manager(instance string, prefix string) *jit.Manager {
	p.t.Helper()
	if prefix == "" {
		prefix = stack.UniqueName(p.t, "jit") + "_"
	}
	m, err := jit.New(jit.Config{Prefix: prefix, TTL: time.Hour, ReapInterval: 100 * time.Millisecond, Instance: instance}, p.pool)
	if err != nil {
		p.t.Fatalf("jit.New: %v", err)
	}
	p.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rows, _ := p.pool.Query(ctx, "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)", prefix)
		names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, r := range names {
			id := pgx.Identifier{r}.Sanitize()
			_, _ = p.pool.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", r)
			_, _ = p.pool.Exec(ctx, "DROP OWNED BY "+id)
			_, _ = p.pool.Exec(ctx, "DROP ROLE IF EXISTS "+id)
		}
	})
	return m
}

func (p *pg) exists(role string) bool {
	p.t.Helper()
	var n int
	if err := p.pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_roles WHERE rolname = $1", role).Scan(&n); err != nil {
		p.t.Fatal(err)
	}
	return n == 1
}

// login connects over TCP (SCRAM, as pg_hba requires for host connections) as role with password, from the
// gateway's source address (stack.GatewaySource): the only address pg_hba admits JIT roles from.
func (p *pg) login(role, password string) (*pgx.Conn, error) {
	return p.loginFrom(stack.GatewaySource, "postgres", role, password)
}

// loginFrom is login from the local address src ("" for the system's choice) to database db.
func (p *pg) loginFrom(src, db, role, password string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.User, cfg.Password, cfg.Database = p.host, role, password, db
	if src != "" {
		d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		cfg.DialFunc = d.DialContext
	}
	fmt.Sscan(p.port, &cfg.Port)
	cfg.TLSConfig = nil
	cfg.Fallbacks = nil
	cfg.ConnectTimeout = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

func sqlstate(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestIssueRevoke(t *testing.T) {
	p := newPG(t)
	ctx := context.Background()
	reader, writer, other := p.role("pgtreader"), p.role("pgtwriter"), p.role("pgtother")
	m := p.manager("gw-test", "")
	session := "session-" + stack.UniqueName(t, "s")

	notAfter := time.Now().Add(10 * time.Minute)
	c, err := m.Issue(ctx, session, []string{reader, writer}, notAfter)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if !strings.HasPrefix(c.Role, m.Prefix()) || len(c.Password) != 43 || c.Session != session {
		t.Fatalf("credential %v (password length %d)", c, len(c.Password))
	}
	if !c.ValidUntil.Equal(notAfter.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("ValidUntil %s, want the token expiry %s (it is sooner than TTL)", c.ValidUntil, notAfter)
	}

	// The role as PostgreSQL sees it: login, no powers, VALID UNTIL, SCRAM verifier, marker comment.
	var (
		login, super, createrole, createdb, repl, bypass, inherit bool
		validUntil                                                time.Time
		password, comment                                         string
	)
	err = p.pool.QueryRow(ctx, `SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolinherit,
		rolvaliduntil, rolpassword, shobj_description(oid, 'pg_authid') FROM pg_authid WHERE rolname = $1`, c.Role).
		Scan(&login, &super, &createrole, &createdb, &repl, &bypass, &inherit, &validUntil, &password, &comment)
	if err != nil {
		t.Fatalf("role %s after Issue: %v", c.Role, err)
	}
	if !login || super || createrole || createdb || repl || bypass || !inherit {
		t.Fatalf("attributes login=%v super=%v createrole=%v createdb=%v replication=%v bypassrls=%v inherit=%v",
			login, super, createrole, createdb, repl, bypass, inherit)
	}
	if !validUntil.Equal(c.ValidUntil) {
		t.Fatalf("rolvaliduntil %s, want %s", validUntil, c.ValidUntil)
	}
	if !strings.HasPrefix(password, "SCRAM-SHA-256$") || strings.Contains(password, c.Password) {
		t.Fatalf("stored password is not a SCRAM verifier")
	}
	if !strings.Contains(comment, `"pangate":"jit"`) || !strings.Contains(comment, session) || !strings.Contains(comment, "gw-test") {
		t.Fatalf("marker comment %q", comment)
	}

	// Exactly the granted memberships, without admin option.
	rows, _ := p.pool.Query(ctx, `SELECT g.rolname, m.admin_option FROM pg_auth_members m
		JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1 ORDER BY 1`, c.Role)
	type membership struct {
		Role  string
		Admin bool
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[membership])
	if err != nil {
		t.Fatal(err)
	}
	// Plus the marker group pg_hba.conf recognises JIT roles by (it grants nothing).
	want := []membership{{reader, false}, {writer, false}, {m.Group(), false}}
	slices.SortFunc(want, func(a, b membership) int { return strings.Compare(a.Role, b.Role) })
	if !slices.Equal(got, want) {
		t.Fatalf("memberships %v, want %v (and never %s)", got, want, other)
	}

	// It logs in with its password (SCRAM over TCP), and only with it.
	conn, err := p.login(c.Role, c.Password)
	if err != nil {
		t.Fatalf("login as %s: %v", c.Role, err)
	}
	var user string
	var isReader, isOther bool
	if err := conn.QueryRow(ctx, "SELECT current_user::text, pg_has_role($1, 'USAGE'), pg_has_role($2, 'USAGE')", reader, other).
		Scan(&user, &isReader, &isOther); err != nil {
		t.Fatal(err)
	}
	if user != c.Role || !isReader || isOther {
		t.Fatalf("as JIT role: current_user %s, reader %v, other %v", user, isReader, isOther)
	}
	if bad, err := p.login(c.Role, c.Password+"x"); err == nil {
		bad.Close(ctx)
		t.Fatalf("login with a wrong password succeeded: is pg_hba trust instead of scram-sha-256?")
	} else if sqlstate(err) != "28P01" {
		t.Fatalf("wrong password: %v, want 28P01", err)
	}

	// Revoke ends the live session and drops the role; the password no longer works.
	if err := m.Revoke(ctx, c); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if p.exists(c.Role) {
		t.Fatalf("role %s still exists after Revoke", c.Role)
	}
	if err := conn.Ping(ctx); err == nil {
		t.Fatalf("the JIT role's session survived Revoke")
	}
	conn.Close(ctx)
	if conn, err := p.login(c.Role, c.Password); err == nil {
		conn.Close(ctx)
		t.Fatalf("login after Revoke succeeded")
	}
	if err := m.Revoke(ctx, c); err != nil {
		t.Fatalf("second Revoke (already gone) should be a no-op: %v", err)
	}
	for _, r := range []string{reader, writer} {
		if !p.exists(r) {
			t.Fatalf("granted role %s was dropped", r)
		}
	}
}

func TestIssueRefusals(t *testing.T) {
	p := newPG(t)
	ctx := context.Background()
	reader := p.role("pgtreader")
	m := p.manager("gw-test", "")
	count := func() int {
		var n int
		if err := p.pool.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE starts_with(rolname, $1)", m.Prefix()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := m.Issue(ctx, "s", []string{reader}, time.Now().Add(-time.Second)); !errors.Is(err, jit.ErrExpired) {
		t.Fatalf("token already expired: %v, want ErrExpired", err)
	}
	if _, err := m.Issue(ctx, "s", []string{reader, "pangate_no_such_role_x"}, time.Time{}); err == nil || sqlstate(err) != "42704" {
		t.Fatalf("grant of a missing role: %v, want 42704", err)
	}
	if _, err := m.Issue(ctx, "s", []string{m.Prefix() + "abc"}, time.Time{}); !errors.Is(err, jit.ErrBadGrant) {
		t.Fatalf("grant of a JIT role: %v, want ErrBadGrant", err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d roles left behind by failed issues (the transaction must leave none)", n)
	}
	// A session id full of quoting hazards lands intact in the comment.
	c, err := m.Issue(ctx, `it's a "session" \ ; DROP ROLE postgres; --`, nil, time.Time{})
	if err != nil {
		t.Fatalf("Issue with no grants and a hostile session id: %v", err)
	}
	var comment string
	if err := p.pool.QueryRow(ctx, "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1", c.Role).Scan(&comment); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(comment, `it's a \"session\" \\ ; DROP ROLE postgres; --`) {
		t.Fatalf("comment %q", comment)
	}
	if time.Until(c.ValidUntil) < 59*time.Minute {
		t.Fatalf("ValidUntil %s without a token cap, want now+TTL (1h)", c.ValidUntil)
	}
	// Revoke never touches roles it did not make.
	if err := m.Revoke(ctx, jit.Credential{Role: reader}); !errors.Is(err, jit.ErrNotManaged) {
		t.Fatalf("Revoke of a non-JIT role: %v, want ErrNotManaged", err)
	}
	impostor := m.Prefix() + "impostor"
	p.exec("CREATE ROLE " + pgx.Identifier{impostor}.Sanitize() + " NOLOGIN")
	if err := m.Revoke(ctx, jit.Credential{Role: impostor}); !errors.Is(err, jit.ErrNotManaged) || !p.exists(impostor) {
		t.Fatalf("Revoke of a prefixed role without marker: %v (exists %v), want ErrNotManaged and kept", err, p.exists(impostor))
	}
}

// TestDisableThenRevoke: Disable ends the role's access in PostgreSQL at once (its live session is
// terminated, logins are refused) and keeps the role for Revoke, which the gateway calls once the session's
// end is recorded; both refuse roles pangate did not make, and both are no-ops on a role already gone.
func TestDisableThenRevoke(t *testing.T) {
	p := newPG(t)
	ctx := context.Background()
	reader := p.role("pgtreader")
	m := p.manager("gw-test", "")
	c, err := m.Issue(ctx, "session-"+stack.UniqueName(t, "d"), []string{reader}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := p.login(c.Role, c.Password)
	if err != nil {
		t.Fatalf("login as %s: %v", c.Role, err)
	}
	defer conn.Close(ctx)
	if err := m.Disable(ctx, c); err != nil {
		t.Fatalf("Disable: %v", err)
	}
	var login bool
	if err := p.pool.QueryRow(ctx, "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", c.Role).Scan(&login); err != nil {
		t.Fatalf("role %s after Disable: %v (it must still exist)", c.Role, err)
	}
	if login {
		t.Fatalf("role %s can still log in after Disable", c.Role)
	}
	if err := conn.Ping(ctx); err == nil {
		t.Fatalf("the JIT role's session survived Disable")
	}
	if again, err := p.login(c.Role, c.Password); err == nil {
		again.Close(ctx)
		t.Fatalf("login after Disable succeeded")
	} else if sqlstate(err) != "28000" {
		t.Fatalf("login after Disable: %v, want 28000 (role not permitted to log in)", err)
	}
	if err := m.Revoke(ctx, c); err != nil || p.exists(c.Role) {
		t.Fatalf("Revoke after Disable: %v (role exists %v)", err, p.exists(c.Role))
	}
	if err := m.Disable(ctx, c); err != nil {
		t.Fatalf("Disable of a role already dropped should be a no-op: %v", err)
	}
	if err := m.Disable(ctx, jit.Credential{Role: reader}); !errors.Is(err, jit.ErrNotManaged) {
		t.Fatalf("Disable of a non-JIT role: %v, want ErrNotManaged", err)
	}
}

// TestRevokeReassignsOwnedObjects: a table the JIT role created survives its role, owned by the admin.
func TestRevokeReassignsOwnedObjects(t *testing.T) {
	p := newPG(t)
	ctx := context.Background()
	creator := p.role("pgtcreator")
	schema := stack.UniqueName(t, "pgtschema")
	sid := pgx.Identifier{schema}.Sanitize()
	p.exec("CREATE SCHEMA " + sid)
	t.Cleanup(func() { _, _ = p.pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+sid+" CASCADE") })
	p.exec("GRANT USAGE, CREATE ON SCHEMA " + sid + " TO " + pgx.Identifier{creator}.Sanitize())
	m := p.manager("gw-test", "")
	c, err := m.Issue(ctx, "s", []string{creator}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := p.login(c.Role, c.Password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE "+sid+".made_by_jit (id int)"); err != nil {
		t.Fatalf("create table as JIT role: %v", err)
	}
	conn.Close(ctx)
	if err := m.Revoke(ctx, c); err != nil {
		t.Fatalf("Revoke of a role owning a table: %v", err)
	}
	var owner string
	if err := p.pool.QueryRow(ctx, "SELECT tableowner::text FROM pg_tables WHERE schemaname = $1 AND tablename = 'made_by_jit'", schema).Scan(&owner); err != nil {
		t.Fatalf("table after Revoke: %v", err)
	}
	if owner == c.Role || p.exists(c.Role) {
		t.Fatalf("owner %s after Revoke (role exists %v)", owner, p.exists(c.Role))
	}
}

// TestReapCrashedGateway: a gateway "crashed" and left its roles; another instance's reaper drops the expired
// ones (ending sessions left past LiveGrace) and leaves alone unexpired ones, just-expired ones whose session
// is still live, foreign ones with the prefix, and expired roles without the prefix.
func TestReapCrashedGateway(t *testing.T) {
	p := newPG(t)
	ctx := context.Background()
	reader := p.role("pgtreader")
	prefix := stack.UniqueName(t, "jit") + "_"
	crashed := p.manager("gw-crashed", prefix)
	survivor := p.manager("gw-survivor", prefix)

	expired, err := crashed.Issue(ctx, "s-expired", []string{reader}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	live, err := crashed.Issue(ctx, "s-live", []string{reader}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// A session outliving its short token: expired a moment ago, still connected (its gateway is alive).
	outlived, err := crashed.Issue(ctx, "s-outlived", []string{reader}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := p.login(expired.Role, expired.Password)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	outConn, err := p.login(outlived.Role, outlived.Password)
	if err != nil {
		t.Fatal(err)
	}
	defer outConn.Close(ctx)
	// Time passes for these credentials only. The first expired long ago (past LiveGrace), still connected:
	// its gateway is presumed gone. The second expired just now.
	p.exec("ALTER ROLE " + pgx.Identifier{expired.Role}.Sanitize() + " VALID UNTIL '2000-01-01 00:00:00+00'")
	p.exec("ALTER ROLE " + pgx.Identifier{outlived.Role}.Sanitize() + " VALID UNTIL '" + time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano) + "'")
	foreign := prefix + "dba_made_this"
	p.exec("CREATE ROLE " + pgx.Identifier{foreign}.Sanitize() + " LOGIN VALID UNTIL '2000-01-01 00:00:00+00'")
	unprefixed := p.role("pgtunprefixed")
	p.exec("ALTER ROLE " + pgx.Identifier{unprefixed}.Sanitize() + ` VALID UNTIL '2000-01-01 00:00:00+00'`)
	p.exec("COMMENT ON ROLE " + pgx.Identifier{unprefixed}.Sanitize() + ` IS '{"pangate":"jit"}'`)

	dropped, err := survivor.Reap(ctx)
	if err != nil {
		t.Fatalf("Reap: %v", err)
	}
	if !slices.Equal(dropped, []string{expired.Role}) {
		t.Fatalf("reaped %v, want only %s", dropped, expired.Role)
	}
	if p.exists(expired.Role) {
		t.Fatalf("expired role survived Reap")
	}
	for _, r := range []string{live.Role, outlived.Role, foreign, unprefixed, reader} {
		if !p.exists(r) {
			t.Fatalf("Reap dropped %s, which it must leave alone", r)
		}
	}
	if err := conn.Ping(ctx); err == nil {
		t.Fatalf("the expired role's session survived Reap")
	}
	if err := outConn.Ping(ctx); err != nil {
		t.Fatalf("the session of a just-expired role was ended: %v", err)
	}
	// Once that session ends, the role goes at the next reap (the backend exits asynchronously: poll).
	outConn.Close(ctx)
	deadline := time.Now().Add(15 * time.Second)
	for {
		again, err := survivor.Reap(ctx)
		if err != nil {
			t.Fatalf("Reap: %v", err)
		}
		if slices.Equal(again, []string{outlived.Role}) {
			break
		}
		if len(again) != 0 || time.Now().After(deadline) {
			t.Fatalf("Reap after the session ended: %v, want [%s]", again, outlived.Role)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if again, err := survivor.Reap(ctx); err != nil || len(again) != 0 {
		t.Fatalf("third Reap: %v %v, want nothing", again, err)
	}
	// The crashed instance's Revoke of the reaped role (e.g. on restart) is a no-op.
	if err := crashed.Revoke(ctx, expired); err != nil {
		t.Fatalf("Revoke after Reap: %v", err)
	}
}

// TestRunReapsPeriodically: Run reports each reaped role through onReap, for a credential whose token-capped
// VALID UNTIL passes on its own.
func TestRunReapsPeriodically(t *testing.T) {
	p := newPG(t)
	m := p.manager("gw-run", "")
	c, err := m.Issue(context.Background(), "s", nil, time.Now().Add(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx, func(r jit.Reaped) {
			if r.Err != nil {
				t.Errorf("onReap(%q): %v", r.Role, r.Err)
			}
			got <- r.Role
		})
	}()
	select {
	case role := <-got:
		if role != c.Role {
			t.Fatalf("reaped %s, want %s", role, c.Role)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not reap %s within 30s of its expiry", c.Role)
	}
	if p.exists(c.Role) {
		t.Fatalf("reported reaped but still exists")
	}
	cancel()
	<-done
}
