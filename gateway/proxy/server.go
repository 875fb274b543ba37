package proxy

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/schemas"
)

// Config configures a Server.
type Config struct {
	// Instance and Version name this gateway in events.
	Instance, Version string
	// TLS is the server side of client connections; nil allows only plaintext loopback (if enabled).
	TLS *tls.Config
	// AllowPlaintextLoopback accepts clients on loopback addresses without TLS (development).
	AllowPlaintextLoopback bool
	// CancelKey is the secret shared by all instances for BackendKeyData (at least 16 bytes); empty: random.
	CancelKey []byte
	// MaxMessageBytes caps any message body in either direction (default 1 MiB).
	MaxMessageBytes int
	// StartupTimeout bounds TLS, startup and authentication (default 15s).
	StartupTimeout time.Duration
	// IdleTimeout ends a session without client messages for that long (0: never).
	IdleTimeout time.Duration
	// MaxConnections is the most concurrent client connections (default 1000).
	MaxConnections int
	// MaxUnauthenticated is the most of those waiting to authenticate (default 64; see preauth.go).
	MaxUnauthenticated int
	// CancelRate and CancelBurst bound the CancelRequests forwarded (defaults 50 per second, burst 100).
	CancelRate  float64
	CancelBurst int
	// ResultBufferBytes caps the result bytes held per statement while its event is written (default 1 MiB).
	ResultBufferBytes int
	// PipelinedReads releases a side-effect-free read's result before its event is acknowledged; the
	// session's next statement waits for the acknowledgement instead (config audit.reads: pipelined).
	PipelinedReads bool
	Targets        []Target
	// CardholderTables are tables (name or schema.name) holding cardholder data: a star select or a write
	// on them marks the statement as cardholder access (main derives them from the mask column tags).
	CardholderTables []string

	cardholderTables map[string]struct{}
}

// readsMode is audit.reads as session.started records it: what a crash of this gateway can lose.
func (c Config) readsMode() string {
	if c.PipelinedReads {
		return schemas.ReadsPipelined
	}
	return schemas.ReadsStrict
}

// Target is one upstream PostgreSQL server.
type Target struct {
	Name     string
	Host     string
	Port     int
	Database string // default database
	// Databases a session may open; empty: Database alone. Others are refused before a JIT role is made.
	Databases []string
	// TLS for the upstream connection; nil: plaintext.
	TLS *tls.Config
	// Credentials issues the session's JIT role.
	Credentials Credentials
	// Catalog returns the column catalog of a database for masking (may be nil, or return nil).
	Catalog func(database string) mask.Catalog
	// Facts returns what the database says about functions, operators and relations, for judging whether
	// a read is free of side effects (nil, or a nil result: no read is, everything is recorded ahead).
	Facts func(database string) FunctionFacts
	// Planner returns the row estimator of a database, for the expected rows of a held statement (nil, or
	// a nil result: the approver sees "unknown").
	Planner func(database string) Planner
	// Dial replaces the TCP dialer for the upstream connection (tests).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Deps are the services a Server uses.
type Deps struct {
	Verifier   Verifier
	Policy     Policy // nil: AllowAll
	Classifier Classifier
	Masker     *mask.Masker
	Audit      *audit.Producer
	Holder     Holder // nil: held statements are refused
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Validate checks cfg.
func (c Config) Validate() error {
	if c.TLS == nil && !c.AllowPlaintextLoopback {
		return errors.New("proxy: no TLS configuration and plaintext loopback not allowed: clients could not connect")
	}
	if len(c.CancelKey) > 0 && len(c.CancelKey) < 16 {
		return errors.New("proxy: cancel key shorter than 16 bytes")
	}
	if len(c.Targets) == 0 {
		return errors.New("proxy: no targets")
	}
	for _, t := range c.Targets {
		if t.Name == "" || t.Host == "" || t.Credentials == nil {
			return fmt.Errorf("proxy: target %q needs a name, a host and credentials", t.Name)
		}
	}
	return nil
}

// Server accepts pgwire clients and runs one session per connection.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	cancel  cancelCodec
	targets map[string]*Target
	m       *metrics

	slots       chan struct{}
	pre         preauth
	cancelLimit *rate.Limiter
	mu          sync.Mutex
	sessions    map[*session]struct{}
	wg          sync.WaitGroup
	closing     atomic.Bool
	served      atomic.Int64
	ln          net.Listener
}

// New returns a Server.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Verifier == nil || deps.Classifier == nil || deps.Masker == nil || deps.Audit == nil {
		return nil, errors.New("proxy: Verifier, Classifier, Masker and Audit are required")
	}
	if deps.Policy == nil {
		deps.Policy = AllowAll{}
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 1 << 20
	}
	if cfg.StartupTimeout == 0 {
		cfg.StartupTimeout = 15 * time.Second
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = 1000
	}
	if cfg.ResultBufferBytes == 0 {
		cfg.ResultBufferBytes = 1 << 20
	}
	if cfg.MaxUnauthenticated == 0 {
		cfg.MaxUnauthenticated = 64
	}
	if cfg.CancelRate == 0 {
		cfg.CancelRate = 50
	}
	if cfg.CancelBurst == 0 {
		cfg.CancelBurst = 100
	}
	cfg.cardholderTables = map[string]struct{}{}
	for _, t := range cfg.CardholderTables {
		cfg.cardholderTables[strings.ToLower(t)] = struct{}{}
	}
	key := cfg.CancelKey
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	s := &Server{
		cfg: cfg, deps: deps, log: deps.Logger, cancel: cancelCodec{key: key},
		targets: map[string]*Target{}, slots: make(chan struct{}, cfg.MaxConnections),
		sessions:    map[*session]struct{}{},
		pre:         preauth{max: cfg.MaxUnauthenticated, byConn: map[net.Conn]*pendingConn{}, evictAt: evictAfter},
		cancelLimit: rate.NewLimiter(rate.Limit(cfg.CancelRate), cfg.CancelBurst),
	}
	for i := range cfg.Targets {
		s.targets[cfg.Targets[i].Name] = &cfg.Targets[i]
	}
	m, err := newMetrics(deps.Registerer, deps.Classifier)
	if err != nil {
		return nil, err
	}
	s.m = m
	return s, nil
}

// Serve accepts connections on ln until ctx ends or Shutdown is called.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() || ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return fmt.Errorf("proxy: accept: %w", err)
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.m.refusals.WithLabelValues("max_connections").Inc()
			go s.refuseBusy(c, fmt.Sprintf("pangate: too many connections (limit %d): retry later or raise limits.max_connections", s.cfg.MaxConnections))
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			// Every connection waits to authenticate first; over max_unauthenticated an idle or stale one
			// makes room, or the newcomer is refused (preauth.go).
			pc, victim, ok := s.pre.admitWithin(c, admitWait)
			if !ok {
				s.m.refusals.WithLabelValues("max_unauthenticated").Inc()
				s.refuseBusy(c, fmt.Sprintf("pangate: too many connections waiting to authenticate (limit %d): retry later or raise limits.max_unauthenticated", s.pre.max))
				return
			}
			if victim != nil {
				go s.evict(victim)
			}
			s.m.unauth.Set(float64(s.pre.count()))
			conn, handled := s.peekCancel(c, pc)
			if !handled {
				s.pre.rekey(c, conn)
				s.handle(ctx, conn)
			} else {
				_ = c.Close()
			}
			s.authenticated(conn) // gone before authenticating: release its slot
		}()
	}
}

// refuseBusy answers a connection over a limit with the FATAL 53300 msg, without reading more than its
// startup.
func (s *Server) refuseBusy(c net.Conn, msg string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	code, _, err := readStartup(c)
	if err == nil && code == codeSSL {
		_, _ = c.Write([]byte{'N'}) // no TLS for a refusal: say it in plaintext
		_, _, _ = readStartup(c)
	}
	_, _ = c.Write(errorFrame(sqlstateTooManyConnections, "FATAL", msg))
}

// Shutdown stops accepting, ends every session (their JIT roles are revoked and session.ended written) and
// waits for them until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		_ = s.ln.Close()
	}
	for ss := range s.sessions {
		ss.stop(schemas.EndShutdown)
	}
	s.mu.Unlock()
	s.pre.closeAll()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SessionsServed returns how many sessions started since New.
func (s *Server) SessionsServed() int64 { return s.served.Load() }

// Targets returns the configured targets (for readiness checks).
func (s *Server) Targets() []Target { return s.cfg.Targets }

func (s *Server) track(ss *session) bool {
	s.authenticated(ss.raw) // the session authenticated: it no longer counts against max_unauthenticated
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.sessions[ss] = struct{}{}
	return true
}

func (s *Server) untrack(ss *session) {
	s.mu.Lock()
	delete(s.sessions, ss)
	s.mu.Unlock()
}

// allowedDatabases is Databases, or Database alone when none are configured.
func (t Target) allowedDatabases() []string {
	if len(t.Databases) > 0 {
		return t.Databases
	}
	return []string{t.Database}
}

// DatabaseGrants is implemented by a Policy whose grant rules can restrict the databases a session opens
// (gateway/policy's databases: list, issue 13.6).
type DatabaseGrants interface {
	GrantsFor(id schemas.Identity, target, database, role string) (grants []string, rule string, err error)
}

// grants asks the policy for the session's grants, with the database when the policy can restrict it.
func (s *Server) grants(id schemas.Identity, target, database, role string) ([]string, string, error) {
	if dg, ok := s.deps.Policy.(DatabaseGrants); ok {
		return dg.GrantsFor(id, target, database, role)
	}
	return s.deps.Policy.Grants(id, target, role)
}
