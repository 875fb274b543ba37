package proxy

import (
	"sync/atomic"
	"time"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/schemas"
)

// recorder writes the statement events of one session. The relay says what happened to a statement;
// the recorder says it in the contract's words (schemas) and counts it, the way Teleport's engine keeps
// its audit emitter apart from its message loop. Its methods are called by whichever relay goroutine
// owns the statement at that moment; audit.Session orders the events.
type recorder struct {
	ss *session
}

func (rc recorder) base(r *run) schemas.QueryExecuted {
	ss := rc.ss
	return schemas.QueryExecuted{Statement: r.st, Role: ss.cred.Role, MaskShape: string(ss.srv.deps.Masker.Shape()),
		Rule: r.rule, Approval: r.approval}
}

// blocked records a statement that never reached the database (query.blocked) and counts it.
func (rc recorder) blocked(r *run, reason schemas.BlockReason, msg, code string, ref *schemas.ApprovalRef) {
	ss := rc.ss
	ss.blocked.Add(1)
	ss.srv.m.refusals.WithLabelValues(string(reason)).Inc()
	ss.srv.m.statement(r.cls.Kind, "blocked")
	if _, err := ss.ev.Emit(schemas.TypeQueryBlocked, schemas.QueryBlocked{Statement: r.st, Role: ss.cred.Role,
		Reason: string(reason), Message: msg, SQLState: code, Rule: r.rule, Approval: ref}); err != nil {
		ss.srv.log.Error("query.blocked not recorded", "session", ss.id, "err", err)
	}
}

// intent writes a statement's query.executed before it is forwarded (write-ahead): Outcome "forwarded",
// the outcome follows in query.completed.
func (rc recorder) intent(r *run) error {
	ev := rc.base(r)
	ev.Outcome = OutcomeForwarded
	e, err := rc.ss.ev.EmitNoted(schemas.TypeQueryExecuted, ev,
		rc.lateNote(r, "the query.executed event before this one was acknowledged only after the gateway had refused the statement: it was not run"))
	if err == nil {
		r.intent = e.Seq
		rc.ss.statements.Add(1)
	}
	return err
}

// read is the query.executed of a side-effect-free read that ran: its outcome and masked result.
func (rc recorder) read(r *run, outcome, tag, code, msg string) schemas.QueryExecuted {
	ev := rc.base(r)
	ev.Outcome, ev.SQLState, ev.Error, ev.CommandTag = outcome, code, msg, tag
	ev.Rows, ev.DurationUS = r.rows, time.Since(r.arrived).Microseconds()
	ev.Masked, ev.Sample = rc.ss.maskedResult()
	return ev
}

// readWritten writes a read's event and waits for Kafka (strict reads). If Kafka is reported
// unavailable but the event turns out written later, landed is set and a note says the result was
// withheld.
func (rc recorder) readWritten(r *run, ev schemas.QueryExecuted, landed *atomic.Bool) error {
	note := rc.lateNote(r, "the query.executed event before this one was acknowledged only after the gateway had given up on it: the result was withheld from the client")
	note.Landed = func(schemas.Event) { landed.Store(true) }
	_, err := rc.ss.ev.EmitNoted(schemas.TypeQueryExecuted, ev, note)
	if err == nil {
		rc.count(r, ev.Outcome)
	}
	return err
}

// readSent sends a read's event without waiting (pipelined reads).
func (rc recorder) readSent(r *run, ev schemas.QueryExecuted) (*audit.Pending, error) {
	p, err := rc.ss.ev.EmitAsync(schemas.TypeQueryExecuted, ev)
	if err == nil {
		rc.count(r, ev.Outcome)
	}
	return p, err
}

func (rc recorder) count(r *run, outcome string) {
	rc.ss.statements.Add(1)
	rc.ss.srv.m.statement(r.cls.Kind, outcome)
}

// completed is the query.completed of a statement recorded ahead.
func (rc recorder) completed(r *run, outcome, tag, code, msg string) schemas.QueryCompleted {
	ss := rc.ss
	ev := schemas.QueryCompleted{Intent: r.intent, Index: r.st.Index, Kind: r.st.Kind, Outcome: outcome, SQLState: code,
		Error: msg, CommandTag: tag, Rows: rowsOf(r.rows, tag), DurationUS: time.Since(r.arrived).Microseconds(),
		MaskShape: string(ss.srv.deps.Masker.Shape())}
	if outcome != OutcomeSkipped && outcome != OutcomeUnknown {
		ev.Masked, ev.Sample = ss.maskedResult()
	}
	return ev
}

// lateNote is written if a statement's event, reported unavailable, turns out written later.
func (rc recorder) lateNote(r *run, msg string) *audit.Note {
	return &audit.Note{Type: schemas.TypeQueryBlocked, Data: schemas.QueryBlocked{Statement: r.st, Role: rc.ss.cred.Role,
		Reason: string(schemas.BlockAuditUnavailable), Message: msg, SQLState: SQLStateAuditUnavailable, Rule: r.rule}}
}
