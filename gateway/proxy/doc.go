// Package proxy is the gateway's pgwire session: it terminates TLS, authenticates the client with its OIDC
// token, connects upstream as a just-in-time role, and relays the protocol so that every statement is
// classified, decided by policy and recorded in Kafka before anything it does can be seen (DESIGN.md
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
//	end: jit.Revoke ──▶ credential.revoked ──▶ session.ended
//
// The startup user names the target and the role: "role@target" (the last '@' splits them, so roles may
// contain '@'); the database is the startup "database" parameter or the target's default.
//
// # Write-ahead (invariant 1)
//
// A statement that may change anything (kind write, ddl, role, copy, utility, unparseable — everything but
// read and transaction control) is recorded first: its query.executed event, with Outcome "forwarded", is
// acknowledged by Kafka before the statement is sent upstream. Its result then streams through.
//
// A read is sent upstream at once and its whole answer (RowDescription, DataRows, CommandComplete, notices)
// is held by the gateway until the statement completes; then one query.executed event with the outcome,
// SQLSTATE, row count, duration, masked counts and masked sample is written, and the held bytes are released
// only after its acknowledgement. A result larger than limits.result_buffer_bytes is recorded when the buffer
// fills (Outcome "streamed", rows so far) and the rest streams after the acknowledgement. Either way no
// result byte precedes an acknowledged event that records the statement.
//
// If Kafka refuses or times out (kafka.ack_timeout, default 5 s), a write is never forwarded and a read's
// result is dropped; the client gets ErrorResponse SQLSTATE 58000 (system_error: the failure is outside
// PostgreSQL) saying the audit log is unavailable and the statement was not run. While the last event failed,
// reads are recorded ahead too, so that during an outage nothing runs unrecorded; the first acknowledged
// event restores the fast path. The chain only advances on acknowledgement, so the session survives the
// outage and goes on when Kafka is back. If the fate of an event is unknown (no answer at all within twice
// the timeout), the session ends instead: a later event could fork its chain.
//
// Limits of this design: a write-ahead statement skipped by the server because an earlier statement of the
// same pipelined batch failed is still recorded as "forwarded"; a read's outcome event cannot say whether a
// later COMMIT succeeded (the COMMIT has its own event).
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
