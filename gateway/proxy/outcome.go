package proxy

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/schemas"
)

// Outcomes of statements recorded ahead (docs/invariants.md, invariant 1). A statement that may change
// anything is recorded by a query.executed "forwarded" event before it is sent; once PostgreSQL answers,
// the upstream goroutine sends its query.completed (outcome, tag, SQLSTATE, rows, masked counts and
// sample) without waiting. Before the client goroutine forwards the session's next statement it waits
// until every earlier recorded-ahead statement is answered and its outcome acknowledged (awaitOutcomes),
// so a session never has more than one statement whose outcome is not in the log. An outcome Kafka did
// not take is sent again before the next statement; while it cannot be, statements are refused (58000).

// Outcomes written in query.completed besides "ok" and "error".
const (
	// OutcomeSkipped: the server did not run the statement: an earlier statement of its query string or
	// pipelined batch failed.
	OutcomeSkipped = "skipped"
	// OutcomeUnknown: the session ended (client or server gone) before PostgreSQL answered.
	OutcomeUnknown = "unknown"
	// OutcomeWithheld (query.executed of a read): the read ran, but Kafka did not take its record in
	// time, so its result was withheld from the client; this record was written later.
	OutcomeWithheld = "withheld"
)

// outcomes tracks the recorded-ahead statements of a session until their outcome is acknowledged.
type outcomes struct {
	mu       sync.Mutex
	cond     *sync.Cond
	inflight int               // queued items holding a recorded-ahead statement not yet answered
	list     []*pendingOutcome // sent (or to send again), not yet confirmed by awaitOutcomes
	closed   bool
}

type pendingOutcome struct {
	typ  string // event type to send again: query.completed, or query.executed of a withheld read
	data any
	p    *audit.Pending // nil: not sent (send again)
	// landed is set when an earlier attempt, reported unavailable, turned out written: nothing to resend.
	landed *atomic.Bool
	// read: the query.executed of a pipelined read whose result was already released. It cannot be sent
	// again truthfully later; if Kafka refuses it the session ends (errReadUnrecorded).
	read bool
}

// errOutcomeTimeout: an earlier statement did not finish in time (a COPY waiting for data the client
// does not send, say); the next one is refused.
var errOutcomeTimeout = errors.New("an earlier statement of the session has not finished")

// errReadUnrecorded ends a session whose pipelined read's event Kafka did not acknowledge.
var errReadUnrecorded = errors.New("the event of a read whose result was released was not acknowledged")

func (o *outcomes) init() { o.cond = sync.NewCond(&o.mu) }

// track counts an item whose statements were recorded ahead (client goroutine, before the push).
func (ss *session) track(it *item) {
	for _, r := range it.runs {
		if r.mode == modeAcked || (r.mode == modeGated && ss.srv.cfg.PipelinedReads) {
			it.tracked = true
		}
	}
	if it.tracked {
		ss.oc.mu.Lock()
		ss.oc.inflight++
		ss.oc.mu.Unlock()
	}
}

// pop removes the head item; statements of it the server never answered get their outcome.
func (ss *session) pop() {
	it := ss.q.head()
	ss.q.pop()
	if it == nil {
		return
	}
	ss.finish(it, OutcomeSkipped)
}

// finish records an outcome for every recorded-ahead statement of it that has none, and stops counting
// it as in flight.
func (ss *session) finish(it *item, outcome string) {
	code, note := "", ss.skipNote(outcome)
	if it.kind == itExecute && it.portal != nil && it.portal == ss.bindFailed {
		outcome, code, note = "error", ss.bindErr[0], ss.bindErr[1] // it failed at its own Bind
	}
	for _, r := range it.runs {
		switch {
		case r.mode == modeAcked && !r.completed:
			ss.recordOutcome(r, outcome, "", code, note)
		case r.mode == modeGated && !r.released:
			// A read the server skipped (an earlier message of its batch failed, e.g. its own Bind) or
			// never answered: recorded with that outcome, so no statement the client sent goes unrecorded.
			if err := ss.release(r, outcome, "", code, note); err != nil {
				ss.srv.log.Debug("skipped read not recorded", "session", ss.id, "err", err)
			}
		}
	}
	if it.tracked {
		it.tracked = false
		ss.oc.mu.Lock()
		ss.oc.inflight--
		ss.oc.cond.Broadcast()
		ss.oc.mu.Unlock()
	}
}

// recordOutcome sends a recorded-ahead statement's query.completed (upstream goroutine) without waiting
// for Kafka; awaitOutcomes waits for it before the next statement.
func (ss *session) recordOutcome(r *run, outcome, tag, code, msg string) {
	r.completed = true
	s := ss.srv
	ev := ss.rec.completed(r, outcome, tag, code, msg)
	p, err := ss.ev.EmitAsync(schemas.TypeQueryCompleted, ev)
	if err != nil {
		p = nil // sent again by awaitOutcomes
		s.log.Warn("query.completed not sent; retried before the next statement", "session", ss.id, "err", err)
	}
	ss.oc.mu.Lock()
	ss.oc.list = append(ss.oc.list, &pendingOutcome{typ: schemas.TypeQueryCompleted, data: ev, p: p})
	ss.oc.mu.Unlock()
}

// rowsOf is the rows a statement returned, or for a write or COPY the count its command tag reports.
func rowsOf(rows int64, tag string) int64 {
	if rows > 0 || tag == "" {
		return rows
	}
	if i := strings.LastIndexByte(tag, ' '); i >= 0 {
		if n, err := strconv.ParseInt(tag[i+1:], 10, 64); err == nil {
			return n
		}
	}
	return rows
}

// awaitEarlier runs awaitOutcomes for a statement about to be forwarded (pure: a side-effect-free read)
// and refuses the statement when an earlier outcome is not in the log. It returns whether to go on, and a
// stop reason when the session must end.
func (ss *session) awaitEarlier(simple bool) (bool, schemas.EndReason) {
	err := ss.awaitOutcomes()
	if err == nil {
		return true, ""
	}
	ss.srv.m.refusals.WithLabelValues("audit_unavailable").Inc()
	if errors.Is(err, errReadUnrecorded) {
		ss.fatal(SQLStateAuditUnavailable, "pangate: the audit log did not acknowledge the record of a read whose result was already sent (audit.reads: pipelined); the session ends")
		return false, schemas.EndAuditUnavailable
	}
	ss.pendingErr = errorFrame(SQLStateAuditUnavailable, "ERROR", auditUnavailableMsg)
	if errors.Is(err, errOutcomeTimeout) {
		ss.pendingErr = errorFrame(sqlstateUpstream, "ERROR", "pangate: an earlier statement of this session has not finished; statement not run")
	}
	if simple {
		ss.refuseQuery()
	} else {
		ss.refuseExtended()
	}
	return false, ""
}

// awaitOutcomes waits until every recorded-ahead statement forwarded so far is answered and its outcome
// acknowledged, sending again the outcomes Kafka did not take. Client goroutine, before a statement is
// forwarded; an error means an outcome is still not in the log (refuse the statement).

func (ss *session) awaitOutcomes() error {
	ss.oc.mu.Lock()
	if ss.oc.inflight > 0 {
		ss.oc.mu.Unlock()
		// PostgreSQL holds back extended-protocol answers until Sync or Flush.
		_ = ss.write(flushFrame)
		if err := ss.uw.Flush(); err != nil {
			return err
		}
		ss.oc.mu.Lock()
		expired := false
		timer := time.AfterFunc(settleTimeout, func() {
			ss.oc.mu.Lock()
			expired = true
			ss.oc.cond.Broadcast()
			ss.oc.mu.Unlock()
		})
		for ss.oc.inflight > 0 && !ss.oc.closed && !expired {
			ss.oc.cond.Wait()
		}
		timer.Stop()
		if ss.oc.inflight > 0 {
			ss.oc.mu.Unlock()
			return errOutcomeTimeout
		}
	}
	list := ss.oc.list
	ss.oc.list = nil
	ss.oc.mu.Unlock()
	for i, o := range list {
		var err error
		if o.p != nil {
			_, err = o.p.Wait()
		}
		if o.read {
			if err != nil {
				return errReadUnrecorded
			}
			continue
		}
		if o.p == nil || err != nil {
			// Sent again only if never written: an event Kafka did not acknowledge stays first in the
			// session's line and is settled (sent again as it was) before anything new (audit.Session).
			_, err = ss.ev.EmitBuilt(o.typ, func() (any, error) {
				if (o.landed != nil && o.landed.Load()) || (o.p != nil && o.p.Landed()) {
					return nil, audit.ErrSkipped
				}
				return o.data, nil
			})
			if errors.Is(err, audit.ErrSkipped) {
				err = nil
			}
		}
		if err != nil {
			ss.oc.mu.Lock()
			ss.oc.list = append(list[i:], ss.oc.list...)
			ss.oc.mu.Unlock()
			return err
		}
	}
	return nil
}

// closeOutcomes wakes awaitOutcomes when the session stops.
func (ss *session) closeOutcomes() {
	ss.oc.mu.Lock()
	ss.oc.closed = true
	ss.oc.cond.Broadcast()
	ss.oc.mu.Unlock()
}

// maskedResult is the masked counts and sample of the statement the stream just finished.
func (ss *session) maskedResult() ([]schemas.ColumnCount, *schemas.Sample) {
	counts := ss.stream.Counts()
	if len(counts) == 0 {
		return nil, nil
	}
	masked := make([]schemas.ColumnCount, 0, len(counts))
	for col, n := range counts {
		masked = append(masked, schemas.ColumnCount{Column: col, Count: int64(n)})
	}
	sortCounts(masked)
	var sample *schemas.Sample
	if sm := ss.stream.Sample(); len(sm.Rows) > 0 {
		sample = &schemas.Sample{Columns: sm.Columns, Rows: sm.Rows, Truncated: sm.Truncated}
	}
	return masked, sample
}

// endOutcomes records, once the relay ended, the outcome of statements PostgreSQL never answered and
// sends every outcome not yet in the log.
func (ss *session) endOutcomes() {
	// After an error the server discards every message until Sync (and the rest of a simple Query string):
	// items queued behind the error, up to the next Sync, were skipped, whether or not the ReadyForQuery
	// came before the session ended (a client that closes as soon as it reads the error).
	skipping := ss.skipCause != ""
	for {
		it := ss.q.head()
		if it == nil {
			break
		}
		ss.q.pop()
		outcome := OutcomeUnknown
		if skipping {
			outcome = OutcomeSkipped
		}
		ss.finish(it, outcome)
		if it.kind == itSync || it.kind == itQuery {
			skipping = false // what follows a Sync (or a simple Query, whose error ends at its own end) is unknown
		}
	}
	// Kafka may be down right now: the records of statements that ran (outcomes, withheld reads) are
	// sent again until it is back, for a while, before the session's end is recorded.
	deadline := time.Now().Add(endRetryFor)
	for {
		err := ss.awaitOutcomes()
		if err == nil || errors.Is(err, errReadUnrecorded) {
			return
		}
		if time.Now().After(deadline) || ss.srv.closing.Load() {
			ss.srv.log.Error("statement records not written at session end", "session", ss.id, "err", err)
			return
		}
		time.Sleep(endRetryEvery)
	}
}

// How long a session that ended during a Kafka outage keeps trying to record its statements.
const (
	endRetryFor   = 10 * time.Minute
	endRetryEvery = 2 * time.Second
)

// skipNote says why a statement has no answer of its own from the server.
func (ss *session) skipNote(outcome string) string {
	if outcome == OutcomeSkipped && ss.skipCause != "" {
		return "not run: an earlier message of its batch failed (SQLSTATE " + ss.skipCause + ")"
	}
	return ""
}

// releasePipelined sends a read's result at once and its query.executed without waiting (audit.reads:
// pipelined); awaitOutcomes makes the session's next statement wait for the acknowledgement.
func (ss *session) releasePipelined(r *run, ev schemas.QueryExecuted, buf []byte) error {
	s := ss.srv
	p, err := ss.rec.readSent(r, ev)
	if err != nil {
		// The session's previous event (maybe a read whose result was released) or this one was not
		// taken: with results already out, the session cannot go on unrecorded.
		s.m.refusals.WithLabelValues("audit_unavailable").Inc()
		s.m.statement(r.cls.Kind, "refused")
		ss.fatal(SQLStateAuditUnavailable, "pangate: the audit log did not take the record of a read (audit.reads: pipelined); the session ends")
		return errReadUnrecorded
	}
	ss.oc.mu.Lock()
	ss.oc.list = append(ss.oc.list, &pendingOutcome{p: p, read: true})
	ss.oc.mu.Unlock()
	return ss.writeClient(buf)
}
