// Package audit writes the gateway's events to Kafka before anything they record may happen (docs/invariants.md,
// invariants 1 and 3).
//
// One Producer per process holds one franz-go client: idempotent, acks=all, records keyed by session id so
// that a session's events share a partition and keep their order. Events of all sessions share produce
// requests (group commit, see groupCommit): one request per broker round trip carries whatever is pending.
// Each session stamps its events through a Session, which serialises them and advances the hash chain only after Kafka acknowledged the event:
//
//	Session.Emit ──Peek(seq n)──▶ Produce(key=session) ──ack──▶ Commit (chain now at n+1) ──▶ return nil
//	                                              └──error/timeout──▶ chain unchanged, event in limbo ──▶ ErrUnavailable
//	Session.Emit (next) ──▶ limbo event sent again, same record, until ack ──▶ Commit, its note ──▶ Peek(seq n+1) …
//
// EmitAsync sends an event without waiting; its Wait, or the session's next event, waits for the
// acknowledgement, so a session still has at most one unacknowledged event.
//
// Because the chain only moves on an acknowledgement, a refused event leaves no gap: the session may go on
// (the gateway refuses the statement and accepts the next one once Kafka is back). A record Kafka did not
// acknowledge may still have been written (a lost answer, an uncommitted append committed later), so it is
// kept in limbo and sent again, the very same record, before the session's next event: a seq belongs to
// one event for good, and the chain never forks and never skips (see Session).
//
// A Checkpointer writes, every interval, a gateway.checkpoint on the run's own chain: the heads of the
// sessions that advanced since the previous checkpoint, Ed25519-signed and chained to it (empty ones too).
package audit
