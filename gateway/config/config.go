// Package config is the gateway's configuration: one YAML file, PANGATE_GATEWAY_* environment overrides,
// defaults, and a Validate that says in words what to fix before anything starts. Loading (strict YAML,
// then the environment) is internal/configload's, the kafka block is internal/kafka's, as for every
// pangate service (docs/configuration.md).
//
// Environment overrides name a scalar field by its YAML path in upper case joined with '_', after the
// prefix: PANGATE_GATEWAY_LISTEN, PANGATE_GATEWAY_KAFKA_BROKERS (comma-separated list),
// PANGATE_GATEWAY_KAFKA_SASL_PASSWORD_FILE, PANGATE_GATEWAY_CHECKPOINT_INTERVAL (a Go duration). Lists of
// structures (targets, issuers) are set in the file only.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/pangate/pangate/gateway/auth"
	"github.com/pangate/pangate/gateway/jit"
	"github.com/pangate/pangate/internal/configload"
	"github.com/pangate/pangate/internal/kafka"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "PANGATE_GATEWAY_"

// ErrInvalid is wrapped by every error Validate returns.
var ErrInvalid = errors.New("gateway config")

// Config is the whole gateway configuration.
type Config struct {
	// Instance names this gateway in events and checkpoints (default: the host name).
	Instance string `yaml:"instance"`
	// Listen is the pgwire listen address (default 127.0.0.1:6432).
	Listen string `yaml:"listen"`
	TLS    TLS    `yaml:"tls"`
	// AllowPlaintextLoopback lets clients on a loopback address connect without TLS (development only);
	// their token then travels in the clear on the loopback interface.
	AllowPlaintextLoopback bool `yaml:"allow_plaintext_loopback"`
	// CancelKeyFile holds the secret (at least 32 bytes) every instance behind one load balancer shares, so
	// that a CancelRequest reaching any instance can be decoded and forwarded. Empty: a random key per
	// process (cancel works only when it reaches the instance that served the session).
	CancelKeyFile string   `yaml:"cancel_key_file"`
	Limits        Limits   `yaml:"limits"`
	Targets       []Target `yaml:"targets"`
	Kafka         Kafka    `yaml:"kafka"`
	Checkpoint    Checkpt  `yaml:"checkpoint"`
	// PolicyFile is the policy (gateway/policy format). Empty: every authenticated identity may use only the
	// role it asks for and every statement is allowed (development only).
	PolicyFile string      `yaml:"policy_file"`
	Auth       auth.Config `yaml:"auth"`
	JIT        jit.Config  `yaml:"jit"`
	Mask       Mask        `yaml:"mask"`
	Ops        Ops         `yaml:"ops"`
	// Approvals turns on holds: statements the policy holds wait for a decision on the approvals topic.
	// Off: held statements are refused ("approval service not configured").
	Approvals Approvals `yaml:"approvals"`
	Audit     Audit     `yaml:"audit"`
}

// Audit says when a side-effect-free read's result may be released (docs/invariants.md, invariant 1).
type Audit struct {
	// Reads is "strict" (default): a read's result reaches the client only after its event is
	// acknowledged; or "pipelined": the result is released at once and the session's next statement,
	// COMMIT and session end wait for the acknowledgement instead. Pipelined reads lower latency; a
	// gateway crash can then lose the record of at most one read per session (docs/policy.md).
	Reads string `yaml:"reads"`
}

// Audit.Reads values.
const (
	ReadsStrict    = "strict"
	ReadsPipelined = "pipelined"
)

// Approvals configures the approval client.
type Approvals struct {
	Enabled bool `yaml:"enabled"`
	// DecisionKeys are the approver's decision public key files (PKIX PEM, from `approver keygen`). An
	// approved or denied decision counts only if one of them signed it; list two during a key rotation
	// (docs/approvals.md). Required when enabled.
	DecisionKeys []string `yaml:"decision_keys"`
}

// TLS is the server certificate clients see.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Limits bound what one client can make the gateway hold.
type Limits struct {
	// MaxMessageBytes is the largest frontend or backend message accepted (default 1 MiB... 64 MiB max).
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// StartupTimeout bounds TLS handshake, startup and authentication (default 15s).
	StartupTimeout time.Duration `yaml:"startup_timeout"`
	// IdleTimeout ends a session with no client message for this long (default 0: none).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConnections is the most client connections served at once (default 1000).
	MaxConnections int `yaml:"max_connections"`
	// MaxUnauthenticated is the most of those that have not authenticated yet (default 64): more are
	// refused at once with FATAL 53300, so idle sockets cannot fill max_connections for startup_timeout
	// (docs/deploy.md, "Pre-authentication limits").
	MaxUnauthenticated int `yaml:"max_unauthenticated"`
	// CancelRate is how many CancelRequests per second the gateway forwards, over all clients (default 50),
	// with bursts of CancelBurst (default 100); more are dropped silently, as PostgreSQL drops a cancel with
	// a wrong key. Each forwarded cancel opens a connection to every target.
	CancelRate  float64 `yaml:"cancel_rate"`
	CancelBurst int     `yaml:"cancel_burst"`
	// ResultBufferBytes is how much of a read's result is held while its query.executed event is written
	// (default 1 MiB); past it the event is written with the outcome known so far and the rest streams.
	ResultBufferBytes int `yaml:"result_buffer_bytes"`
}

// Target is one protected PostgreSQL server, named by clients as role@target.
type Target struct {
	Name string `yaml:"name"`
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// Database used when the client names none (default: the target name).
	Database string `yaml:"database"`
	// SSLMode for the upstream connection: disable, require, verify-full (default disable on loopback
	// hosts, verify-full otherwise).
	SSLMode string `yaml:"sslmode"`
	// CAFile verifies the upstream server certificate (verify-full).
	CAFile string `yaml:"ca_file"`
	// AdminDSN is a connection with CREATEROLE (for JIT roles) and pg_catalog read access (for masking).
	// Prefer AdminDSNFile or the env override; it is never logged.
	AdminDSN     string `yaml:"admin_dsn"`
	AdminDSNFile string `yaml:"admin_dsn_file"`
	// SourceAddress is the local IP address the gateway's upstream connections (as JIT roles) come from,
	// so pg_hba.conf can admit JIT roles only from it (docs/deploy.md); on one machine, a distinct loopback
	// address such as 127.0.0.2. Empty: the operating system chooses. It is also the address the reaper
	// counts as "served by a gateway" (jit.gateway_addrs).
	SourceAddress string `yaml:"source_address"`
	// Databases a session of this target may open (the startup packet's database). Default: Database
	// alone. Any other is refused with FATAL 42501 naming it, before a JIT role is made; a grant of the
	// policy can narrow the list further (docs/policy.md).
	Databases []string `yaml:"databases"`
}

// Kafka is the audit log: the client block every pangate service shares (brokers, topic_prefix, tls,
// sasl; see internal/kafka), which secures every Kafka client of the gateway alike (the audit producer,
// the approval decision tail and the topic check at start), plus the producer's own settings.
type Kafka struct {
	kafka.Config `yaml:",inline"`
	// AckTimeout is how long a statement waits for its event's acknowledgement before it is refused
	// (default 5s).
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// Linger is the producer linger (default 0: send at once; batches still form under load).
	Linger time.Duration `yaml:"linger"`
	// EnsureTopics creates missing topics at start (default true).
	EnsureTopics *bool `yaml:"ensure_topics"`
}

// Checkpt configures signed checkpoints.
type Checkpt struct {
	// Interval between checkpoints (default 60s).
	Interval time.Duration `yaml:"interval"`
	// KeyFile is the Ed25519 private key (PEM PKCS#8, from `gateway keygen`). Required.
	KeyFile string `yaml:"key_file"`
}

// Mask configures result and text masking (see internal/mask).
type Mask struct {
	Shape              string   `yaml:"shape"`
	ColumnPatterns     []string `yaml:"column_patterns"`
	Columns            []string `yaml:"columns"`
	FingerprintKeyFile string   `yaml:"fingerprint_key_file"`
	SampleRows         int      `yaml:"sample_rows"`
	SampleBytes        int      `yaml:"sample_bytes"`
}

// Ops is the metrics and health endpoint.
type Ops struct {
	// Listen for /metrics, /healthz and /readyz (default 127.0.0.1:9187; "off" disables).
	Listen string `yaml:"listen"`
}

// Load reads path (may be empty: defaults and environment only), applies environment overrides from
// environ (os.Environ() form) and defaults. It does not validate: call Validate.
func Load(path string, environ []string) (Config, error) {
	var c Config
	if err := configload.Load(path, &c, configload.Options{Prefix: EnvPrefix, Environ: environ, Err: ErrInvalid}); err != nil {
		return c, err
	}
	c.defaults()
	return c, nil
}

func (c *Config) defaults() {
	if c.Instance == "" {
		h, _ := os.Hostname()
		if h == "" {
			h = "gateway"
		}
		c.Instance = h
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:6432"
	}
	if c.Limits.MaxMessageBytes == 0 {
		c.Limits.MaxMessageBytes = 1 << 20
	}
	if c.Limits.StartupTimeout == 0 {
		c.Limits.StartupTimeout = 15 * time.Second
	}
	if c.Limits.MaxConnections == 0 {
		c.Limits.MaxConnections = 1000
	}
	if c.Limits.MaxUnauthenticated == 0 {
		c.Limits.MaxUnauthenticated = 64
	}
	if c.Limits.CancelRate == 0 {
		c.Limits.CancelRate = 50
	}
	if c.Limits.CancelBurst == 0 {
		c.Limits.CancelBurst = 100
	}
	if c.Limits.ResultBufferBytes == 0 {
		c.Limits.ResultBufferBytes = 1 << 20
	}
	if c.Kafka.AckTimeout == 0 {
		c.Kafka.AckTimeout = 5 * time.Second
	}
	if c.Kafka.EnsureTopics == nil {
		t := true
		c.Kafka.EnsureTopics = &t
	}
	if c.Checkpoint.Interval == 0 {
		c.Checkpoint.Interval = 60 * time.Second
	}
	if c.Ops.Listen == "" {
		c.Ops.Listen = "127.0.0.1:9187"
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		if t.Port == 0 {
			t.Port = 5432
		}
		if t.Database == "" {
			t.Database = t.Name
		}
		if t.SSLMode == "" {
			t.SSLMode = "verify-full"
			if isLoopbackHost(t.Host) {
				t.SSLMode = "disable"
			}
		}
	}
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Validate reports every problem found, each naming the field, the value and what to do.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	switch c.Audit.Reads {
	case "", ReadsStrict, ReadsPipelined:
	default:
		bad("audit.reads %q: use %q (results after their event is acknowledged) or %q (results at once, the next statement waits)", c.Audit.Reads, ReadsStrict, ReadsPipelined)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen %q is not host:port (e.g. 0.0.0.0:6432)", c.Listen)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls: set both cert_file and key_file, or neither")
	}
	if c.TLS.CertFile == "" && !c.AllowPlaintextLoopback {
		bad("tls.cert_file and tls.key_file are required (clients send their token as the password); for loopback development only, set allow_plaintext_loopback: true")
	}
	for _, f := range []struct{ name, path string }{{"tls.cert_file", c.TLS.CertFile}, {"tls.key_file", c.TLS.KeyFile}, {"checkpoint.key_file", c.Checkpoint.KeyFile}, {"cancel_key_file", c.CancelKeyFile}, {"policy_file", c.PolicyFile}, {"mask.fingerprint_key_file", c.Mask.FingerprintKeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			bad("%s %q cannot be read: %v", f.name, f.path, err)
		}
	}
	if c.Checkpoint.KeyFile == "" {
		bad("checkpoint.key_file is required: create one with `gateway keygen -out checkpoint.pem`")
	}
	for _, t := range c.Targets {
		if t.SourceAddress != "" && net.ParseIP(t.SourceAddress) == nil {
			bad("targets[%s].source_address %q is not an IP address (e.g. 127.0.0.2 on one machine)", t.Name, t.SourceAddress)
		}
	}
	if c.Approvals.Enabled && len(c.Approvals.DecisionKeys) == 0 {
		bad("approvals.decision_keys is empty: list the approver's decision public key file(s) (`approver keygen` writes decision.pub.pem); unsigned decisions are never obeyed")
	}
	for _, p := range c.Approvals.DecisionKeys {
		if _, err := os.Stat(p); err != nil {
			bad("approvals.decision_keys %q cannot be read: %v", p, err)
		}
	}
	if c.Checkpoint.Interval < 100*time.Millisecond {
		bad("checkpoint.interval %s is too short: use at least 100ms (default 60s)", c.Checkpoint.Interval)
	}
	for _, p := range c.Kafka.Problems(EnvPrefix) {
		bad("%s", p)
	}
	if c.Kafka.AckTimeout < time.Second || c.Kafka.AckTimeout > 2*time.Minute {
		bad("kafka.ack_timeout %s: use between 1s and 2m (default 5s; the Kafka client needs at least 1s)", c.Kafka.AckTimeout)
	}
	if c.Limits.MaxMessageBytes < 4096 || c.Limits.MaxMessageBytes > 64<<20 {
		bad("limits.max_message_bytes %d: use between 4096 and 67108864", c.Limits.MaxMessageBytes)
	}
	if c.Limits.MaxConnections < 1 {
		bad("limits.max_connections %d must be at least 1", c.Limits.MaxConnections)
	}
	if c.Limits.MaxUnauthenticated < 1 {
		bad("limits.max_unauthenticated %d must be at least 1 (default 64)", c.Limits.MaxUnauthenticated)
	}
	if c.Limits.CancelRate <= 0 || c.Limits.CancelBurst < 1 {
		bad("limits.cancel_rate %g and limits.cancel_burst %d must be positive (defaults 50 and 100)", c.Limits.CancelRate, c.Limits.CancelBurst)
	}
	if c.Limits.ResultBufferBytes < 0 {
		bad("limits.result_buffer_bytes %d must not be negative", c.Limits.ResultBufferBytes)
	}
	if c.Limits.StartupTimeout < 0 || c.Limits.IdleTimeout < 0 {
		bad("limits: timeouts must not be negative")
	}
	if len(c.Targets) == 0 {
		bad("targets is empty: name at least one PostgreSQL server (name, host, port, admin_dsn)")
	}
	seen := map[string]bool{}
	for i, t := range c.Targets {
		if t.Name == "" || strings.ContainsAny(t.Name, "@ \t") {
			bad("targets[%d].name %q: use a non-empty name without '@' or spaces (clients connect as role@name)", i, t.Name)
		}
		if seen[t.Name] {
			bad("targets[%d].name %q is used twice", i, t.Name)
		}
		seen[t.Name] = true
		if t.Host == "" {
			bad("targets[%d] (%s): host is empty", i, t.Name)
		}
		if t.Port < 1 || t.Port > 65535 {
			bad("targets[%d] (%s): port %d out of range", i, t.Name, t.Port)
		}
		switch t.SSLMode {
		case "disable", "require", "verify-full":
		default:
			bad("targets[%d] (%s): sslmode %q: use disable, require or verify-full", i, t.Name, t.SSLMode)
		}
		if t.AdminDSN == "" && t.AdminDSNFile == "" {
			bad("targets[%d] (%s): admin_dsn (or admin_dsn_file) is required for JIT roles and the column catalog", i, t.Name)
		}
	}
	switch c.Mask.Shape {
	case "", "first6last4", "first8last4", "last4", "full":
	default:
		bad("mask.shape %q: use first6last4, first8last4, last4 or full", c.Mask.Shape)
	}
	if err := c.Auth.Validate(); err != nil {
		bad("%v", err)
	}
	if len(c.Auth.Issuers) == 0 {
		bad("auth.issuers is empty: trust at least one OIDC issuer (url, audiences)")
	}
	if err := c.JIT.Validate(); err != nil {
		bad("%v", err)
	}
	return errors.Join(errs...)
}

// Target returns the target named name.
func (c Config) Target(name string) (Target, bool) {
	for _, t := range c.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}

// ResolveAdminDSN returns the target's admin DSN, reading AdminDSNFile if set.
func (t Target) ResolveAdminDSN() (string, error) {
	if t.AdminDSNFile != "" {
		b, err := os.ReadFile(t.AdminDSNFile)
		if err != nil {
			return "", fmt.Errorf("target %s: read admin_dsn_file: %w", t.Name, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return t.AdminDSN, nil
}
