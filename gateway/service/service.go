// Package service runs the gateway: from a validated configuration it builds the parts (audit producer,
// policy, OIDC verifier, per-target JIT manager and column catalog, approval holder, proxy, checkpointer,
// ops server) and serves pgwire until its context ends. gateway/main.go only parses flags, loads the
// configuration and calls Run.
//
//	config ─▶ topics ─▶ audit producer ─▶ run chain (gateway.started … gateway.stopped)
//	        ─▶ policy watcher, OIDC verifier, targets (admin pool, JIT manager, catalog, reaper)
//	        ─▶ holder (approvals) ─▶ proxy.Serve ◀── clients
//	        ─▶ checkpointer, ops server (/healthz /readyz /metrics /debug/pprof/)
package service

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/gateway/auth"
	"github.com/pangate/pangate/gateway/catalog"
	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/gateway/config"
	"github.com/pangate/pangate/gateway/hold"
	"github.com/pangate/pangate/gateway/jit"
	"github.com/pangate/pangate/gateway/policy"
	"github.com/pangate/pangate/gateway/proxy"
	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/internal/ops"
	"github.com/pangate/pangate/schemas"
)

// Options are what Run needs besides the configuration.
type Options struct {
	// Version is written in gateway.started and every event's source.
	Version string
	// ConfigHash is the SHA-256 (hex) of the configuration file, recorded in gateway.started; empty without
	// a file. See HashFile.
	ConfigHash string
}

// ConfigError is a configuration mistake found while starting (a key file that does not parse, a
// cancel key too short): the command prints it as text and exits 2.
type ConfigError struct{ Err error }

func (c ConfigError) Error() string { return c.Err.Error() }
func (c ConfigError) Unwrap() error { return c.Err }

// HashFile returns the hex SHA-256 of the file at path, or "" when path is empty or unreadable.
func HashFile(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Run serves cfg (already validated: config.Config.Validate) until ctx ends, then shuts down: sessions
// end (their roles are revoked), a last checkpoint and gateway.stopped are written. It logs "gateway
// serving" once the pgwire listener accepts. A ConfigError means the configuration must change.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, o Options) error {
	version, configHash := o.Version, o.ConfigHash
	started := time.Now()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	source := schemas.Source{Instance: cfg.Instance, Version: version}

	key, err := audit.LoadKey(cfg.Checkpoint.KeyFile)
	if err != nil {
		return ConfigError{fmt.Errorf("checkpoint.key_file: %w", err)}
	}
	var serverTLS *tls.Config
	if cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return ConfigError{fmt.Errorf("tls.cert_file / tls.key_file: %w", err)}
		}
		serverTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var cancelKey []byte
	if cfg.CancelKeyFile != "" {
		if cancelKey, err = os.ReadFile(cfg.CancelKeyFile); err != nil {
			return ConfigError{fmt.Errorf("cancel_key_file: %w", err)}
		}
		if len(cancelKey) < 32 {
			return ConfigError{fmt.Errorf("cancel_key_file %s holds %d bytes; use at least 32 random bytes (head -c 32 /dev/urandom > FILE)", cfg.CancelKeyFile, len(cancelKey))}
		}
	}
	maskCfg := mask.Config{Shape: mask.Shape(cfg.Mask.Shape), ColumnPatterns: cfg.Mask.ColumnPatterns, Columns: cfg.Mask.Columns,
		SampleRows: cfg.Mask.SampleRows, SampleBytes: cfg.Mask.SampleBytes}
	if cfg.Mask.FingerprintKeyFile != "" {
		if maskCfg.FingerprintKey, err = os.ReadFile(cfg.Mask.FingerprintKeyFile); err != nil {
			return ConfigError{fmt.Errorf("mask.fingerprint_key_file: %w", err)}
		}
	}
	masker, err := mask.New(maskCfg)
	if err != nil {
		return ConfigError{fmt.Errorf("mask: %w", err)}
	}

	// Kafka: topics, producer, the run's own chain.
	auditTopic := cfg.Kafka.Topic(schemas.TopicAudit)
	// Every Kafka client (topic check, producer, decision tail) connects the same way (TLS, SASL).
	kafkaOpts, err := cfg.Kafka.Opts()
	if err != nil {
		return ConfigError{err}
	}
	if *cfg.Kafka.EnsureTopics {
		if err := ensureTopics(ctx, cfg, log); err != nil {
			return err
		}
	}
	prod, err := audit.New(audit.Config{Brokers: cfg.Kafka.Brokers, Topic: auditTopic, AckTimeout: cfg.Kafka.AckTimeout, Linger: cfg.Kafka.Linger}, reg, kafkaOpts...)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		prod.Close(cctx)
	}()
	runChain := prod.Run(schemas.NewID(), source)

	// Policy.
	var pol proxy.Policy = proxy.AllowAll{}
	policyHash, policySource, policyRules := proxy.AllowAllHash, "allow-all (no policy_file: development only)", int64(0)
	if cfg.PolicyFile != "" {
		w, err := policy.NewWatcher(policy.WatcherConfig{Path: cfg.PolicyFile, Signal: true, OnReload: func(r policy.Reload) {
			if r.Err != nil {
				log.Error("policy reload refused; the previous policy stays in force", "err", r.Err)
				return
			}
			if r.Changed {
				emitRetry(ctx, runChain, log, schemas.TypePolicyLoaded, schemas.PolicyLoaded{Hash: r.Policy.Hash(), Source: r.Policy.Name(), Rules: int64(r.Policy.Rules())})
			}
		}})
		if err != nil {
			return err
		}
		go func() { _ = w.Run(ctx) }()
		pol = policyAdapter{w}
		policyHash, policySource, policyRules = w.Current().Hash(), w.Current().Name(), int64(w.Current().Rules())
	}
	verifier, err := auth.New(ctx, cfg.Auth)
	if err != nil {
		return err
	}

	reaped := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pangate_gateway_jit_reaped_total",
		Help: "Expired JIT roles the reaper dropped, by target, reason (reaped, reaped_sessions_ended) and success."}, []string{"target", "reason", "ok"})
	reg.MustRegister(reaped)
	// Targets: admin pool, JIT manager, column catalog.
	var targets []proxy.Target
	var targetNames, cardholderTables []string
	var reapers []func() // started once gateway.started is acknowledged
	checks := map[string]ops.Check{"kafka": prod.Ping}
	for _, t := range cfg.Targets {
		dsn, err := t.ResolveAdminDSN()
		if err != nil {
			return ConfigError{err}
		}
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return fmt.Errorf("target %s: admin_dsn: %w", t.Name, err)
		}
		defer pool.Close()
		jc := cfg.JIT
		if jc.Instance == "" {
			jc.Instance = cfg.Instance
		}
		if len(jc.GatewayAddrs) == 0 && t.SourceAddress != "" {
			jc.GatewayAddrs = []string{t.SourceAddress}
		}
		mgr, err := jit.New(jc, pool)
		if err != nil {
			return fmt.Errorf("target %s: %w", t.Name, err)
		}
		cats := catalog.NewSet(catalog.Config{}, dsn)
		defer cats.Close()
		upTLS, err := upstreamTLS(t)
		if err != nil {
			return err
		}
		pt := proxy.Target{Name: t.Name, Host: t.Host, Port: t.Port, Database: t.Database, Databases: t.Databases, TLS: upTLS,
			Credentials: mgr, Catalog: catalogFunc(cats), Facts: factsFunc(cats), Planner: plannerFunc(cats)}
		if t.SourceAddress != "" {
			// pg_hba.conf admits JIT roles only from this address (docs/deploy.md).
			d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(t.SourceAddress)}}
			pt.Dial = d.DialContext
		}
		targets = append(targets, pt)
		targetNames = append(targetNames, t.Name)
		checks["target "+t.Name] = pool.Ping
		tname := t.Name
		// A session whose gateway died without session.ended is recorded (session.reaped) before its role goes.
		mgr.OnOrphan(func(ctx context.Context, o jit.Orphan) error {
			wrote, err := prod.RecordReaped(ctx, runChain, audit.Orphan{Session: o.Session, Role: o.Role, Target: tname, Instance: o.Instance, Issued: o.Issued})
			if wrote {
				log.Warn("session ended without session.ended (its gateway was killed or crashed): recorded session.reaped", "session", o.Session, "role", o.Role, "gateway", o.Instance)
			}
			return err
		})
		// The reaper writes on the run chain (credential.revoked, session.reaped): it starts once
		// gateway.started is in the log, so that the run chain begins with it.
		reapers = append(reapers, func() {
			go mgr.Run(ctx, func(r jit.Reaped) {
				cr := schemas.CredentialRevoked{Role: r.Role, Target: tname, Reason: string(schemas.RevokeReaped)}
				if r.Terminated > 0 {
					// Backends still connected past the live grace, or not served by any gateway.
					cr.Reason = "reaped_sessions_ended"
					log.Warn("expired JIT role had sessions; ended them before dropping it", "role", r.Role, "target", tname, "sessions", r.Terminated)
				}
				if r.Err != nil {
					cr.Error = r.Err.Error()
				}
				reaped.WithLabelValues(tname, cr.Reason, fmt.Sprint(r.Err == nil)).Inc()
				emitRetry(ctx, runChain, log, schemas.TypeCredentialRevoked, cr)
			})
		})
	}
	for _, c := range cfg.Mask.Columns {
		parts := strings.Split(c, ".")
		cardholderTables = append(cardholderTables, strings.Join(parts[:len(parts)-1], "."))
	}
	checks["issuers"] = verifier.Ready

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	defer ln.Close()

	// The run starts with gateway.started: nothing is served before it is in the log.
	gs := schemas.GatewayStarted{Instance: cfg.Instance, Version: version, Listen: ln.Addr().String(), Targets: targetNames,
		ConfigHash: configHash, PolicyHash: policyHash, MaskShape: string(masker.Shape()),
		CheckpointIntervalMS: cfg.Checkpoint.Interval.Milliseconds(), KeyID: schemas.KeyID(key.Public().(ed25519.PublicKey)), Clock: audit.ClockFacts()}
	if !emitRetry(ctx, runChain, log, schemas.TypeGatewayStarted, gs) {
		return ctx.Err()
	}
	emitRetry(ctx, runChain, log, schemas.TypePolicyLoaded, schemas.PolicyLoaded{Hash: policyHash, Source: policySource, Rules: policyRules})
	for _, start := range reapers {
		start()
	}

	var holder proxy.Holder
	if cfg.Approvals.Enabled {
		dkeys, err := schemas.LoadDecisionKeys(cfg.Approvals.DecisionKeys)
		if err != nil {
			return ConfigError{fmt.Errorf("approvals.decision_keys: %w", err)}
		}
		h, err := hold.New(hold.Config{Topic: cfg.Kafka.Topic(schemas.TopicApprovals), Instance: cfg.Instance, Version: version,
			Kafka: cfg.Kafka.Config, DecisionKeys: dkeys, Registerer: reg}, prod.Client())
		if err != nil {
			return err
		}
		go func() {
			if err := h.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("approval tail stopped", "err", err)
			}
		}()
		holder = h
	}

	classifier := classify.NewCache(8192)
	srv, err := proxy.New(proxy.Config{Instance: cfg.Instance, Version: version, TLS: serverTLS,
		AllowPlaintextLoopback: cfg.AllowPlaintextLoopback, CancelKey: cancelKey, MaxMessageBytes: cfg.Limits.MaxMessageBytes,
		StartupTimeout: cfg.Limits.StartupTimeout, IdleTimeout: cfg.Limits.IdleTimeout, MaxConnections: cfg.Limits.MaxConnections,
		ResultBufferBytes: cfg.Limits.ResultBufferBytes, Targets: targets, CardholderTables: cardholderTables,
		MaxUnauthenticated: cfg.Limits.MaxUnauthenticated, CancelRate: cfg.Limits.CancelRate, CancelBurst: cfg.Limits.CancelBurst,
		PipelinedReads: cfg.Audit.Reads == config.ReadsPipelined},
		proxy.Deps{Verifier: verifier, Policy: pol, Classifier: classifier, Masker: masker, Audit: prod, Holder: holder, Logger: log, Registerer: reg})
	if err != nil {
		return err
	}
	cp := prod.NewCheckpointer(runChain, key, cfg.Instance, cfg.Checkpoint.Interval)
	cpCtx, cpStop := context.WithCancel(context.Background())
	defer cpStop()
	go cp.Run(cpCtx, func(err error) { log.Error("checkpoint not written; retrying at the next interval", "err", err) })
	if cfg.Ops.Listen != "off" {
		oln, err := net.Listen("tcp", cfg.Ops.Listen)
		if err != nil {
			return fmt.Errorf("ops listen %s: %w", cfg.Ops.Listen, err)
		}
		// Profiles too: the ops listener serves nothing else and is loopback by default (internal/ops).
		go func() { _ = ops.New(ops.Config{Gatherer: reg, Checks: checks, Pprof: true}).Serve(ctx, oln) }()
		log.Info("ops serving", "addr", oln.Addr().String())
	}
	// An unreachable OIDC issuer or admin DSN does not stop the gateway (it may come up later, and /readyz
	// says so), but the log must say it too: each failing dependency at WARN, checked again until it answers.
	unavailable := watchDependencies(ctx, log, checks, 5*time.Second)
	log.Info("gateway serving", "listen", ln.Addr().String(), "instance", cfg.Instance, "run", runChain.ID(), "targets", targetNames,
		"tls", serverTLS != nil, "unavailable", unavailable)

	serveErr := srv.Serve(ctx, ln)

	// Shutdown: end sessions (their roles are revoked), a last checkpoint, gateway.stopped.
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	cpStop()
	if _, err := cp.Checkpoint(); err != nil {
		log.Error("final checkpoint not written", "err", err)
	}
	reason := "signal"
	if serveErr != nil {
		reason = "error: " + serveErr.Error()
	}
	if _, err := runChain.End(schemas.TypeGatewayStopped, schemas.GatewayStopped{Reason: reason, SessionsServed: srv.SessionsServed(),
		UptimeMS: time.Since(started).Milliseconds()}); err != nil {
		log.Error("gateway.stopped not written", "err", err)
	}
	return serveErr
}

// emitRetry writes a run event, retrying while Kafka is unavailable, until ctx ends.
func emitRetry(ctx context.Context, run *audit.Session, log *slog.Logger, typ string, data any) bool {
	for {
		_, err := run.Emit(typ, data)
		if err == nil {
			return true
		}
		log.Error("run event not written; retrying", "type", typ, "err", err)
		if errors.Is(err, audit.ErrIndeterminate) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

func ensureTopics(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	cl, err := cfg.Kafka.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	md, err := adm.BrokerMetadata(tctx)
	if err != nil {
		return fmt.Errorf("kafka %v: %w (is the broker running?)", cfg.Kafka.Brokers, err)
	}
	topics := schemas.Rename(schemas.Topics(len(md.Brokers)), cfg.Kafka.TopicPrefix)
	if err := schemas.EnsureTopics(tctx, adm, topics); err != nil {
		return err
	}
	log.Debug("topics ready", "prefix", cfg.Kafka.TopicPrefix)
	return nil
}

func upstreamTLS(t config.Target) (*tls.Config, error) {
	switch t.SSLMode {
	case "disable":
		return nil, nil
	case "require":
		// Encrypted but unauthenticated, as libpq's sslmode=require.
		return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, nil //nolint:gosec // documented sslmode=require semantics
	}
	c := &tls.Config{ServerName: t.Host, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		b, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("target %s: ca_file: %w", t.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("target %s: ca_file %s holds no PEM certificate", t.Name, t.CAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// watchDependencies checks every dependency (Kafka, each target's admin DSN, the OIDC issuers) once, at
// most timeout each and in parallel, logs each that fails at WARN and returns their names, sorted. It then
// keeps checking the failing ones in the background (backoff up to 30s, a WARN each time) and logs at INFO
// when one answers, until ctx ends. /readyz runs the same checks.
func watchDependencies(ctx context.Context, log *slog.Logger, checks map[string]ops.Check, timeout time.Duration) []string {
	type result struct {
		name string
		err  error
	}
	res := make(chan result, len(checks))
	for name, check := range checks {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			res <- result{name, check(cctx)}
		}()
	}
	var failing []string
	for range checks {
		r := <-res
		if r.err == nil {
			continue
		}
		failing = append(failing, r.name)
		log.Warn("dependency unavailable at start; serving anyway and retrying (readyz reports it)", "dependency", r.name, "err", r.err.Error())
		go retryDependency(ctx, log, r.name, checks[r.name], timeout)
	}
	sort.Strings(failing)
	return failing
}

func retryDependency(ctx context.Context, log *slog.Logger, name string, check ops.Check, timeout time.Duration) {
	for wait := time.Second; ; wait = min(wait*2, 30*time.Second) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			log.Info("dependency available", "dependency", name)
			return
		}
		log.Warn("dependency still unavailable; retrying", "dependency", name, "retry_in", min(wait*2, 30*time.Second).String(), "err", err.Error())
	}
}

// policyAdapter lets the proxy use the file policy (reloaded by the watcher).
type policyAdapter struct{ w *policy.Watcher }

func (p policyAdapter) Grants(id schemas.Identity, target, role string) ([]string, string, error) {
	return p.w.Current().Grants(id, target, role)
}

// GrantsFor lets the proxy restrict databases per grant (proxy.DatabaseGrants).
func (p policyAdapter) GrantsFor(id schemas.Identity, target, database, role string) ([]string, string, error) {
	return p.w.Current().GrantsFor(id, target, database, role)
}

func (p policyAdapter) Evaluate(in proxy.Input) proxy.Decision {
	d := p.w.Current().Evaluate(policy.Input{Identity: in.Identity, Target: in.Target, Database: in.Database, Role: in.Role,
		Statement: in.Statement, Cardholder: in.Cardholder, Batch: in.Batch, Derivations: in.Derivations, Context: in.Context})
	return proxy.Decision{Action: string(d.Action), Rule: d.Rule, Reason: d.Reason, Score: d.Score,
		ApproverGroup: d.ApproverGroup, Timeout: d.Timeout, ReasonRequired: d.ReasonRequired}
}

func (p policyAdapter) Hash() string { return p.w.Current().Hash() }

// MaskingFunctions are the current policy's masking_functions (proxy.MaskingFunctioner).
func (p policyAdapter) MaskingFunctions() map[string]bool { return p.w.Current().MaskingFunctions() }

// factsFunc adapts a catalog set to the proxy's per-database function facts without a typed-nil interface.
func factsFunc(s *catalog.Set) func(string) proxy.FunctionFacts {
	return func(db string) proxy.FunctionFacts {
		if f := s.Functions(db); f != nil {
			return f
		}
		return nil
	}
}

// plannerFunc adapts a catalog set to the proxy's per-database row estimator without a typed-nil interface.
func plannerFunc(s *catalog.Set) func(string) proxy.Planner {
	return func(db string) proxy.Planner {
		if p := s.Planner(db); p != nil {
			return p
		}
		return nil
	}
}

// catalogFunc adapts a catalog set to the proxy's per-database lookup without a typed-nil interface.
func catalogFunc(s *catalog.Set) func(string) mask.Catalog {
	return func(db string) mask.Catalog {
		if c := s.For(db); c != nil {
			return c
		}
		return nil
	}
}
