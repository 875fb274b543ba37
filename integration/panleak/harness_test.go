// Package panleak_test tries to get card numbers out through the real gateway (docs/invariants.md, invariant 2): a
// corpus of SQL tricks, COPY formats, errors, notices, notifications and binary results through pgx, psql,
// psycopg and JDBC, each checked against the client's bytes, the session's Kafka events and the gateway log.
package panleak_test

import (
	"bufio"
	"bytes"
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
	mrand "math/rand/v2"
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

	"github.com/pangate/pangate/deploy/demo/seed"
	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/gateway/auth/authtest"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

const audience = "pangate-panleak"

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// gatewayBinary builds ./gateway once per test binary (the gateway runs as its own process, as in production).
func gatewayBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := stack.ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "pangate-panleak-bin-")
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

// gw is a gateway process started for one test.
type gw struct {
	Port   string
	Topic  string
	Issuer *authtest.TestIssuer
	cmd    *exec.Cmd
	logMu  sync.Mutex
	logs   []string
	exited chan struct{}
}

// startGateway runs the gateway with its own topics, an allow-everything policy (so that every attempt
// really runs: a held or denied statement proves nothing about masking), plaintext on loopback (so the test
// can record the raw bytes a client receives) and column tags for the fixture's encoded columns.
func startGateway(t *testing.T, f *fixture) *gw {
	t.Helper()
	return startGatewayPolicy(t, f, "")
}

// startGatewayPolicy is startGateway with policy as the policy file ("": allow everything); it must grant
// f.Role.
func startGatewayPolicy(t *testing.T, f *fixture, policy string) *gw {
	t.Helper()
	var cols []string
	for _, c := range taggedColumns {
		cols = append(cols, fmt.Sprintf("%q", f.Table+"."+c))
	}
	return startGatewayOpts(t, f, gwOpts{policy: policy,
		mask: fmt.Sprintf(`{column_patterns: ["pan", "card_number"], columns: [%s]}`, strings.Join(cols, ", "))})
}

// gwOpts varies a gateway of startGatewayOpts.
type gwOpts struct {
	policy string // policy file content; "": allow everything to f.Role
	mask   string // the config's mask: value (YAML flow mapping)
	prefix string // topic prefix ending in "."; "": a fresh one. Gateways may share one (one indexer reads it).
	name   string // appended to the instance name, to tell gateways sharing a prefix apart
}

// startGatewayOpts is startGatewayPolicy with the mask configuration and topic prefix chosen by the caller.
func startGatewayOpts(t *testing.T, f *fixture, o gwOpts) *gw {
	t.Helper()
	policy := o.policy
	env := stack.Env(t)
	brokers := stack.Brokers(t)
	dsn := stack.PostgresDSN(t)
	bin := gatewayBinary(t)
	iss := authtest.StartIssuerProcess(t)
	dir := t.TempDir()
	prefix := o.prefix
	if prefix == "" {
		prefix = stack.UniqueName(t, "pl") + "."
	}
	g := &gw{Issuer: iss, Topic: prefix + schemas.TopicAudit, exited: make(chan struct{})}
	cert, key := devCert(t, dir)
	keyFile := filepath.Join(dir, "checkpoint.pem")
	if _, err := audit.WriteKey(keyFile, filepath.Join(dir, "checkpoint.pub.pem")); err != nil {
		t.Fatal(err)
	}
	if policy == "" {
		policy = fmt.Sprintf(`version: 1
grants:
  - name: panleak-test
    when: 'true'
    roles: [%s]
rules:
  - name: allow-everything
    when: 'true'
    action: allow
default:
  action: deny
  reason: "unreachable: the test allows everything"
`, f.Role)
	}
	policyPath := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyPath, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	db := "postgres"
	if u, err := pgx.ParseConfig(dsn); err == nil && u.Database != "" {
		db = u.Database
	}
	cfg := fmt.Sprintf(`instance: %s
listen: 127.0.0.1:0
tls: {cert_file: %q, key_file: %q}
allow_plaintext_loopback: true
limits: {startup_timeout: 30s, result_buffer_bytes: 1048576, max_message_bytes: 1048576}
targets:
  - {name: pg, host: %q, port: %s, database: %q, sslmode: disable, admin_dsn: %q, source_address: 127.0.0.2}
kafka: {brokers: [%s], topic_prefix: %q, ack_timeout: 5s}
checkpoint: {interval: 1s, key_file: %q}
auth:
  issuers:
    - {url: %q, audiences: [%q]}
jit: {ttl: 10m}
policy_file: %q
mask: %s
ops: {listen: "127.0.0.1:0"}
`, "pl-"+strings.TrimSuffix(prefix, ".")+o.name, cert, key, env.PGHost, env.PGPort, db, dsn,
		strings.Join(brokers, ","), prefix, keyFile, iss.URL, audience, policyPath, o.mask)
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// debug level: the most the gateway ever logs is what must stay PAN-free.
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
	t.Cleanup(g.Stop)
	select {
	case <-ready:
	case <-g.exited:
		time.Sleep(100 * time.Millisecond)
		t.Fatalf("gateway exited before serving:\n%s", redact(strings.Join(g.Logs(), "\n"), f.PANs))
	case <-time.After(60 * time.Second):
		t.Fatal("gateway did not start within 60s")
	}
	return g
}

// Stop sends SIGTERM and waits for the process (and so for its last log lines).
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

// Logs returns the gateway's log lines so far.
func (g *gw) Logs() []string {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	return append([]string(nil), g.logs...)
}

func (g *gw) token(sub string) string {
	return g.Issuer.Mint(authtest.MintRequest{Subject: sub, Audience: []string{audience}, TTLSeconds: 600})
}

// dsn is a libpq connection string through the gateway, without TLS (loopback) so raw bytes are readable.
func (g *gw) dsn(role, sub string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=postgres sslmode=disable password=%s", g.Port, role, g.token(sub))
}

// records reads every record of the audit topic until n client sessions have ended; it returns the raw
// values (scanned byte for byte, not only the fields we know of) and the parsed events.
func (g *gw) records(t *testing.T, n int) ([][]byte, []schemas.Event) {
	t.Helper()
	cl := stack.Kafka(t, kgo.ConsumeTopics(g.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	var raws [][]byte
	var evs []schemas.Event
	ended := 0
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			raw := append(append([]byte(nil), r.Key...), r.Value...)
			for _, h := range r.Headers {
				raw = append(append(raw, h.Key...), h.Value...)
			}
			raws = append(raws, raw)
			e, err := schemas.Parse(r.Value)
			if err != nil {
				t.Errorf("record is not an event: %v", err)
				return
			}
			if e.Type == schemas.TypeSessionEnded {
				ended++
			}
			evs = append(evs, e)
		})
		if ended >= n {
			return raws, evs
		}
	}
	t.Fatalf("%d of %d sessions ended in the audit topic within 30s (%d records)", ended, n, len(raws))
	return nil, nil
}

// devCert writes a self-signed certificate for 127.0.0.1 (the gateway requires one even for loopback).
func devCert(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "pangate panleak"},
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

// taggedColumns hold encodings of the PAN that content scanning cannot recognise (docs/masking.md, "What
// content scanning cannot catch"); the gateway config tags them as table.column, so only the tag path
// (RowDescription table OID + attnum resolved through the catalog) can protect them.
var taggedColumns = []string{"pan_rev", "pan_b64", "pan_head", "pan_tail"}

// fixture is a seeded cards table and a NOLOGIN role that may read it and insert into it, unique per test.
type fixture struct {
	Table string
	Role  string
	PANs  []string // every seeded PAN, in id order (id = index + 1)
	admin *pgx.Conn
}

// extraBrands widen the seed's brand list to the longest and shortest lengths docs/pci.md names.
var extraBrands = []seed.Brand{{Name: "visa", Prefix: "4", Length: 19}, {Name: "maestro", Prefix: "50", Length: 12}, {Name: "discover", Prefix: "65", Length: 17}}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	admin := stack.Postgres(t)
	f := &fixture{Table: stack.UniqueName(t, "cards"), Role: stack.UniqueName(t, "plr"), admin: admin}
	r := mrand.New(mrand.NewPCG(7, 11))
	brands := append(append([]seed.Brand(nil), seed.Brands...), extraBrands...)
	var values []string
	for i, b := range brands {
		p := seed.PAN(r, b)
		f.PANs = append(f.PANs, p)
		values = append(values, fmt.Sprintf("(%d, '%s', '%s')", i+1, b.Name, p))
	}
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, brand text NOT NULL, pan text NOT NULL UNIQUE, pan_rev text, pan_b64 text, pan_head text, pan_tail text)`, f.Table),
		fmt.Sprintf(`INSERT INTO %s (id, brand, pan) VALUES %s`, f.Table, strings.Join(values, ", ")),
		fmt.Sprintf(`UPDATE %s SET pan_rev = reverse(pan), pan_b64 = encode(convert_to(pan, 'UTF8'), 'base64'), pan_head = substr(pan, 1, 8), pan_tail = substr(pan, 9)`, f.Table),
		fmt.Sprintf(`CREATE ROLE %s NOLOGIN`, f.Role),
		fmt.Sprintf(`GRANT SELECT, INSERT ON %s TO %s`, f.Table, f.Role),
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("fixture: %v", err) // the statement holds PANs: not printed
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

// recorder keeps every byte a client connection read from the gateway.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := append([]byte(nil), r.buf.Bytes()...)
	r.buf.Reset()
	return b
}

type recConn struct {
	net.Conn
	r *recorder
}

func (c recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.r.mu.Lock()
	c.r.buf.Write(p[:n])
	c.r.mu.Unlock()
	return n, err
}
