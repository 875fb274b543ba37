// Package jit creates and drops the just-in-time PostgreSQL login roles a session runs as (docs/invariants.md,
// invariant 4): the workload never holds a database password.
//
//	Issue:  CREATE ROLE <prefix><random> LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
//	          NOBYPASSRLS PASSWORD '<SCRAM-SHA-256 verifier>' VALID UNTIL <min(now+TTL, token expiry)>
//	        GRANT <each policy role> TO it        (membership only in those roles)
//	        COMMENT ON ROLE it IS '{"pangate":"jit","instance":…,"session":…,"expires":…}'
//	        — one transaction: a failure leaves no role behind.
//	Disable: ALTER ROLE it NOLOGIN, pg_terminate_backend of its sessions; the role stays (a session's end:
//	        the gateway drops it only once session.ended is acknowledged).
//	Revoke: the same, then REASSIGN OWNED + DROP OWNED (in the admin connection's database), DROP ROLE.
//	Reap:   the same for every role with the prefix and the marker comment whose VALID UNTIL has passed
//	        and that has no session left (or passed it by more than LiveGrace), whichever gateway instance
//	        created it: the gateway is stateless, any instance cleans up after a crashed one.
//
// The password is 32 random bytes (base64url). Only its SCRAM-SHA-256 verifier is sent to PostgreSQL, so the
// plaintext never appears in the server's statement log; neither the password nor the admin DSN is ever logged
// (Credential's String and LogValue redact the password).
package jit
