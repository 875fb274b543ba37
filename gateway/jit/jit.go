package jit

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults applied by New to a zero Config field.
const (
	DefaultPrefix       = "pangate_jit_"
	DefaultTTL          = time.Hour
	DefaultReapInterval = time.Minute
	DefaultLiveGrace    = 24 * time.Hour
	// DefaultGroup is the marker group role every JIT role is a member of: pg_hba.conf admits members of
	// it only from the gateways' source addresses (docs/deploy.md, "JIT roles log in only from the gateway").
	DefaultGroup = "pangate_jit"
	// lockSpace is the first key of the advisory locks that serialise drops of one role across gateways.
	lockSpace = 0x70676a74 // "pgjt"
	// terminateWait is how long Revoke waits for each backend of the role to exit (pg_terminate_backend).
	terminateWait = 5 * time.Second
)

var (
	// ErrExpired is returned by Issue when notAfter (the token's expiry) is not in the future.
	ErrExpired = errors.New("jit: credential would already be expired (token expiry is not in the future)")
	// ErrNotManaged is returned by Revoke for a role that is not a JIT role of this prefix with pangate's
	// marker comment: pangate never drops roles it did not create.
	ErrNotManaged = errors.New("jit: role is not a pangate JIT role")
	// ErrBadGrant is returned by Issue for a grant that is empty, too long, or names a JIT role.
	ErrBadGrant = errors.New("jit: invalid grant")
)

// errKept wraps an OnOrphan hook's error: the role was not dropped.
var errKept = errors.New("kept until the session's end is recorded")

var prefixRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// markerKind is the "pangate" value of the marker comment: what the reaper recognises.
const markerKind = "jit"

// Config configures a Manager.
type Config struct {
	// Prefix of every role name (default DefaultPrefix): lowercase letters, digits and underscores, starting
	// with a letter or underscore, at most 40 bytes. Expired roles with this prefix and pangate's marker comment
	// are the reaper's to drop.
	Prefix string `yaml:"prefix"`
	// TTL is the longest a credential lives (default DefaultTTL); the token's expiry may cap it further.
	TTL time.Duration `yaml:"ttl"`
	// ReapInterval is how often Run reaps expired roles (default DefaultReapInterval).
	ReapInterval time.Duration `yaml:"reap_interval"`
	// Instance names this gateway instance in the role's marker comment (evidence only).
	Instance string `yaml:"instance"`
	// LiveGrace is how long after its VALID UNTIL an expired role that still has sessions connected is left
	// alone by the reaper (default DefaultLiveGrace). VALID UNTIL only gates logins: a session may rightly
	// outlive a short-lived token (GitHub's last minutes), and its gateway revokes the role when it ends.
	// Expired roles with no session are dropped at once; past the grace, the reaper ends the sessions too
	// (their gateway is presumed gone). Only sessions a gateway serves count: with GatewayAddrs set, a
	// backend connected from any other address is ended and the role dropped as soon as it expires.
	LiveGrace time.Duration `yaml:"live_grace"`
	// Group is the marker group role (NOLOGIN, no privileges) every JIT role is made a member of, so that
	// pg_hba.conf can admit JIT roles only from the gateways (`host all +pangate_jit GATEWAY/32 scram-sha-256`
	// then `host all +pangate_jit 0.0.0.0/0 reject`). Default DefaultGroup; created if missing.
	Group string `yaml:"group"`
	// GatewayAddrs are the addresses (IPs or CIDRs) the gateways connect to the target from (the targets'
	// source_address). A JIT role's backend from elsewhere is not a session any gateway serves: the reaper
	// does not spare it. Empty: every backend counts as served (pg_hba.conf is then the only guard).
	GatewayAddrs []string `yaml:"gateway_addrs"`
}

// Validate checks the configuration and says what to change. Zero values are fine (defaults apply).
func (c Config) Validate() error {
	var errs []error
	if c.Prefix != "" && (!prefixRE.MatchString(c.Prefix) || len(c.Prefix) > 40) {
		errs = append(errs, fmt.Errorf("jit.prefix %q: use 1-40 lowercase letters, digits or underscores, not starting with a digit (e.g. %q)", c.Prefix, DefaultPrefix))
	}
	if c.Prefix != "" && len(c.Prefix) < 4 {
		errs = append(errs, fmt.Errorf("jit.prefix %q: too short: the reaper drops expired roles with this prefix, so make it distinctive (e.g. %q)", c.Prefix, DefaultPrefix))
	}
	if c.TTL < 0 || (c.TTL > 0 && c.TTL < time.Second) {
		errs = append(errs, fmt.Errorf("jit.ttl %s: must be at least 1s (0 means %s)", c.TTL, DefaultTTL))
	}
	if c.TTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("jit.ttl %s: at most 24h; JIT credentials are meant to be short-lived (PCI DSS 8.6.3)", c.TTL))
	}
	if c.ReapInterval < 0 || (c.ReapInterval > 0 && c.ReapInterval < 100*time.Millisecond) {
		errs = append(errs, fmt.Errorf("jit.reap_interval %s: must be at least 100ms (0 means %s)", c.ReapInterval, DefaultReapInterval))
	}
	if c.LiveGrace < 0 {
		errs = append(errs, fmt.Errorf("jit.live_grace %s: must not be negative (0 means %s)", c.LiveGrace, DefaultLiveGrace))
	}
	if c.Group != "" && (!prefixRE.MatchString(c.Group) || len(c.Group) > 63) {
		errs = append(errs, fmt.Errorf("jit.group %q: use lowercase letters, digits or underscores (e.g. %q)", c.Group, DefaultGroup))
	}
	for _, a := range c.GatewayAddrs {
		if _, err := netip.ParsePrefix(a); err != nil {
			if _, err := netip.ParseAddr(a); err != nil {
				errs = append(errs, fmt.Errorf("jit.gateway_addrs: %q is neither an IP address nor a CIDR prefix", a))
			}
		}
	}
	if len(c.Instance) > 200 {
		errs = append(errs, fmt.Errorf("jit.instance: %d bytes, at most 200", len(c.Instance)))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.ReapInterval == 0 {
		c.ReapInterval = DefaultReapInterval
	}
	if c.LiveGrace == 0 {
		c.LiveGrace = DefaultLiveGrace
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	return c
}

// Credential is one JIT role. Password is the plaintext the gateway logs in with; it is redacted by String,
// GoString, LogValue and JSON, so printing or logging a Credential never reveals it.
type Credential struct {
	Role       string    `json:"role"`
	Password   string    `json:"-"`
	ValidUntil time.Time `json:"valid_until"`
	IssuedAt   time.Time `json:"issued_at"`
	Granted    []string  `json:"granted"`
	Session    string    `json:"session,omitempty"`
}

// String describes the credential without its password.
func (c Credential) String() string {
	return fmt.Sprintf("jit.Credential{Role:%s Password:[redacted] ValidUntil:%s IssuedAt:%s Granted:%v Session:%s}",
		c.Role, c.ValidUntil.UTC().Format(time.RFC3339), c.IssuedAt.UTC().Format(time.RFC3339), c.Granted, c.Session)
}

// GoString is String, so %#v does not print the password either.
func (c Credential) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the password.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("role", c.Role), slog.Time("valid_until", c.ValidUntil),
		slog.Time("issued_at", c.IssuedAt), slog.Any("granted", c.Granted), slog.String("session", c.Session))
}

// marker is the JSON comment on every JIT role: it lets any instance's reaper recognise the role as pangate's
// and tells a DBA who made it, for which session, until when.
type marker struct {
	Pangate  string   `json:"pangate"`
	Instance string   `json:"instance,omitempty"`
	Session  string   `json:"session,omitempty"`
	Issued   string   `json:"issued"`
	Expires  string   `json:"expires"`
	Granted  []string `json:"granted"`
}

func parseMarker(comment *string) (marker, bool) {
	var m marker
	if comment == nil || json.Unmarshal([]byte(*comment), &m) != nil || m.Pangate != markerKind {
		return m, false
	}
	return m, true
}

// Manager issues, revokes and reaps JIT roles through an admin connection pool. Safe for concurrent use.
type Manager struct {
	cfg   Config
	admin *pgxpool.Pool
	now   func() time.Time

	groupMu sync.Mutex
	groupOK bool

	orphan func(ctx context.Context, o Orphan) error
}

// Orphan is the session of an expired JIT role the reaper is about to drop while no backend of the role is
// connected: its gateway did not revoke the role at the session's end, so it was most likely killed or lost
// its host before the session ended (a gateway revokes the role before it writes session.ended).
type Orphan struct {
	Role     string
	Session  string    // the session the role was issued for (its marker)
	Instance string    // the gateway instance that issued it
	Issued   time.Time // when it was issued (zero if the marker does not say)
}

// OnOrphan sets the hook the reaper calls for each orphaned session before it drops the role, under the
// per-role lock that serialises reapers, so that only the reaper that drops the role calls it. If the hook
// fails the role is kept and tried again at the next reap: the gateway records a session ended by a crash
// (session.reaped) before its role disappears. An error with a Deferred() bool method returning true keeps
// the role without reporting a failure to Run's onReap (the hook will decide at the next round). Call before
// Run.
func (m *Manager) OnOrphan(f func(ctx context.Context, o Orphan) error) { m.orphan = f }

// New returns a Manager using admin (a superuser connection to the target database, so REASSIGN/DROP OWNED
// act there; its DSN is never logged by this package).
func New(cfg Config, admin *pgxpool.Pool) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if admin == nil {
		return nil, errors.New("jit: admin pool is nil: pass a pool connected with the target's admin DSN")
	}
	cfg = cfg.withDefaults()
	if strings.HasPrefix(cfg.Group, cfg.Prefix) {
		return nil, fmt.Errorf("jit.group %q starts with jit.prefix %q: the reaper would take the group for a JIT role", cfg.Group, cfg.Prefix)
	}
	return &Manager{cfg: cfg, admin: admin, now: time.Now}, nil
}

// Group is the marker group role in use (after defaults).
func (m *Manager) Group() string { return m.cfg.Group }

// ensureGroup creates the marker group role if it does not exist. Gateways starting together may race:
// a duplicate (42710) or a concurrent catalog update means another one made it.
func (m *Manager) ensureGroup(ctx context.Context) error {
	m.groupMu.Lock()
	defer m.groupMu.Unlock()
	if m.groupOK {
		return nil
	}
	var exists bool
	if err := m.admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", m.cfg.Group).Scan(&exists); err != nil {
		return fmt.Errorf("jit: look up group role %s: %w", m.cfg.Group, err)
	}
	if !exists {
		_, err := m.admin.Exec(ctx, "CREATE ROLE "+ident(m.cfg.Group)+" NOLOGIN NOINHERIT")
		var pe *pgconn.PgError
		if err != nil && !(errors.As(err, &pe) && (pe.Code == "42710" || pe.Code == "23505" || benignConcurrent(err))) {
			return fmt.Errorf("jit: create group role %s (the admin needs CREATEROLE): %w", m.cfg.Group, err)
		}
		if err == nil {
			_, _ = m.admin.Exec(ctx, "COMMENT ON ROLE "+ident(m.cfg.Group)+" IS "+quoteLiteral(`{"pangate":"jit-group"}`))
		}
	}
	m.groupOK = true
	return nil
}

// benignConcurrent reports the errors two sessions get when they change the same catalog row at once
// (two reapers, or a revoke racing a reaper): the other one did the work.
func benignConcurrent(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42704" || (pe.Code == "XX000" && strings.Contains(pe.Message, "tuple concurrently")) ||
		pe.Code == "40001" || pe.Code == "40P01")
}

// Prefix is the role-name prefix in use (after defaults).
func (m *Manager) Prefix() string { return m.cfg.Prefix }

// Issue creates a login role for session with membership in exactly grants, valid until the earlier of
// now+TTL and notAfter (the token's expiry; zero means no cap). Everything happens in one transaction.
func (m *Manager) Issue(ctx context.Context, session string, grants []string, notAfter time.Time) (Credential, error) {
	granted, err := m.checkGrants(grants)
	if err != nil {
		return Credential{}, err
	}
	if err := m.ensureGroup(ctx); err != nil {
		return Credential{}, err
	}
	// PostgreSQL keeps microseconds: truncate so ValidUntil equals what rolvaliduntil says.
	now := m.now().UTC().Truncate(time.Microsecond)
	until := now.Add(m.cfg.TTL)
	if !notAfter.IsZero() && notAfter.Before(until) {
		until = notAfter.UTC().Truncate(time.Microsecond)
	}
	if !until.After(now) {
		return Credential{}, ErrExpired
	}
	suffix := make([]byte, 10)
	secret := make([]byte, 32)
	if _, err := rand.Read(suffix); err != nil {
		return Credential{}, err
	}
	if _, err := rand.Read(secret); err != nil {
		return Credential{}, err
	}
	c := Credential{
		Role:       m.cfg.Prefix + hex.EncodeToString(suffix),
		Password:   base64.RawURLEncoding.EncodeToString(secret),
		ValidUntil: until,
		IssuedAt:   now,
		Granted:    granted,
		Session:    session,
	}
	verifier, err := scramVerifier(c.Password)
	if err != nil {
		return Credential{}, fmt.Errorf("jit: password verifier: %w", err)
	}
	comment, err := json.Marshal(marker{Pangate: markerKind, Instance: m.cfg.Instance, Session: session,
		Issued: now.Format(time.RFC3339Nano), Expires: until.Format(time.RFC3339Nano), Granted: granted})
	if err != nil {
		return Credential{}, err
	}
	role := ident(c.Role)
	// Utility statements take no bind parameters: every value below is either generated here (role name,
	// verifier, timestamp) or quoted as an identifier/literal.
	stmts := []string{
		fmt.Sprintf("CREATE ROLE %s WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %s VALID UNTIL %s",
			role, quoteLiteral(verifier), quoteLiteral(until.Format(time.RFC3339Nano))),
	}
	if len(granted) > 0 {
		names := make([]string, len(granted))
		for i, g := range granted {
			names[i] = ident(g)
		}
		stmts = append(stmts, fmt.Sprintf("GRANT %s TO %s", strings.Join(names, ", "), role))
	}
	// The marker group: pg_hba.conf admits its members only from the gateways.
	stmts = append(stmts, fmt.Sprintf("GRANT %s TO %s", ident(m.cfg.Group), role))
	stmts = append(stmts, fmt.Sprintf("COMMENT ON ROLE %s IS %s", role, quoteLiteral(string(comment))))
	err = pgx.BeginFunc(ctx, m.admin, func(tx pgx.Tx) error {
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Credential{}, fmt.Errorf("jit: create role %s with grants %v: %w", c.Role, granted, err)
	}
	return c, nil
}

func (m *Manager) checkGrants(grants []string) ([]string, error) {
	out := make([]string, 0, len(grants))
	for _, g := range grants {
		switch {
		case g == "" || len(g) > 63 || strings.ContainsRune(g, 0):
			return nil, fmt.Errorf("%w: %q is not a PostgreSQL role name (1-63 bytes)", ErrBadGrant, g)
		case strings.HasPrefix(g, m.cfg.Prefix):
			return nil, fmt.Errorf("%w: %q is a JIT role (prefix %q); grant the policy's roles only", ErrBadGrant, g, m.cfg.Prefix)
		case g == m.cfg.Group:
			return nil, fmt.Errorf("%w: %q is the JIT marker group, not a role to grant", ErrBadGrant, g)
		case strings.EqualFold(g, "public"):
			return nil, fmt.Errorf("%w: %q is not a role that can be granted", ErrBadGrant, g)
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out, nil
}

// Revoke ends the role's sessions, reassigns and drops what it owns and drops it. Revoking a role that no
// longer exists (already reaped) returns nil; a role without the prefix or pangate's marker is ErrNotManaged.
func (m *Manager) Revoke(ctx context.Context, c Credential) error {
	if ok, err := m.managed(ctx, c.Role); !ok || err != nil {
		return err
	}
	_, err := m.drop(ctx, c.Role, nil)
	return err
}

// Disable ends the role's access at once, no new logins (NOLOGIN) and its backends terminated, and keeps
// the role: a session's gateway disables its role, records credential.revoked and session.ended, and only
// then drops it (Revoke). A gateway that dies in between leaves the role to the reaper, which finds the
// session's chain without its end and records it (gateway/audit.RecordReaped); had the role been dropped
// first, nothing would point at the session. Disabling a role that no longer exists returns nil; a role
// without the prefix or pangate's marker is ErrNotManaged.
func (m *Manager) Disable(ctx context.Context, c Credential) error {
	if ok, err := m.managed(ctx, c.Role); !ok || err != nil {
		return err
	}
	err := m.withRole(ctx, c.Role, func(conn *pgxpool.Conn) error {
		_, err := disableOn(ctx, conn, c.Role)
		return err
	})
	if err != nil && !benignConcurrent(err) {
		return fmt.Errorf("jit: disable role %s: %w", c.Role, err)
	}
	return nil
}

// managed reports whether role exists and is one of pangate's (prefix and marker): false with nil if it no
// longer exists, ErrNotManaged if it is not pangate's.
func (m *Manager) managed(ctx context.Context, role string) (bool, error) {
	if !strings.HasPrefix(role, m.cfg.Prefix) {
		return false, fmt.Errorf("%w: %q lacks the prefix %q", ErrNotManaged, role, m.cfg.Prefix)
	}
	var comment *string
	err := m.admin.QueryRow(ctx, "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1", role).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("jit: look up role %s: %w", role, err)
	}
	if _, ok := parseMarker(comment); !ok {
		return false, fmt.Errorf("%w: %q has no pangate marker comment", ErrNotManaged, role)
	}
	return true, nil
}

// withRole runs f on an admin connection holding the role's advisory lock (which serialises gateways and
// reapers acting on the same role), if the role still exists then.
func (m *Manager) withRole(ctx context.Context, role string, f func(conn *pgxpool.Conn) error) error {
	conn, err := m.admin.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("admin connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, hashtext($2))", lockSpace, role); err != nil {
		return err
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1, hashtext($2))", lockSpace, role)
	}()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil || !exists {
		return err
	}
	return f(conn)
}

// disableOn makes role unable to log in and terminates its backends; it returns how many it ended.
func disableOn(ctx context.Context, conn *pgxpool.Conn, role string) (terminated int, err error) {
	if _, err := conn.Exec(ctx, "ALTER ROLE "+ident(role)+" NOLOGIN"); err != nil {
		return 0, err
	}
	err = conn.QueryRow(ctx, "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, $2)) FROM pg_stat_activity WHERE usename = $1",
		role, terminateWait.Milliseconds()).Scan(&terminated)
	return terminated, err
}

// drop removes a JIT role: no new logins, its backends terminated, its objects reassigned to the admin and
// its privileges dropped in every database where it owns or was granted anything (pg_shdepend), then the
// role itself. A per-role advisory lock serialises gateways and reapers dropping the same role; a role that
// vanished meanwhile (another instance's reaper) is not an error. It returns how many backends it ended.
// before, if set, runs once the lock is held and the role is known to exist; its error keeps the role.
func (m *Manager) drop(ctx context.Context, role string, before func(context.Context) error) (terminated int, err error) {
	id := ident(role)
	err = m.withRole(ctx, role, func(conn *pgxpool.Conn) error {
		if before != nil {
			if err := before(ctx); err != nil {
				return fmt.Errorf("%w: %w", errKept, err)
			}
		}
		var err error
		if terminated, err = disableOn(ctx, conn, role); err != nil {
			return err
		}
		// Other databases first: a role that created a large object after connecting to database=postgres
		// owns something there, and DROP ROLE fails with 2BP01 until it is gone.
		rows, err := conn.Query(ctx, `SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
			WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)
			AND d.datname <> current_database()`, role)
		if err != nil {
			return err
		}
		others, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, db := range others {
			if err := m.cleanIn(ctx, db, id); err != nil {
				return fmt.Errorf("clean up in database %s: %w", db, err)
			}
		}
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for _, s := range []string{"REASSIGN OWNED BY " + id + " TO CURRENT_USER", "DROP OWNED BY " + id, "DROP ROLE " + id} {
				if _, err := tx.Exec(ctx, s); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if benignConcurrent(err) && !errors.Is(err, errKept) {
		return terminated, nil
	}
	if err != nil {
		return terminated, fmt.Errorf("jit: drop role %s: %w", role, err)
	}
	return terminated, nil
}

// cleanIn reassigns what the role owns in database db to the admin and drops its privileges there, over a
// connection like the admin pool's to that database.
func (m *Manager) cleanIn(ctx context.Context, db, id string) error {
	cc := m.admin.Config().ConnConfig.Copy()
	cc.Database = db
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, s := range []string{"REASSIGN OWNED BY " + id + " TO CURRENT_USER", "DROP OWNED BY " + id} {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
}

// Reaped is the outcome for one expired role: Terminated backends were ended before it was dropped.
type Reaped struct {
	Role       string
	Terminated int
	Err        error
}

func (m *Manager) reap(ctx context.Context) ([]Reaped, error) {
	// starts_with, not LIKE: the prefix's underscores would be wildcards. Expiry is judged by the database's
	// clock, the one that enforces VALID UNTIL. A backend counts as a served session only if it comes from
	// a gateway address (when they are configured).
	rows, err := m.admin.Query(ctx, `SELECT r.rolname, shobj_description(r.oid, 'pg_authid'),
			EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.usename = r.rolname
				AND (cardinality($3::text[]) = 0 OR a.client_addr <<= ANY ($3::text[]::inet[]))),
			r.rolvaliduntil < now() - make_interval(secs => $2)
		FROM pg_roles r WHERE starts_with(r.rolname, $1) AND r.rolvaliduntil < now() ORDER BY r.rolvaliduntil`,
		m.cfg.Prefix, m.cfg.LiveGrace.Seconds(), m.gatewayNets())
	if err != nil {
		return nil, fmt.Errorf("jit: list expired roles: %w", err)
	}
	type cand struct {
		Role      string
		Comment   *string
		Connected bool
		Overdue   bool
	}
	cands, err := pgx.CollectRows(rows, pgx.RowToStructByPos[cand])
	if err != nil {
		return nil, fmt.Errorf("jit: list expired roles: %w", err)
	}
	var out []Reaped
	for _, c := range cands {
		if _, ok := parseMarker(c.Comment); !ok {
			continue // same prefix, not made by pangate: not ours to drop
		}
		if c.Connected && !c.Overdue {
			continue // a live session's gateway will revoke it when the session ends
		}
		var before func(context.Context) error
		if mk, _ := parseMarker(c.Comment); m.orphan != nil && !c.Connected && mk.Session != "" {
			// No backend: the session's gateway is gone. (A role with backends past the grace is a live
			// session whose gateway writes its end once the backends are terminated.)
			o := Orphan{Role: c.Role, Session: mk.Session, Instance: mk.Instance}
			o.Issued, _ = time.Parse(time.RFC3339Nano, mk.Issued)
			before = func(ctx context.Context) error { return m.orphan(ctx, o) }
		}
		n, err := m.drop(ctx, c.Role, before)
		var later interface{ Deferred() bool }
		if errors.As(err, &later) && later.Deferred() {
			continue // the hook asked to look again next round (its session wrote moments ago): not a failure
		}
		out = append(out, Reaped{Role: c.Role, Terminated: n, Err: err})
	}
	return out, nil
}

// gatewayNets is GatewayAddrs as CIDR text (a bare address becomes /32 or /128).
func (m *Manager) gatewayNets() []string {
	out := make([]string, 0, len(m.cfg.GatewayAddrs))
	for _, a := range m.cfg.GatewayAddrs {
		if p, err := netip.ParsePrefix(a); err == nil {
			out = append(out, p.String())
		} else if ip, err := netip.ParseAddr(a); err == nil {
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()).String())
		}
	}
	return out
}

// Reap drops every expired JIT role with the prefix and pangate's marker (any instance's) and returns the
// names dropped. Errors of individual roles are joined; the other roles are still reaped. An expired role
// with sessions still connected is left to its gateway for LiveGrace, then dropped with its sessions ended.
func (m *Manager) Reap(ctx context.Context) ([]string, error) {
	res, err := m.reap(ctx)
	if err != nil {
		return nil, err
	}
	var dropped []string
	var errs []error
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, r.Err)
			continue
		}
		dropped = append(dropped, r.Role)
	}
	return dropped, errors.Join(errs...)
}

// Run reaps at once and then every ReapInterval until ctx ends, calling onReap (if not nil) for each role
// dropped (err nil) or that failed to drop, so the caller can record credential.revoked (reason "reaped").
// A failure to list the roles at all (database down) names no role, so it is not reported to onReap (that
// would make a revocation event without a role); it is retried at the next interval, and Reap returns it.
func (m *Manager) Run(ctx context.Context, onReap func(r Reaped)) {
	t := time.NewTicker(m.cfg.ReapInterval)
	defer t.Stop()
	for {
		res, _ := m.reap(ctx)
		if onReap != nil && ctx.Err() == nil {
			for _, r := range res {
				onReap(r)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ident quotes a role name as a PostgreSQL identifier.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// quoteLiteral quotes s as a PostgreSQL string literal, like libpq's PQescapeLiteral: quotes doubled, and an
// E” literal with doubled backslashes when s has any, so the result is right whatever
// standard_conforming_strings says.
func quoteLiteral(s string) string {
	s = strings.ReplaceAll(s, "'", "''")
	if strings.Contains(s, `\`) {
		return ` E'` + strings.ReplaceAll(s, `\`, `\\`) + `'`
	}
	return "'" + s + "'"
}
