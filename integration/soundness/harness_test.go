package soundness_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.yaml.in/yaml/v3"

	"github.com/pangate/pangate/gateway/auth/authtest"
	"github.com/pangate/pangate/gateway/jit"
	"github.com/pangate/pangate/integration/stack"
)

const (
	audience = "pangate-h2-soundness"
	// database is the suite's own database; log_statement = all is set on it only.
	database = "h2_sound"
	// gatewaySource is the loopback address the stack's PostgreSQL accepts JIT roles from
	// (deploy/local/postgres.go GatewaySource, targets[].source_address).
	gatewaySource = "127.0.0.2"
	// evil is the value the attacks' UPDATEs write; a marker row holding it means an attack ran.
	evil = 666
)

var (
	dbOnce sync.Once
	dbErr  error
)

// soundDB creates the suite's database (once per process; it is kept between runs) with every statement
// logged by PostgreSQL, and returns a superuser DSN for it.
func soundDB(t testing.TB) string {
	t.Helper()
	admin := stack.PostgresDSN(t)
	dbOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			dbErr = err
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "CREATE DATABASE "+database); err != nil {
			var pe *pgconn.PgError
			// 42P04 duplicate_database; 23505 when another process created it at the same moment.
			if !errors.As(err, &pe) || (pe.Code != "42P04" && pe.Code != "23505") {
				dbErr = fmt.Errorf("create database %s: %w", database, err)
				return
			}
		}
		if _, err := c.Exec(ctx, "ALTER DATABASE "+database+" SET log_statement = 'all'"); err != nil {
			dbErr = fmt.Errorf("ALTER DATABASE %s SET log_statement: %w", database, err)
		}
	})
	if dbErr != nil {
		t.Fatalf("soundness: %v", dbErr)
	}
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(admin, "/"+cfg.Database+"?", "/"+database+"?", 1)
}

// fixture is the per-test state in h2_sound: a role the policy grants, tables the attacks aim at, and a
// superuser connection to check what PostgreSQL really holds.
type fixture struct {
	Role   string // the role the policy grants (requested as role@pg)
	Other  string // a role Role is a member of, that the session must never act as (class 7)
	Marker string // (id int, v int): rows 1..3 with v = 0
	Log    string // (n int, who text): side-effect functions insert here
	Cards  string // (id int, pan text): cardholder data (pan is tagged)
	Who    string // (id serial, who text DEFAULT current_user)
	Admin  *pgx.Conn
	prefix string
}

// name returns a per-test object name (unique, so parallel tests never share objects).
func (f *fixture) name(s string) string { return f.prefix + "_" + s }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dsn := soundDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s as superuser: %v; start the stack with: %s", database, err, stack.StartCommand)
	}
	p := stack.UniqueName(t, "h2")
	f := &fixture{Role: p + "_r", Other: p + "_o", Marker: p + "_marker", Log: p + "_log", Cards: p + "_cards", Who: p + "_who", Admin: admin, prefix: p}
	for _, q := range []string{
		fmt.Sprintf(`CREATE ROLE %s NOLOGIN`, f.Role),
		fmt.Sprintf(`CREATE ROLE %s NOLOGIN`, f.Other),
		fmt.Sprintf(`GRANT %s TO %s`, f.Other, f.Role),
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, v int NOT NULL)`, f.Marker),
		fmt.Sprintf(`INSERT INTO %s VALUES (1, 0), (2, 0), (3, 0)`, f.Marker),
		fmt.Sprintf(`CREATE TABLE %s (n int, who text DEFAULT current_user)`, f.Log),
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, pan text NOT NULL)`, f.Cards),
		// Test card numbers (Luhn-valid brand test numbers): the gateway masks them in every event.
		fmt.Sprintf(`INSERT INTO %s VALUES (1, '4111111111111111'), (2, '5555555555554444'), (3, '378282246310005')`, f.Cards),
		fmt.Sprintf(`CREATE TABLE %s (id serial, who text DEFAULT current_user)`, f.Who),
		fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE, DELETE ON %s, %s, %s, %s TO %s`, f.Marker, f.Log, f.Cards, f.Who, f.Role),
		fmt.Sprintf(`GRANT USAGE ON SEQUENCE %s_id_seq TO %s`, f.Who, f.Role),
		fmt.Sprintf(`GRANT SELECT, INSERT ON %s TO %s`, f.Who, f.Other),
		fmt.Sprintf(`GRANT USAGE ON SEQUENCE %s_id_seq TO %s`, f.Who, f.Other),
		fmt.Sprintf(`GRANT USAGE, CREATE ON SCHEMA public TO %s`, f.Role),
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("fixture %q: %v", q, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		// Objects the test created (functions, views, sequences, tables) all start with the prefix.
		rows, _ := admin.Query(ctx, `SELECT format('DROP %s IF EXISTS %s CASCADE', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::regclass)
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname LIKE $1 AND c.relkind IN ('r', 'v', 'S')
			UNION ALL SELECT format('DROP FUNCTION IF EXISTS %s CASCADE', p.oid::regprocedure) FROM pg_proc p WHERE p.proname LIKE $1
			UNION ALL SELECT format('DROP TYPE IF EXISTS %s CASCADE', t.oid::regtype) FROM pg_type t WHERE t.typname LIKE $1 AND t.typtype = 'c' AND t.typrelid IN (SELECT oid FROM pg_class WHERE relkind = 'c')`, p+"%")
		var drops []string
		for rows != nil && rows.Next() {
			var s string
			if rows.Scan(&s) == nil {
				drops = append(drops, s)
			}
		}
		if rows != nil {
			rows.Close()
		}
		for _, q := range drops {
			_, _ = admin.Exec(ctx, q)
		}
		_, _ = admin.Exec(ctx, `SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE pg_get_userbyid(lomowner) LIKE 'pangate_jit_%' OR lomowner IN (SELECT oid FROM pg_roles WHERE rolname IN ($1, $2))`, f.Role, f.Other)
		for _, r := range []string{f.Role, f.Other} {
			_, _ = admin.Exec(ctx, "DROP OWNED BY "+r)
		}
		for _, r := range []string{f.Role, f.Other} {
			_, _ = admin.Exec(ctx, "DROP ROLE IF EXISTS "+r)
		}
		_ = admin.Close(ctx)
	})
	return f
}

// exec runs statements as superuser in h2_sound (fixture objects of one test).
func (f *fixture) exec(t *testing.T, qs ...string) {
	t.Helper()
	for _, q := range qs {
		if _, err := f.Admin.Exec(context.Background(), q); err != nil {
			t.Fatalf("admin %q: %v", q, err)
		}
	}
}

// int runs a one-value query as superuser.
func (f *fixture) int(t *testing.T, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := f.Admin.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("admin %q: %v", q, err)
	}
	return n
}

// touched returns how many marker rows an attack changed (v no longer 0) or deleted, and restores them.
func (f *fixture) touched(t *testing.T) int64 {
	t.Helper()
	n := f.int(t, fmt.Sprintf("SELECT count(*) FILTER (WHERE v <> 0) + (3 - count(*)) FROM %s", f.Marker))
	f.exec(t, fmt.Sprintf("DELETE FROM %s", f.Marker), fmt.Sprintf("INSERT INTO %s VALUES (1, 0), (2, 0), (3, 0)", f.Marker))
	return n
}

// gw is one gateway process started for one test (integration/stack's launcher).
type gw struct {
	*stack.Gateway
	Brokers []string
	prefix  string // topic prefix, also the instance name's suffix
	fake    bool   // Brokers is a private kfake cluster (sideeffect_test.go), not the stack's Kafka
	cmd     *exec.Cmd
	exited  <-chan struct{}
}

type gwOpts struct {
	// brokers, when set, replace the stack's Kafka (a fault-injecting kfake cluster).
	brokers []string
	// grantRoles, when set, replaces the policy grant's roles (default: the fixture's Role).
	grantRoles []string
	// rules are statement rules (YAML flow maps) put after the default policy's deny rules, before its
	// first hold: a test that needs statements the default holds (DDL, COPY) allows them there.
	rules []string
	// reads is audit.reads (strict, pipelined); empty: the gateway's default.
	reads string
	// restart, when set, is a gateway this one restarts: same instance name and audit topic (its own run).
	restart *gw
	// jit, when set, replaces the jit section (YAML flow map), e.g. "{ttl: 5s, reap_interval: 1s}".
	jit string
}

// policyFile writes deploy/policy/pci.yaml with its grants replaced by one grant of roles to any identity
// of the dev issuer: the rules, default and approvals stay those of the default policy, which is what the
// issue's attacks were made against. No approver runs, so held statements are refused.
// PANGATE_SOUNDNESS_POLICY names another pci.yaml (that of the build PANGATE_SOUNDNESS_GATEWAY_BIN names).
func policyFile(t *testing.T, dir string, roles []string, rules ...string) string {
	t.Helper()
	return stack.PCIPolicy(t, dir, stack.PolicyOptions{Source: os.Getenv("PANGATE_SOUNDNESS_POLICY"),
		Grant: "h2-soundness", Roles: roles, Rules: rules})
}

// startGateway runs the gateway binary for one test: its own topic prefix and instance name, target
// database h2_sound, the pci.yaml rules, no approver, and the fixture's cards.pan tagged as cardholder data.
// PANGATE_SOUNDNESS_GATEWAY_BIN names a prebuilt binary instead of ./gateway (to judge another build, e.g.
// an older commit's).
func startGateway(t *testing.T, f *fixture, o gwOpts) *gw {
	t.Helper()
	brokers := o.brokers
	if brokers == nil {
		brokers = stack.Brokers(t)
	}
	prefix := stack.UniqueName(t, "h2s") + "."
	if o.restart != nil {
		prefix = o.restart.prefix
	}
	jc := jit.Config{TTL: 10 * time.Minute}
	if o.jit != "" {
		jc = jit.Config{}
		if err := yaml.Unmarshal([]byte(o.jit), &jc); err != nil {
			t.Fatalf("gwOpts.jit %q: %v", o.jit, err)
		}
	}
	roles := o.grantRoles
	if roles == nil {
		roles = []string{f.Role}
	}
	ackTimeout := 2 * time.Second
	if o.brokers != nil {
		ackTimeout = time.Second // every refused event costs one timeout: keep the fault-injection test short
	}
	sg := stack.StartGateway(t, stack.GatewayOptions{
		Instance:      "h2-" + strings.TrimSuffix(prefix, "."),
		Prefix:        prefix,
		Brokers:       brokers,
		Database:      database,
		AdminDSN:      soundDB(t),
		SourceAddress: gatewaySource,
		Audience:      audience,
		AckTimeout:    ackTimeout,
		PolicyFile:    policyFile(t, t.TempDir(), roles, o.rules...),
		Reads:         o.reads,
		JIT:           &jc,
		MaskColumns:   []string{f.Cards + ".pan"},
		Binary:        os.Getenv("PANGATE_SOUNDNESS_GATEWAY_BIN"),
		LogTail:       60,
	})
	return &gw{Gateway: sg, Brokers: brokers, prefix: prefix, fake: o.brokers != nil, cmd: sg.Cmd, exited: sg.Done()}
}

func (g *gw) token(sub string) string {
	return g.Issuer.Mint(authtest.MintRequest{Subject: sub, Audience: []string{audience}, TTLSeconds: 600})
}

// dsn is a libpq/pgx connection string through the gateway as role, with extra key=value settings.
func (g *gw) dsn(role string, extra ...string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=%s sslmode=require password=%s %s", g.Port, role, database, g.token("h2-soundness"), strings.Join(extra, " "))
}
