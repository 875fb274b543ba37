package auth

import (
	"errors"
	"fmt"
)

// Reasons of an *Error. They are the machine words of schemas.AuthFailed.Reason.
const (
	ReasonExpired           = "expired"
	ReasonNotYetValid       = "not_yet_valid"
	ReasonWrongAudience     = "wrong_audience"
	ReasonUnknownIssuer     = "unknown_issuer"
	ReasonBadSignature      = "bad_signature"
	ReasonBadAlgorithm      = "bad_algorithm"
	ReasonMalformed         = "malformed"
	ReasonIssuerUnavailable = "issuer_unavailable"
)

// SQLSTATE codes an *Error carries for the ErrorResponse the gateway sends.
const (
	// SQLStateInvalidPassword (28P01) is used when the token itself is wrong: the client must get a new one.
	SQLStateInvalidPassword = "28P01"
	// SQLStateInvalidAuthorization (28000) is used when the token could not be checked (issuer unavailable):
	// retrying later with the same token may succeed.
	SQLStateInvalidAuthorization = "28000"
)

// ErrNotReady is returned by Ready (wrapped, naming the issuers) while an issuer's discovery document or
// key set has never been fetched.
var ErrNotReady = errors.New("auth: issuer not ready")

// Error is a refused login. Reason is for the audit event, Message for the client (it never echoes the token),
// SQLState for the ErrorResponse. Issuer and Subject are the token's unverified claims when they could be read:
// they help an auditor and must not be trusted.
type Error struct {
	Reason   string
	Message  string
	SQLState string
	Issuer   string
	Subject  string

	// err is the underlying cause, for Unwrap; it never contains the token.
	err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("auth: %s: %s", e.Reason, e.Message)
}

// Unwrap returns the underlying cause, if any (for example a network error reaching the issuer).
func (e *Error) Unwrap() error { return e.err }
