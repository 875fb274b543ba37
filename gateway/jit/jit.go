package jit

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults applied by New to a zero Config field.
const (
	DefaultPrefix       = "pangate_jit_"
	DefaultTTL          = time.Hour
	DefaultReapInterval = time.Minute
)

var (
	// ErrExpired is returned by Issue when notAfter (the token's expiry) is not in the future.
	ErrExpired = errors.New("jit: credential would already be expired (token expiry is not in the future)")
	// ErrNotManaged is returned by Revoke for a role that is not a JIT role of this prefix: pangate never drops
	// roles it did not create.
	ErrNotManaged = errors.New("jit: role is not a pangate JIT role")
	// ErrBadGrant is returned by Issue for a grant that is empty or names a JIT role.
	ErrBadGrant = errors.New("jit: invalid grant")
)

// Config configures a Manager.
type Config struct {
	// Prefix of every role name (default DefaultPrefix): lowercase letters, digits and underscores, starting
	// with a letter or underscore, at most 40 bytes. Roles with this prefix are the reaper's to drop.
	Prefix string `yaml:"prefix"`
	// TTL is the longest a credential lives (default DefaultTTL); the token's expiry may cap it further.
	TTL time.Duration `yaml:"ttl"`
	// ReapInterval is how often Run reaps expired roles (default DefaultReapInterval).
	ReapInterval time.Duration `yaml:"reap_interval"`
	// Instance names this gateway instance in the role's marker comment (evidence only).
	Instance string `yaml:"instance"`
}

// Validate checks the configuration and says what to change. Zero values are fine (defaults apply).
func (c Config) Validate() error {
	return nil
}

// Credential is one JIT role. Password is the plaintext the gateway logs in with; it is redacted by String,
// GoString, Format and LogValue, so printing a Credential never reveals it.
type Credential struct {
	Role       string
	Password   string
	ValidUntil time.Time
	IssuedAt   time.Time
	Granted    []string
	Session    string
}

// Manager issues, revokes and reaps JIT roles through an admin connection pool. Safe for concurrent use.
type Manager struct {
	cfg   Config
	admin *pgxpool.Pool
}

// New returns a Manager using admin (a superuser or CREATEROLE connection to the target database; its DSN
// is never logged by this package).
func New(cfg Config, admin *pgxpool.Pool) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if admin == nil {
		return nil, errors.New("jit: admin pool is nil")
	}
	return &Manager{cfg: cfg, admin: admin}, nil
}

// Issue creates a login role for session with membership in exactly grants, valid until the earlier of
// now+TTL and notAfter (the token's expiry; zero means no cap).
func (m *Manager) Issue(ctx context.Context, session string, grants []string, notAfter time.Time) (Credential, error) {
	return Credential{}, errors.New("jit: not implemented")
}

// Revoke ends the role's sessions, reassigns and drops what it owns and drops it. Revoking a role that no
// longer exists (already reaped) returns nil.
func (m *Manager) Revoke(ctx context.Context, c Credential) error {
	return errors.New("jit: not implemented")
}

// Reap drops every expired JIT role with the prefix (any instance's) and returns the names dropped. Errors of
// individual roles are joined; the other roles are still reaped.
func (m *Manager) Reap(ctx context.Context) ([]string, error) {
	return nil, errors.New("jit: not implemented")
}

// Run reaps at once and then every ReapInterval until ctx ends, calling onReap (if not nil) for each role
// dropped (err nil) or that failed to drop.
func (m *Manager) Run(ctx context.Context, onReap func(role string, err error)) {
	<-ctx.Done()
}
