package auth

import (
	"context"
	"errors"
	"time"

	"github.com/pangate/pangate/schemas"
)

// Claims is what a verified token says, as the gateway needs it.
type Claims struct {
	Identity schemas.Identity
	// Expiry is the token's exp: the gateway caps the JIT role's VALID UNTIL (and the session) with it.
	Expiry time.Time
	// IssuedAt is the token's iat, zero if absent.
	IssuedAt time.Time
	// ID is the token's jti, empty if absent (schemas.AuthSucceeded.TokenID).
	ID string
	// Audience is the configured audience the token matched.
	Audience string
}

// Verifier checks tokens against the configured issuers. It is safe for concurrent use.
type Verifier struct {
	cfg Config
}

// New returns a Verifier. It tries each issuer's discovery once (bounded by ctx and HTTPTimeout) but does not
// fail when an issuer is down: discovery is retried on the next login for that issuer.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg}, nil
}

// Verify checks token and returns the identity it proves. Any refusal is an *Error.
func (v *Verifier) Verify(ctx context.Context, token string) (schemas.Identity, error) {
	c, err := v.VerifyToken(ctx, token)
	return c.Identity, err
}

// VerifyToken is Verify that also returns the token's expiry, issue time, jti and matched audience.
func (v *Verifier) VerifyToken(ctx context.Context, token string) (Claims, error) {
	return Claims{}, &Error{Reason: ReasonMalformed, Message: "not implemented", SQLState: SQLStateInvalidPassword}
}

// Ready returns nil once every issuer's discovery document and key set have been fetched; otherwise it tries
// them now (bounded by ctx) and returns an error wrapping ErrNotReady that names the issuers still unavailable.
func (v *Verifier) Ready(ctx context.Context) error {
	return errors.New("not implemented")
}
