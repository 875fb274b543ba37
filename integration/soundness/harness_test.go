package soundness_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"gopkg.in/yaml.v3"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/gateway/auth/authtest"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
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
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// gatewayBinary builds ./gateway once per test binary: the gateway runs as its own process, as in production.
// PANGATE_SOUNDNESS_GATEWAY_BIN names a prebuilt binary instead (to judge another build, e.g. an older commit's).
func gatewayBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PANGATE_SOUNDNESS_GATEWAY_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		root, err := stack.ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "pangate-h2-soundness-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "gateway")
		cmd := exec.Command("go", "build", "-o", buildPath, "./gateway")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./gateway: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

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

// gw is one gateway process started for one test.
type gw struct {
	Port    string
	Topic   string
	Brokers []string
	Issuer  *authtest.TestIssuer
	fake    bool // Brokers is a private kfake cluster (sideeffect_test.go), not the stack's Kafka
	cmd     *exec.Cmd
	logMu   sync.Mutex
	logs    []string
	exited  chan struct{}
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
}

// policyFile writes deploy/policy/pci.yaml with its grants replaced by one grant of roles to any identity
// of the dev issuer: the rules, default and approvals stay those of the default policy, which is what the
// issue's attacks were made against. No approver runs, so held statements are refused.
func policyFile(t *testing.T, dir string, roles []string, rules ...string) string {
	t.Helper()
	root, err := stack.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "deploy", "policy", "pci.yaml")
	if p := os.Getenv("PANGATE_SOUNDNESS_POLICY"); p != "" {
		src = p // the pci.yaml of the build PANGATE_SOUNDNESS_GATEWAY_BIN names
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("deploy/policy/pci.yaml: %v", err)
	}
	m := doc.Content[0]
	var grant yaml.Node
	if err := yaml.Unmarshal([]byte(fmt.Sprintf("- {name: h2-soundness, when: 'true', roles: [%s]}", strings.Join(roles, ", "))), &grant); err != nil {
		t.Fatal(err)
	}
	replaced := false
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "grants" {
			m.Content[i+1] = grant.Content[0]
			replaced = true
		}
	}
	if !replaced {
		t.Fatal("deploy/policy/pci.yaml has no grants section")
	}
	for i := 0; len(rules) > 0 && i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "rules" {
			continue
		}
		var extra yaml.Node
		if err := yaml.Unmarshal([]byte("- "+strings.Join(rules, "\n- ")), &extra); err != nil {
			t.Fatalf("test rules %v: %v", rules, err)
		}
		list := m.Content[i+1]
		at := 0
		for at < len(list.Content) && ruleAction(list.Content[at]) == "deny" {
			at++
		}
		list.Content = append(list.Content[:at], append(extra.Content[0].Content, list.Content[at:]...)...)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ruleAction is the action of a policy rule node.
func ruleAction(n *yaml.Node) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "action" {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// startGateway runs the gateway binary for one test: its own topic prefix and instance name, target
// database h2_sound, the pci.yaml rules, no approver, and the fixture's cards.pan tagged as cardholder data.
func startGateway(t *testing.T, f *fixture, o gwOpts) *gw {
	t.Helper()
	env := stack.Env(t)
	brokers := o.brokers
	if brokers == nil {
		brokers = stack.Brokers(t)
	}
	dsn := stack.PostgresDSN(t)
	bin := gatewayBinary(t)
	iss := authtest.StartIssuerProcess(t)
	dir := t.TempDir()
	prefix := stack.UniqueName(t, "h2s") + "."
	g := &gw{Issuer: iss, Topic: prefix + schemas.TopicAudit, Brokers: brokers, fake: o.brokers != nil, exited: make(chan struct{})}
	cert, key := devCert(t, dir)
	keyFile := filepath.Join(dir, "checkpoint.pem")
	if _, err := audit.WriteKey(keyFile, filepath.Join(dir, "checkpoint.pub.pem")); err != nil {
		t.Fatal(err)
	}
	roles := o.grantRoles
	if roles == nil {
		roles = []string{f.Role}
	}
	policy := policyFile(t, dir, roles, o.rules...)
	ackTimeout := "2s"
	if g.fake {
		ackTimeout = "1s" // every refused event costs one timeout: keep the fault-injection test short
	}
	cfg := fmt.Sprintf(`instance: %s
listen: 127.0.0.1:0
tls: {cert_file: %q, key_file: %q}
limits: {startup_timeout: 30s, result_buffer_bytes: 1048576, max_message_bytes: 1048576}
targets:
  - {name: pg, host: %q, port: %s, database: %q, sslmode: disable, admin_dsn: %q, source_address: %q}
kafka: {brokers: [%s], topic_prefix: %q, ack_timeout: %s}
checkpoint: {interval: 1s, key_file: %q}
auth:
  issuers:
    - {url: %q, audiences: [%q]}
jit: {ttl: 10m}
policy_file: %q
mask:
  column_patterns: ["pan", "card_number"]
  columns: [%q]
ops: {listen: "127.0.0.1:0"}
%s`, "h2-"+strings.TrimSuffix(prefix, "."), cert, key, env.PGHost, env.PGPort, database, dsn, gatewaySource,
		strings.Join(brokers, ","), prefix, ackTimeout, keyFile, iss.URL, audience, policy, f.Cards+".pan", readsLine(o.reads))
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(bin, "run", "-config", path, "-log-level", "debug")
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	g.cmd.Stdout = g.cmd.Stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			g.logMu.Lock()
			g.logs = append(g.logs, line)
			g.logMu.Unlock()
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "gateway serving" {
				addr, _ := m["listen"].(string)
				_, g.Port, _ = net.SplitHostPort(addr)
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { _ = g.cmd.Wait(); close(g.exited) }()
	t.Cleanup(func() {
		g.Stop()
		if t.Failed() {
			g.logMu.Lock()
			n := len(g.logs)
			if n > 60 {
				n = 60
			}
			for _, l := range g.logs[len(g.logs)-n:] {
				t.Log("gateway:", l)
			}
			g.logMu.Unlock()
		}
	})
	select {
	case <-ready:
	case <-g.exited:
		time.Sleep(100 * time.Millisecond)
		g.logMu.Lock()
		defer g.logMu.Unlock()
		t.Fatalf("gateway exited before serving:\n%s", strings.Join(g.logs, "\n"))
	case <-time.After(60 * time.Second):
		t.Fatal("gateway did not start within 60s")
	}
	return g
}

// readsLine is the gateway config's audit section for audit.reads (none for the default).
func readsLine(reads string) string {
	if reads == "" {
		return ""
	}
	return fmt.Sprintf("audit: {reads: %s}\n", reads)
}

// Stop sends SIGTERM and waits for the process.
func (g *gw) Stop() {
	if g.cmd.Process == nil {
		return
	}
	select {
	case <-g.exited:
		return
	default:
	}
	_ = g.cmd.Process.Signal(os.Interrupt)
	select {
	case <-g.exited:
	case <-time.After(30 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
}

func (g *gw) token(sub string) string {
	return g.Issuer.Mint(authtest.MintRequest{Subject: sub, Audience: []string{audience}, TTLSeconds: 600})
}

// dsn is a libpq/pgx connection string through the gateway as role, with extra key=value settings.
func (g *gw) dsn(role string, extra ...string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=%s sslmode=require password=%s %s", g.Port, role, database, g.token("h2-soundness"), strings.Join(extra, " "))
}

// devCert writes a self-signed certificate for 127.0.0.1.
func devCert(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "pangate h2 soundness"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
