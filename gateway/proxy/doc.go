// Package proxy is the gateway's pgwire session: it terminates TLS, authenticates the client with its OIDC
// token, connects upstream as a just-in-time role, and relays the protocol so that every statement is
// classified, decided by policy and recorded in Kafka before anything it does can be seen (docs/invariants.md,
// invariants 1, 2, 4 and 7).
//
//	client ──TLS──▶ startup (SSLRequest 'S', GSSENCRequest 'N', CancelRequest → forwarded, StartupMessage)
//	       ◀─────── AuthenticationCleartextPassword; PasswordMessage = OIDC token ──▶ auth.VerifyToken
//	                policy.Grants(identity, target, role)            auth.succeeded / auth.failed ──▶ Kafka
//	                jit.Issue ──▶ credential.issued ──▶ pgconn connect as the JIT role ──▶ Hijack
//	                session.started ──▶ AuthenticationOk, ParameterStatus…, BackendKeyData (sealed), ReadyForQuery
//
//	          ┌──────────── fromClient (one goroutine) ─────────────┐   ┌──── fromUpstream (one goroutine) ────┐
//	client ──▶│ Query/Parse/Bind/Describe/Execute/Close/Sync        │──▶│ PostgreSQL                            │
//	          │  classify ─▶ policy ─▶ write? record, await ack     │   │                                       │
//	          │  push expected responses on the queue, forward      │   │ every message ─▶ mask.Stream.Message  │
//	          └─────────────────────────────────────────────────────┘   │ match to the queue head               │
//	client ◀──────────────────────────────────────────────────────────── │ read: hold result ─▶ record, ack ─▶ send│
//	                                                                     └───────────────────────────────────────┘
//	end: jit.Disable ──▶ credential.revoked ──▶ session.ended acknowledged ──▶ jit.Revoke (drop)
//
// The startup user names the target and the role: "role@target" (the last '@' splits them, so roles may
// contain '@'); the database is the startup "database" parameter or the target's default.
//
// # One view of the session (invariant 0)
//
// Prepared statements, portals and cursors live in a pgstate.Model that follows PostgreSQL's rules
// (names.go): an Execute runs what its portal was bound to, SQL EXECUTE/FETCH resolve through the same
// namespaces, unknown names are refused. Startup parameters are an allow-list, client_encoding and
// standard_conforming_strings are pinned and watched in every ParameterStatus (lexing.go). Files: relay.go
// (client loop, statement handlers), upstream.go (backend messages), held.go (refusals, approvals, the
// hold watcher in holdwatch.go), record.go and outcome.go (events). See docs/policy.md for the guarantee.
//
// # Write-ahead (invariant 1)
//
// Only a provably side-effect-free read (allow-listed functions, operators and types; the catalog
// confirms no user code; purity.go) is sent upstream at once: its whole answer is held until the
// statement completes, then one query.executed with the outcome, SQLSTATE, rows, masked counts and masked
// sample is written, and the held bytes are released only after its acknowledgement (or at once with
// audit.reads pipelined, the session's next statement waiting for the acknowledgement instead). A result
// larger than limits.result_buffer_bytes is recorded when the buffer fills (Outcome "streamed").
//
// Everything else — writes, DDL, roles, COPY, transaction control, utility, functions not on the list —
// is recorded first: query.executed with Outcome "forwarded" is acknowledged before the statement is
// sent. Once PostgreSQL answers, query.completed (ok, error, skipped, unknown; tag, SQLSTATE, rows,
// masked counts, sample) names that intent; the session's next statement is forwarded only after every
// earlier outcome is acknowledged (outcome.go), so a session never has two statements without a recorded
// outcome.
//
// If Kafka refuses or times out (kafka.ack_timeout, default 5 s), a recorded-ahead statement is never
// forwarded and a read's result is dropped; the client gets ErrorResponse SQLSTATE 58000 saying the audit
// log is unavailable and the statement was not run. While the last event failed, reads are recorded ahead
// too. The chain only advances on acknowledgement, so the session survives the outage and goes on when
// Kafka is back. If the fate of an event is unknown (no answer within twice the timeout), the session
// ends instead: a later event could fork its chain.
//
// # Cancel (invariant 7)
//
// The client receives BackendKeyData that is the upstream (pid, secret) sealed with a keyed 64-bit
// permutation shared by all instances (cancelCodec); any instance can open a CancelRequest and forward it to
// the targets. No state is kept; see cancelCodec for the trade-offs.
//
// # Policy and approvals
//
// Every statement of a simple Query string is decided before any of it is sent: each sees the kinds of
// all (policy batch_kinds) and one combined decision (the first deny, else the riskiest hold) refuses or
// holds the string as a whole; a hold shows the approver the whole string. A refusal after a hold names
// who decided and why (their text cleaned of control characters and masked) or how long the approval
// waited; an approval that could not be recorded in Kafka is audit_unavailable (58000). The approval of
// a statement that ran is recorded in its query.executed (Approval).
//
// While a statement is held the client already has a NoticeResponse ("pangate: statement held for approval
// <id> by rule <rule> (<reason>); approvers: <group>; expires <time>", masked), then the result or the
// refusal once decided. The notice keeps frame order: it is queued (itNotice) behind every response still
// expected and sent, flushed, by the upstream goroutine right after the last of them, or at once by the
// client goroutine when none is expected (relayMu makes "none expected" mean "all written"). Before it
// blocks, the client goroutine sends a Flush upstream so that responses PostgreSQL holds back until Sync
// (ParseComplete, BindComplete, earlier Executes of the batch) come out.
//
// # Responses the gateway adds
//
// A refused statement is answered in place of the server: for a simple Query, the gateway's ErrorResponse
// followed by the ReadyForQuery the server returns for a Sync the gateway sends (so the transaction status is
// the server's); for an Execute, the ErrorResponse and then nothing until the client's Sync, as PostgreSQL
// does after an error. The function-call sub-protocol is refused (0A000). Every message sent to the client,
// the gateway's own included, passes mask.Stream.Message; every text put in an event passes Masker.Stored.
package proxy
