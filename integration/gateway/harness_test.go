package gateway_test

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
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/gateway/auth/authtest"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

const audience = "pangate-test"

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// gatewayBinary builds ./gateway once per test binary.
func gatewayBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := stack.ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "pangate-gateway-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "gateway")
		cmd := exec.Command("go", "build", "-o", buildPath, "./gateway")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./gateway: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// gw is a gateway process started for one test.
type gw struct {
	t       testing.TB
	Addr    string // pgwire host:port
	Port    string
	Ops     string
	Prefix  string // topic prefix
	Topic   string // audit topic
	Target  string
	Issuer  *authtest.TestIssuer
	KeyFile string
	CAFile  string // the dev certificate, for sslmode=verify-full
	cmd     *exec.Cmd
	logMu   sync.Mutex
	logs    []string
	exited  chan struct{}
}

type gwOpts struct {
	plaintextLoopback bool
	ackTimeout        string
	resultBuffer      int
	extraYAML         string
	upstreamSSLMode   string   // the target's sslmode; empty: disable
	upstreamCAFile    string   // the target's ca_file, for sslmode verify-full
	databases         []string // more databases the target may open besides its own
}

// startGateway runs the gateway binary with a fresh config: its own topics, TLS certificate, checkpoint
// key, and the dev issuer as a separate process.
func startGateway(t *testing.T, o gwOpts) *gw {
	t.Helper()
	env := stack.Env(t)
	brokers := stack.Brokers(t)
	dsn := stack.PostgresDSN(t)
	bin := gatewayBinary(t)
	iss := authtest.StartIssuerProcess(t)
	dir := t.TempDir()
	g := &gw{t: t, Prefix: stack.UniqueName(t, "gw") + ".", Target: "pg", Issuer: iss, exited: make(chan struct{})}
	g.Topic = g.Prefix + schemas.TopicAudit
	cert, key := devCert(t, dir)
	g.CAFile = cert
	g.KeyFile = filepath.Join(dir, "checkpoint.pem")
	if _, err := audit.WriteKey(g.KeyFile, filepath.Join(dir, "checkpoint.pub.pem")); err != nil {
		t.Fatal(err)
	}
	if o.ackTimeout == "" {
		o.ackTimeout = "3s"
	}
	if o.resultBuffer == 0 {
		o.resultBuffer = 1 << 20
	}
	if o.upstreamSSLMode == "" {
		o.upstreamSSLMode = "disable"
	}
	upstreamTLS := "sslmode: " + o.upstreamSSLMode
	if o.upstreamCAFile != "" {
		upstreamTLS += fmt.Sprintf(", ca_file: %q", o.upstreamCAFile)
	}
	db := "postgres"
	if u, err := pgx.ParseConfig(dsn); err == nil && u.Database != "" {
		db = u.Database
	}
	cfg := fmt.Sprintf(`instance: %s
listen: 127.0.0.1:0
tls: {cert_file: %q, key_file: %q}
allow_plaintext_loopback: %v
limits: {startup_timeout: 30s, result_buffer_bytes: %d, max_message_bytes: 1048576}
targets:
  - {name: pg, host: %q, port: %s, database: %q, databases: [%s], %s, admin_dsn: %q, source_address: 127.0.0.2}
kafka: {brokers: [%s], topic_prefix: %q, ack_timeout: %s}
checkpoint: {interval: 1s, key_file: %q}
auth:
  issuers:
    - {url: %q, audiences: [%q]}
jit: {ttl: 10m}
mask:
  column_patterns: ["pan", "card_number"]
ops: {listen: "127.0.0.1:0"}
%s`, "it-"+g.Prefix[:len(g.Prefix)-1], cert, key, o.plaintextLoopback, o.resultBuffer, env.PGHost, env.PGPort, db, strings.Join(append([]string{db}, o.databases...), ", "), upstreamTLS, dsn,
		strings.Join(brokers, ","), g.Prefix, o.ackTimeout, g.KeyFile, iss.URL, audience, o.extraYAML)
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(bin, "run", "-config", path, "-log-level", "debug")
	g.cmd.Env = os.Environ()
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			g.logMu.Lock()
			g.logs = append(g.logs, line)
			g.logMu.Unlock()
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil {
				switch m["msg"] {
				case "ops serving":
					g.Ops, _ = m["addr"].(string)
				case "gateway serving":
					g.Addr, _ = m["listen"].(string)
					_, g.Port, _ = net.SplitHostPort(g.Addr)
					once.Do(func() { close(ready) })
				}
			}
		}
	}()
	go func() { _ = g.cmd.Wait(); close(g.exited) }()
	t.Cleanup(func() {
		g.Stop()
		if t.Failed() {
			g.logMu.Lock()
			for _, l := range g.logs {
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
	case <-time.After(40 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
}

// token mints a valid token for subject.
func (g *gw) token(sub string) string {
	return g.Issuer.Mint(authtest.MintRequest{Subject: sub, Audience: []string{audience}, TTLSeconds: 600})
}

// dsn is a libpq/pgx connection string through the gateway.
func (g *gw) dsn(role, password, sslmode string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%s user=%s@%s dbname=postgres sslmode=%s password=%s", g.Port, role, g.Target, sslmode, password)
}

func (g *gw) connect(t *testing.T, role, sub string, extra ...string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dsn := g.dsn(role, g.token(sub), "require") + " " + strings.Join(extra, " ")
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect through the gateway as %s: %v", role, err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// events reads every event of the test's audit topic until done returns true for the list so far.
func (g *gw) events(t *testing.T, done func([]schemas.Event) bool) []schemas.Event {
	t.Helper()
	cl := stack.Kafka(t, kgo.ConsumeTopics(g.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	var evs []schemas.Event
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if err := schemas.Validate(r.Value); err != nil {
				t.Errorf("event fails its JSON Schema: %v\n%s", err, r.Value)
			}
			e, err := schemas.Parse(r.Value)
			if err != nil {
				t.Errorf("record is not an event: %v", err)
				return
			}
			if string(r.Key) != e.Session {
				t.Errorf("record key %q is not the session id %q", r.Key, e.Session)
			}
			evs = append(evs, e)
		})
		if done(evs) {
			return evs
		}
	}
	t.Fatalf("audit events did not arrive within 30s; have %d: %s", len(evs), typesOf(evs))
	return nil
}

// sessions groups events by session, in log order (one partition per session keeps their order).
func sessions(evs []schemas.Event) map[string][]schemas.Event {
	m := map[string][]schemas.Event{}
	for _, e := range evs {
		m[e.Session] = append(m[e.Session], e)
	}
	return m
}

func typesOf(evs []schemas.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Type)
	}
	return strings.Join(s, ",")
}

// clientSessions returns the sessions that have a session.started event.
func clientSessions(evs []schemas.Event) [][]schemas.Event {
	var out [][]schemas.Event
	for _, s := range sessions(evs) {
		for _, e := range s {
			if e.Type == schemas.TypeSessionStarted {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// endedSessions is a done predicate: n client sessions have ended.
func endedSessions(n int) func([]schemas.Event) bool {
	return func(evs []schemas.Event) bool {
		c := 0
		for _, e := range evs {
			if e.Type == schemas.TypeSessionEnded {
				c++
			}
		}
		return c >= n
	}
}

// devCert writes a self-signed certificate for 127.0.0.1 and localhost.
func devCert(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "pangate dev"},
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

// fixture creates a table and a NOLOGIN role allowed to use it, unique to the test, on the stack's
// PostgreSQL (directly, as superuser).
type fixture struct {
	Table string
	Role  string
	admin *pgx.Conn
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	admin := stack.Postgres(t)
	f := &fixture{Table: stack.UniqueName(t, "gwt"), Role: stack.UniqueName(t, "gwr"), admin: admin}
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, name text, pan text, amount numeric)`, f.Table),
		fmt.Sprintf(`INSERT INTO %s SELECT g, 'name ' || g, CASE WHEN g %% 2 = 0 THEN '4111111111111111' ELSE 'none' END, g * 1.5 FROM generate_series(1, 20) g`, f.Table),
		fmt.Sprintf(`CREATE ROLE %s NOLOGIN`, f.Role),
		fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s`, f.Table, f.Role),
		fmt.Sprintf(`GRANT USAGE, CREATE ON SCHEMA public TO %s`, f.Role),
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("fixture %q: %v", q, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = admin.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s`, f.Table))
		_, _ = admin.Exec(ctx, fmt.Sprintf(`DROP OWNED BY %s`, f.Role))
		_, _ = admin.Exec(ctx, fmt.Sprintf(`DROP ROLE IF EXISTS %s`, f.Role))
	})
	return f
}
