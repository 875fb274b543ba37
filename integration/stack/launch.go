package stack

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.yaml.in/yaml/v3"

	approverconfig "github.com/pangate/pangate/approver/config"
	"github.com/pangate/pangate/gateway/auth"
	"github.com/pangate/pangate/gateway/auth/authtest"
	gatewayconfig "github.com/pangate/pangate/gateway/config"
	"github.com/pangate/pangate/gateway/jit"
	indexerconfig "github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/internal/gobuild"
	"github.com/pangate/pangate/internal/launch"
	reporterconfig "github.com/pangate/pangate/reporter/config"
	"github.com/pangate/pangate/schemas"
)

// This file starts pangate's own services for a test, as real processes on the local stack, through
// internal/launch (which the demo uses too): each Start* builds its binary once per test process, writes
// the service's own config type as YAML, waits until the service is ready and stops it when the test ends
// (printing its log when the test failed). Options are plain structs; their zero values give the setup
// most tests want, and Configure has the last word on the written config.

// Binary builds pkg ("./gateway", "./approver", "./indexer", "./deploy/issuer") once per test process and
// returns the binary's path.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	p, err := gobuild.Binary(pkg)
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	return p
}

// DevCert writes a self-signed certificate for 127.0.0.1 and localhost into dir (tls.crt, tls.key).
func DevCert(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	c, k, err := launch.DevCert(dir)
	if err != nil {
		t.Fatalf("stack: dev certificate in %s: %v", dir, err)
	}
	return c, k
}

// FreePort returns a loopback host:port nobody listens on right now.
func FreePort(t testing.TB) string {
	t.Helper()
	a, err := launch.FreeAddr()
	if err != nil {
		t.Fatalf("stack: free port: %v", err)
	}
	return a
}

// WriteConfig writes cfg (a service's config type) as YAML to path.
func WriteConfig(t testing.TB, path string, cfg any) {
	t.Helper()
	if err := launch.WriteConfig(path, cfg); err != nil {
		t.Fatalf("stack: %v", err)
	}
}

// Eventually polls f every 20ms until it returns true, failing the test after timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitTopics waits until every partition of topics has a leader, so no process races their creation.
func WaitTopics(t testing.TB, adm *kadm.Client, topics []schemas.TopicConfig) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for _, tc := range topics {
			d, err := adm.ListTopics(ctx, tc.Name)
			td, ok := d[tc.Name]
			if err != nil || !ok || td.Err != nil || int32(len(td.Partitions)) != tc.Partitions {
				ready = false
				break
			}
			for _, p := range td.Partitions {
				if p.Err != nil || p.Leader < 0 {
					ready = false
				}
			}
		}
		cancel()
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stack: topics %v have no leaders after 60s", topics)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StartIssuer runs the dev OIDC issuer (./deploy/issuer) as its own process for the test (flags: e.g. "-alg",
// "ES256"); it is killed at cleanup.
func StartIssuer(t testing.TB, flags ...string) *authtest.TestIssuer {
	t.Helper()
	return authtest.StartIssuerProcess(t, flags...)
}

// DecisionKeys writes an approver decision key pair (as `approver keygen` does) into dir and returns the
// private and public key files: the approver signs with the first, gateways and holders trust the second.
func DecisionKeys(t testing.TB, dir string) (keyFile, pubFile string) {
	t.Helper()
	keyFile, pubFile = filepath.Join(dir, "decision.pem"), filepath.Join(dir, "decision.pub.pem")
	if _, err := schemas.WriteKeyPair(keyFile, pubFile); err != nil {
		t.Fatalf("stack: decision keys: %v", err)
	}
	return keyFile, pubFile
}

// TestAudience is the token audience StartGateway's gateways accept unless GatewayOptions.Audience says
// otherwise.
const TestAudience = "pangate-test"

// GatewayOptions vary a gateway of StartGateway. Zero values: a fresh topic prefix, the stack's Kafka and
// PostgreSQL (target "pg", source address 127.0.0.2), a fresh dev issuer, TLS with a dev certificate,
// ack_timeout 3s, the pan/card_number column patterns, jit ttl 10m, debug logs.
type GatewayOptions struct {
	// Instance is the gateway's instance name (default "it-" + the prefix without its dot).
	Instance string
	// Prefix is the topic prefix, ending in "."; "" gets UniqueName(t, PrefixBase) + ".". Gateways (and a
	// restarted one) may share one.
	Prefix     string
	PrefixBase string // default "gw"
	// Brokers replace the stack's Kafka (e.g. a fault-injecting kfake cluster).
	Brokers []string
	// Database is the target's database (default: the stack's admin DSN's); AdminDSN the target's admin
	// DSN (default the stack's, with Database). Databases are more databases sessions may open.
	Database  string
	AdminDSN  string
	Databases []string
	// SourceAddress is the target's source_address (default 127.0.0.2, the address the stack's
	// PostgreSQL accepts JIT roles from; deploy/local/postgres.go).
	SourceAddress string
	// UpstreamSSLMode and UpstreamCAFile are the target's sslmode (default disable) and ca_file.
	UpstreamSSLMode string
	UpstreamCAFile  string
	// PlaintextLoopback is allow_plaintext_loopback.
	PlaintextLoopback bool
	// AckTimeout is kafka.ack_timeout (default 3s); StartupTimeout limits.startup_timeout (default 30s);
	// ResultBuffer limits.result_buffer_bytes (default 1 MiB).
	AckTimeout     time.Duration
	StartupTimeout time.Duration
	ResultBuffer   int
	// Policy is the policy file's content (written next to the config); PolicyFile names one instead.
	// Both empty: no policy_file.
	Policy     string
	PolicyFile string
	// Reads is audit.reads (strict, pipelined; "" the gateway's default).
	Reads string
	// JIT replaces the jit section (default {ttl: 10m}).
	JIT *jit.Config
	// MaskColumns are mask.columns (table.column tags); the column patterns are pan and card_number.
	MaskColumns []string
	// DecisionKeys, when set, enable approvals with these decision public key files.
	DecisionKeys []string
	// Issuer is the OIDC issuer the gateway trusts (nil: a fresh one, StartIssuer(t)); Audience its audience
	// (default TestAudience).
	Issuer   *authtest.TestIssuer
	Audience string
	// Binary is a prebuilt gateway binary (default: ./gateway built once).
	Binary string
	// LogLevel is -log-level (default debug: the most a gateway ever logs).
	LogLevel string
	// ShowLog filters each log line shown when the test fails (e.g. to redact test card numbers);
	// LogTail limits how many last lines are shown (0: all).
	ShowLog func(string) string
	LogTail int
	// OnLine sees every log line as it is read.
	OnLine func(string)
	// Configure changes the config last, after every option above.
	Configure func(*gatewayconfig.Config)
	// NoWait returns before the gateway serves; call WaitReady (start several, then wait for all).
	NoWait bool
}

// Gateway is a gateway process started for one test.
type Gateway struct {
	*launch.Gateway
	t        testing.TB
	Instance string
	Prefix   string // topic prefix
	Topic    string // audit topic
	Target   string // target name ("pg")
	Database string // the target's database
	Issuer   *authtest.TestIssuer
	Audience string
	KeyFile  string // checkpoint signing key
	PubKey   string // its public key file, for verifying the checkpoints ("" when Configure named another key)
	CAFile   string // the dev certificate, for sslmode=verify-full
	Options  GatewayOptions
}

// GatewayConfig is the config StartGateway writes for o, with every file it names made in dir: the
// gateway's real config type, for tests that change it further (or check Validate).
func GatewayConfig(t testing.TB, dir string, o *GatewayOptions) gatewayconfig.Config {
	t.Helper()
	env := Env(t)
	if o.Prefix == "" {
		base := o.PrefixBase
		if base == "" {
			base = "gw"
		}
		o.Prefix = UniqueName(t, base) + "."
	}
	if o.Instance == "" {
		o.Instance = "it-" + strings.TrimSuffix(o.Prefix, ".")
	}
	if o.Brokers == nil {
		o.Brokers = Brokers(t)
	}
	if o.AdminDSN == "" {
		o.AdminDSN = PostgresDSN(t)
		if o.Database != "" {
			if u, err := pgx.ParseConfig(o.AdminDSN); err == nil && u.Database != "" {
				o.AdminDSN = strings.Replace(o.AdminDSN, "/"+u.Database+"?", "/"+o.Database+"?", 1)
			}
		}
	}
	if o.Database == "" {
		o.Database = "postgres"
		if u, err := pgx.ParseConfig(o.AdminDSN); err == nil && u.Database != "" {
			o.Database = u.Database
		}
	}
	if o.Issuer == nil {
		o.Issuer = StartIssuer(t)
	}
	if o.Audience == "" {
		o.Audience = TestAudience
	}
	port, err := strconv.Atoi(env.PGPort)
	if err != nil {
		t.Fatalf("stack: PANGATE_PG_PORT %q is not a port number", env.PGPort)
	}
	cert, key := DevCert(t, dir)
	keyFile := filepath.Join(dir, "checkpoint.pem")
	if _, err := schemas.WriteKeyPair(keyFile, filepath.Join(dir, "checkpoint.pub.pem")); err != nil {
		t.Fatalf("stack: checkpoint key: %v", err)
	}
	c := gatewayconfig.Config{
		Instance:               o.Instance,
		Listen:                 "127.0.0.1:0",
		TLS:                    gatewayconfig.TLS{CertFile: cert, KeyFile: key},
		AllowPlaintextLoopback: o.PlaintextLoopback,
		Limits: gatewayconfig.Limits{StartupTimeout: or(o.StartupTimeout, 30*time.Second),
			ResultBufferBytes: or(o.ResultBuffer, 1<<20), MaxMessageBytes: 1 << 20},
		Targets: []gatewayconfig.Target{{Name: "pg", Host: env.PGHost, Port: port, Database: o.Database,
			SSLMode: or(o.UpstreamSSLMode, "disable"), CAFile: o.UpstreamCAFile, AdminDSN: o.AdminDSN,
			SourceAddress: or(o.SourceAddress, "127.0.0.2")}},
		Checkpoint: gatewayconfig.Checkpt{Interval: time.Second, KeyFile: keyFile},
		Auth:       auth.Config{Issuers: []auth.IssuerConfig{{URL: o.Issuer.URL, Audiences: []string{o.Audience}}}},
		JIT:        jit.Config{TTL: 10 * time.Minute},
		Mask:       gatewayconfig.Mask{ColumnPatterns: []string{"pan", "card_number"}, Columns: o.MaskColumns},
		Ops:        gatewayconfig.Ops{Listen: "127.0.0.1:0"},
		Audit:      gatewayconfig.Audit{Reads: o.Reads},
	}
	if len(o.Databases) > 0 {
		c.Targets[0].Databases = append([]string{o.Database}, o.Databases...)
	}
	c.Kafka.Brokers = o.Brokers
	c.Kafka.TopicPrefix = o.Prefix
	c.Kafka.AckTimeout = or(o.AckTimeout, 3*time.Second)
	if o.JIT != nil {
		c.JIT = *o.JIT
	}
	if len(o.DecisionKeys) > 0 {
		c.Approvals = gatewayconfig.Approvals{Enabled: true, DecisionKeys: o.DecisionKeys}
	}
	c.PolicyFile = o.PolicyFile
	if o.Policy != "" {
		c.PolicyFile = filepath.Join(dir, "policy.yaml")
		if err := os.WriteFile(c.PolicyFile, []byte(o.Policy), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if o.Configure != nil {
		o.Configure(&c)
	}
	return c
}

// StartGateway runs a gateway for the test with the config GatewayConfig makes of o, waits until it serves
// (unless o.NoWait) and stops it (SIGTERM) when the test ends.
func StartGateway(t testing.TB, o GatewayOptions) *Gateway {
	t.Helper()
	dir := t.TempDir()
	cfg := GatewayConfig(t, dir, &o)
	bin := o.Binary
	if bin == "" {
		bin = Binary(t, "./gateway")
	}
	g := &Gateway{t: t, Instance: cfg.Instance, Prefix: o.Prefix, Topic: o.Prefix + schemas.TopicAudit, Target: "pg",
		Database: o.Database, Issuer: o.Issuer, Audience: o.Audience, KeyFile: cfg.Checkpoint.KeyFile,
		CAFile: cfg.TLS.CertFile, Options: o}
	if cfg.Checkpoint.KeyFile == filepath.Join(dir, "checkpoint.pem") {
		g.PubKey = filepath.Join(dir, "checkpoint.pub.pem")
	}
	lg, err := launch.StartGateway(launch.GatewaySpec{Config: cfg, Common: launch.Common{Dir: dir, Bin: bin,
		Args: []string{"-log-level", or(o.LogLevel, "debug")}, OnLine: o.OnLine, NoWait: true}})
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	g.Gateway = lg
	t.Cleanup(func() {
		g.Stop()
		if showLogs(t) {
			g.showLog()
		}
	})
	if !o.NoWait {
		g.WaitReady()
	}
	return g
}

func (g *Gateway) showLog() {
	lines := g.Lines()
	if g.Options.LogTail > 0 {
		lines = lines[max(0, len(lines)-g.Options.LogTail):]
	}
	for _, l := range lines {
		if g.Options.ShowLog != nil {
			l = g.Options.ShowLog(l)
		}
		g.t.Log("gateway:", l)
	}
}

// WaitReady waits until the gateway serves (its "gateway serving" line), failing the test otherwise.
func (g *Gateway) WaitReady() {
	g.t.Helper()
	fatalIf(g.t, g.Gateway.WaitReady(), g.Options.ShowLog)
}

// Stop sends SIGTERM and waits (up to 40s, then SIGKILL) for the process and its last log lines.
func (g *Gateway) Stop() { g.Gateway.Stop(40 * time.Second) }

// Logs returns the gateway's log lines so far.
func (g *Gateway) Logs() []string { return g.Lines() }

// Restart starts the gateway again from the same config file (same instance, topics and keys; a new
// port), after Stop or Kill, and waits until it serves.
func (g *Gateway) Restart() {
	g.t.Helper()
	lg, err := g.Gateway.Restart()
	if err != nil {
		g.t.Fatalf("stack: %v", err)
	}
	g.Gateway = lg
	g.WaitReady()
}

// Token mints a token for subject with the gateway's audience, valid 10 minutes.
func (g *Gateway) Token(subject string) string {
	return g.Issuer.Mint(authtest.MintRequest{Subject: subject, Audience: []string{g.Audience}, TTLSeconds: 600})
}

// ApproverOptions vary an approver of StartApprover.
type ApproverOptions struct {
	Instance string
	// Prefix is the topic prefix of the approvals topic (required). Brokers default to the stack's.
	Prefix  string
	Brokers []string
	// Listen defaults to a free loopback port.
	Listen string
	// Slack: the fake's URL, the signing secret, channel (default C0APPROVALS) and bot token
	// (default xoxb-integration).
	SlackURL      string
	SigningSecret string
	Channel       string
	Approvers     []string
	TerminalUsers map[string]string
	ClaimLease    time.Duration
	ExpiryGrace   time.Duration
	// DecisionKeyFile is the decision signing key (DecisionKeys).
	DecisionKeyFile string
	// LogLevel defaults to debug.
	LogLevel string
	// Configure changes the config last.
	Configure func(*approverconfig.Config)
	// OnLine sees every log line; LogTail lines are shown when the test fails (default 40).
	OnLine  func(string)
	LogTail int
	// Dir holds the config file (default a fresh t.TempDir()).
	Dir string
	// NoWait returns before /readyz answers 200; call WaitReady.
	NoWait bool
}

// Approver is an approver process started for one test.
type Approver struct {
	*launch.Approver
	t testing.TB
}

// ApproverConfig is the config StartApprover writes for o.
func ApproverConfig(t testing.TB, o ApproverOptions) approverconfig.Config {
	t.Helper()
	if o.Brokers == nil {
		o.Brokers = Brokers(t)
	}
	c := approverconfig.Config{
		Instance: o.Instance,
		Listen:   o.Listen,
		Slack: approverconfig.Slack{Token: "xoxb-integration", SigningSecret: o.SigningSecret,
			Channel: or(o.Channel, "C0APPROVALS"), APIURL: o.SlackURL},
		Approvers:       o.Approvers,
		TerminalUsers:   o.TerminalUsers,
		ClaimLease:      o.ClaimLease,
		ExpiryGrace:     o.ExpiryGrace,
		LogLevel:        or(o.LogLevel, "debug"),
		DecisionKeyFile: o.DecisionKeyFile,
	}
	c.Kafka.Brokers = o.Brokers
	c.Kafka.TopicPrefix = o.Prefix
	if o.Configure != nil {
		o.Configure(&c)
	}
	return c
}

// StartApprover runs an approver for the test, waits until its /readyz answers 200 (unless o.NoWait) and
// kills it (SIGKILL) when the test ends.
func StartApprover(t testing.TB, o ApproverOptions) *Approver {
	t.Helper()
	if o.Listen == "" {
		o.Listen = FreePort(t)
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	cfg := ApproverConfig(t, o)
	la, err := launch.StartApprover(launch.ApproverSpec{Config: cfg, Common: launch.Common{Dir: o.Dir,
		Bin: Binary(t, "./approver"), OnLine: o.OnLine, NoWait: true}})
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	a := &Approver{Approver: la, t: t}
	tail := or(o.LogTail, 40)
	t.Cleanup(func() {
		a.Kill()
		if showLogs(t) {
			t.Logf("log of approver %s (last lines):\n%s", cfg.Instance, a.Tail(tail))
		}
	})
	if !o.NoWait {
		a.WaitReady()
	}
	return a
}

// WaitReady waits until the approver's /readyz answers 200, failing the test otherwise.
func (a *Approver) WaitReady() {
	a.t.Helper()
	if err := a.Approver.WaitReady(); err != nil {
		a.t.Fatalf("stack: %v", err)
	}
}

// IndexerOptions vary an indexer of StartIndexer. The indexer writes as the stack's ClickHouse operator
// (the stack's indexer user may only use database pangate), so each test can have its own database.
type IndexerOptions struct {
	Instance string // default "indexer"
	// Prefix is the topic prefix it reads (required); Brokers default to the stack's.
	Prefix  string
	Brokers []string
	// Group is the consumer group (default UniqueName(t, "ixg")); InstanceID its static member id
	// (default Group + "-" + Instance).
	Group      string
	InstanceID string
	// Database is the ClickHouse database (required: a test's own).
	Database string
	// SessionTimeout is kafka.session_timeout (default the indexer's).
	SessionTimeout time.Duration
	// FlushInterval defaults to 200ms; BatchSize to the indexer's.
	FlushInterval time.Duration
	BatchSize     int
	// LogLevel defaults to debug (for "batch written").
	LogLevel string
	// Configure changes the config last (it starts from the indexer's own defaults).
	Configure func(*indexerconfig.Config)
	// OnLine sees every log line; ShowLog filters the lines shown when the test fails (LogTail of them,
	// default 40).
	OnLine  func(string)
	ShowLog func(string) string
	LogTail int
	// NoWait returns before the "indexer started" line; call WaitReady.
	NoWait bool
}

// Indexer is an indexer process started for one test.
type Indexer struct {
	*launch.Indexer
	t       testing.TB
	Options IndexerOptions
}

// IndexerConfig is the config StartIndexer writes for o: the indexer's defaults with o applied.
func IndexerConfig(t testing.TB, o *IndexerOptions) indexerconfig.Config {
	t.Helper()
	ep := Env(t)
	if o.Brokers == nil {
		o.Brokers = Brokers(t)
	}
	o.Instance = or(o.Instance, "indexer")
	if o.Group == "" {
		o.Group = UniqueName(t, "ixg")
	}
	c := indexerconfig.Defaults()
	c.Instance = o.Instance
	c.Listen = "127.0.0.1:0"
	c.LogLevel = or(o.LogLevel, "debug")
	c.Kafka.Brokers = o.Brokers
	c.Kafka.TopicPrefix = o.Prefix
	c.Kafka.Group = o.Group
	c.Kafka.InstanceID = or(o.InstanceID, o.Group+"-"+o.Instance)
	if o.SessionTimeout > 0 {
		c.Kafka.SessionTimeout = o.SessionTimeout
	}
	c.ClickHouse.Addrs = []string{ep.ClickHouseAddr}
	c.ClickHouse.Database = o.Database
	c.ClickHouse.User, c.ClickHouse.Password = ep.ClickHouseUser, ep.ClickHousePassword
	c.ClickHouse.MigrateUser, c.ClickHouse.MigratePassword = ep.ClickHouseUser, ep.ClickHousePassword
	c.Batch.FlushInterval = or(o.FlushInterval, 200*time.Millisecond)
	if o.BatchSize > 0 {
		c.Batch.Size = o.BatchSize
	}
	c.Retention.Disabled = true
	if o.Configure != nil {
		o.Configure(&c)
	}
	return c
}

// StartIndexer runs an indexer for the test, waits for its "indexer started" line (unless o.NoWait) and
// stops it (SIGTERM, then SIGKILL after 20s) when the test ends. The test holds ClickHouse (see the package
// doc) until it ends.
func StartIndexer(t testing.TB, o IndexerOptions) *Indexer {
	t.Helper()
	_ = ClickHouse(t)
	cfg := IndexerConfig(t, &o)
	li, err := launch.StartIndexer(launch.IndexerSpec{Config: cfg, Common: launch.Common{Dir: t.TempDir(),
		Bin: Binary(t, "./indexer"), OnLine: o.OnLine, NoWait: true}})
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	ix := &Indexer{Indexer: li, t: t, Options: o}
	t.Cleanup(func() {
		ix.Stop()
		if showLogs(t) {
			l := ix.Tail(or(o.LogTail, 40))
			if o.ShowLog != nil {
				l = o.ShowLog(l)
			}
			t.Logf("log of indexer %s (last lines):\n%s", cfg.Instance, l)
		}
	})
	if !o.NoWait {
		ix.WaitReady()
	}
	return ix
}

// WaitReady waits for the indexer's "indexer started" line, failing the test otherwise.
func (ix *Indexer) WaitReady() {
	ix.t.Helper()
	fatalIf(ix.t, ix.Indexer.WaitReady(), ix.Options.ShowLog)
}

// Stop sends SIGTERM and waits (up to 20s, then SIGKILL).
func (ix *Indexer) Stop() { ix.Indexer.Stop(20 * time.Second) }

// fatalIf fails the test with err (through filter, which may redact test card numbers from a log tail).
func fatalIf(t testing.TB, err error, filter func(string) string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	if filter != nil {
		msg = filter(msg)
	}
	t.Fatalf("stack: %s", msg)
}

// showLogs says whether a service's log goes to the test log at cleanup: when the test failed, or always
// with PANGATE_TEST_SHOW_LOGS set.
func showLogs(t testing.TB) bool { return t.Failed() || os.Getenv("PANGATE_TEST_SHOW_LOGS") != "" }

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// PolicyOptions vary the policy PCIPolicy writes.
type PolicyOptions struct {
	// Source is the policy to start from (default deploy/policy/pci.yaml of the module).
	Source string
	// Grant names the one grant that replaces the policy's grants: Roles to any identity (when: 'true').
	Grant string
	Roles []string
	// Rules are statement rules (YAML flow maps, e.g. "{name: allow-ddl, when: '...', action: allow}") put
	// after the policy's leading deny rules, before its first other rule.
	Rules []string
}

// PCIPolicy writes dir/policy.yaml: the default policy (deploy/policy/pci.yaml) with its grants replaced
// by one grant of o.Roles and o.Rules inserted, its rules, default and approvals otherwise unchanged — the
// policy attacks are judged against. It returns the file's path.
func PCIPolicy(t testing.TB, dir string, o PolicyOptions) string {
	t.Helper()
	src := o.Source
	if src == "" {
		root, err := ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		src = filepath.Join(root, "deploy", "policy", "pci.yaml")
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("stack: %s: %v", src, err)
	}
	m := doc.Content[0]
	grant := &yaml.Node{Kind: yaml.SequenceNode}
	if err := grant.Encode([]map[string]any{{"name": o.Grant, "when": "true", "roles": o.Roles}}); err != nil {
		t.Fatal(err)
	}
	replaced := false
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "grants" {
			m.Content[i+1] = grant
			replaced = true
		}
	}
	if !replaced {
		t.Fatalf("stack: %s has no grants section", src)
	}
	for i := 0; len(o.Rules) > 0 && i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "rules" {
			continue
		}
		var extra yaml.Node
		if err := yaml.Unmarshal([]byte("- "+strings.Join(o.Rules, "\n- ")), &extra); err != nil {
			t.Fatalf("stack: policy rules %v: %v", o.Rules, err)
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

// ReporterOptions vary a reporter command of RunReporter.
type ReporterOptions struct {
	// Dir holds reporter.yaml (default a fresh t.TempDir()).
	Dir string
	// Env is appended to the environment (the caller's PANGATE_ variables are dropped first).
	Env []string
	// Timeout bounds the run (default 3 minutes).
	Timeout time.Duration
	// Binary is a prebuilt reporter (default ./reporter built once).
	Binary string
}

// RunReporter runs the reporter command sub (generate, verify, transcript, review …) with cfg — the
// reporter's own config type, from reporterconfig.Defaults() — written as its -config file, then args, and
// returns its exit status and output. The reporter is a command, not a daemon: a non-zero exit status is
// the caller's to judge; the test fails only when the binary cannot be built or started or overruns.
func RunReporter(t testing.TB, o ReporterOptions, cfg reporterconfig.Config, sub string, args ...string) launch.Result {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	bin := o.Binary
	if bin == "" {
		bin = Binary(t, "./reporter")
	}
	ctx, cancel := context.WithTimeout(context.Background(), or(o.Timeout, 3*time.Minute))
	defer cancel()
	r, err := launch.RunReporter(ctx, launch.Common{Dir: o.Dir, Bin: bin, Env: o.Env}, cfg, sub, args...)
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("stack: reporter %s did not exit within %s:\n%s", sub, or(o.Timeout, 3*time.Minute), r.Output())
	}
	return r
}
