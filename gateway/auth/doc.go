// Package auth verifies the OIDC token a workload sends as its PostgreSQL password and turns it into the
// schemas.Identity a session acts for.
//
// The gateway never trusts a token it has not checked end to end:
//
//	password ──▶ pre-parse (size cap, 3 base64url parts, JSON header/payload, alg allow-list: never none/HS*)
//	         ──▶ issuer chosen by the unverified "iss" among the configured ones (exact match)
//	         ──▶ signature against the issuer's JWKS (discovered lazily, refetched on unknown kid or when stale)
//	         ──▶ exp / nbf with the configured clock skew, audience ∩ configured audiences
//	         ──▶ schemas.Identity{Issuer, Subject, kept claims, groups, human flag} + expiry + jti
//
// Every refusal is an *Error whose Reason is a machine word for the auth.failed event and whose Message is
// safe to send to the client: it says why, and never contains the token.
//
// Discovery is lazy and retried: an issuer that is down when the gateway starts does not stop it; logins for
// that issuer fail with Reason "issuer_unavailable" until it answers, and Ready reports it.
package auth
