package proxy

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/gateway/hold"
	"github.com/pangate/pangate/gateway/pgstate"
	"github.com/pangate/pangate/schemas"
)

var randReader io.Reader = rand.Reader

// relay runs the two copy loops until either side ends.
func (ss *session) relay() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := ss.fromUpstream()
		switch {
		case err == nil || errors.Is(err, net.ErrClosed):
			ss.stop("upstream_closed")
		case errors.Is(err, io.EOF):
			ss.stop("upstream_closed")
		default:
			ss.srv.log.Info("upstream relay ended", "session", ss.id, "err", err)
			ss.stop("error")
		}
	}()
	reason := ss.fromClient()
	ss.stop(reason)
	<-done
}

// fromClient reads client messages, intercepts those that run statements and forwards the rest.
func (ss *session) fromClient() string {
	s := ss.srv
	for {
		if s.cfg.IdleTimeout > 0 {
			_ = ss.conn.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		}
		typ, frame, err := ss.cr.next()
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				if ss.q.len() > 0 {
					continue // waiting for a result is not idleness
				}
				ss.fatal(sqlstateIdle, fmt.Sprintf("pangate: session idle for %s, closing (limits.idle_timeout)", s.cfg.IdleTimeout))
				return "idle_timeout"
			case errors.Is(err, ErrMessageTooLarge):
				s.m.refusals.WithLabelValues("message_too_large").Inc()
				ss.fatal(sqlstateTooLarge, "pangate: "+err.Error())
				return "error"
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, os.ErrDeadlineExceeded):
				return "client_gone"
			}
			return "client_gone"
		}
		ss.bytesIn.Add(int64(len(frame)))
		if ss.skipUntilSync && typ != 'S' && typ != 'X' {
			continue // PostgreSQL would ignore these after an error; the gateway refused one of them
		}
		switch typ {
		case 'P', 'B', 'D', 'E', 'C':
			ss.extOpen = true
		case 'S':
			ss.extOpen = false
		case 'Q':
			if ss.extOpen {
				// PostgreSQL would run it, or skip it without any answer if the batch had failed: the
				// gateway could not tell which. No driver does this; the session ends.
				ss.fatal(sqlstateProtocol, "pangate: simple Query inside an unfinished extended-protocol batch; send Sync first")
				return "error"
			}
		}
		var fwd = true
		var stopReason string
		if typ == 'Q' || typ == 'E' {
			// The outcome of every earlier statement recorded ahead is in the log before this one runs.
			if err := ss.awaitOutcomes(); errors.Is(err, errReadUnrecorded) {
				s.m.refusals.WithLabelValues("audit_unavailable").Inc()
				ss.fatal(SQLStateAuditUnavailable, "pangate: the audit log did not acknowledge the record of a read whose result was already sent (audit.reads: pipelined); the session ends")
				return "audit_unavailable"
			} else if err != nil {
				s.m.refusals.WithLabelValues("audit_unavailable").Inc()
				ss.pendingErr = errorFrame(SQLStateAuditUnavailable, "ERROR", auditUnavailableMsg)
				if typ == 'Q' {
					ss.refuseQuery()
				} else {
					ss.refuseExtended()
				}
				if flushErr := ss.uw.Flush(); flushErr != nil {
					return "error"
				}
				continue
			}
		}
		switch typ {
		case 'Q':
			fwd, stopReason = ss.onQuery(frame)
		case 'P':
			fwd = ss.onParse(frame)
		case 'B':
			ss.onBind(frame)
		case 'D':
			ss.onDescribe(frame)
		case 'E':
			fwd, stopReason = ss.onExecute(frame)
		case 'C':
			ss.onClose(frame)
		case 'S':
			ss.skipUntilSync = false
			ss.q.push(&item{kind: itSync})
			ss.model.EndSegment()
		case 'F':
			// The function-call sub-protocol runs a function by OID, outside any SQL the gateway could
			// classify or record; it is refused.
			ss.refuse(nil, "function call protocol is not supported through pangate; call the function with SELECT", sqlstateNotSupported, "limit", "", true)
			fwd = false
		case 'X':
			ss.write(frame)
			_ = ss.uw.Flush()
			return "client_terminate"
		}
		if stopReason != "" {
			_ = ss.uw.Flush()
			return stopReason
		}
		if fwd {
			if err := ss.write(frame); err != nil {
				return "error"
			}
		}
		if !ss.cr.buffered() {
			if err := ss.uw.Flush(); err != nil {
				return "error"
			}
		}
	}
}

// write forwards a frame upstream (buffered).
func (ss *session) write(frame []byte) error {
	_, err := ss.uw.Write(frame)
	return err
}

// onQuery handles a simple-protocol Query: check that the gateway lexes it as the server will, classify,
// resolve the names it uses, decide, record (before forwarding unless every statement is a
// side-effect-free read), queue the expected responses and forward.
func (ss *session) onQuery(frame []byte) (bool, string) {
	sql, _, ok := cstring(frame[5:])
	if !ok {
		ss.fatal(sqlstateProtocol, "pangate: malformed Query message")
		return false, "error"
	}
	if msg := ss.checkLexing(sql); msg != "" {
		ss.pendingErr = errorFrame(sqlstateNotSupported, "ERROR", maskText(ss.srv, msg))
		ss.refuseQuery()
		return false, ""
	}
	cls := ss.srv.deps.Classifier.Classify(sql)
	it := &item{kind: itQuery}
	now := time.Now()
	writeAhead := !ss.srv.deps.Audit.Healthy()
	mark := ss.model.Mark()
	// Names first, in order: a statement may use a name an earlier one of the same string defines.
	res := make([]resolved, len(cls))
	ops := make([]*pgstate.Op, len(cls))
	for i, c := range cls {
		rs, err := ss.resolve(c, c.Text)
		if err == nil {
			if msg := settingRefusal(rs.cls); msg != "" {
				err = errors.New(msg)
			}
		}
		if err != nil {
			ss.model.Truncate(mark)
			ss.refuseStatement(c, err, true)
			return false, ""
		}
		res[i] = rs
		ops[i] = rs.op()
	}
	// The whole string is decided at once: every statement sees the kinds of all (batch_kinds), and one
	// combined decision (first deny, else the riskiest hold) refuses or holds the string as a whole, so an
	// approver sees every statement that would run, not only the one that triggered the rule.
	batch := make([]classify.Kind, len(res))
	for i, rs := range res {
		batch[i] = rs.cls.Kind
	}
	decs := make([]Decision, len(res))
	opaque := false
	for i, rs := range res {
		r := ss.newRun(rs.cls, rs.cls.Text, nil, "simple", now)
		r.op = ops[i]
		decs[i] = ss.decide(r, batch)
		if !ss.pureRead(rs.cls) {
			writeAhead = true
		}
		if mayChangeSettings(rs.cls) {
			opaque = true
		}
		it.runs = append(it.runs, r)
	}
	if i, dec := combine(decs); dec.Action != ActionAllow {
		r := it.runs[i]
		if len(it.runs) > 1 {
			// The refusal or approval covers the string: record it with the whole (masked) text.
			whole := *r
			whole.st.SQL = maskText(ss.srv, sql)
			r = &whole
		}
		if ss.blockByPolicy(r, dec) {
			ss.model.Truncate(mark)
			ss.refuseQuery()
			return false, ""
		}
		for _, o := range it.runs {
			if o != r {
				o.approval = r.approval
				o.st.RiskTags = append(o.st.RiskTags[:len(o.st.RiskTags):len(o.st.RiskTags)], "approved")
			}
		}
	}
	if writeAhead {
		for _, r := range it.runs {
			if err := ss.recordAhead(r); err != nil {
				ss.model.Truncate(mark)
				return ss.auditRefusal(r, err, false)
			}
		}
	} else {
		for _, r := range it.runs {
			r.mode = modeGated
		}
	}
	if opaque {
		ss.model.MarkOpaque()
	}
	ss.track(it)
	ss.q.push(it)
	ss.model.EndSegment()
	return true, ""
}

// pureRead says whether a statement may run before its event is acknowledged: a read that provably has
// no side effects (docs/invariants.md, invariant 1). Everything else is recorded ahead.
func (ss *session) pureRead(c classify.Statement) bool {
	return c.Kind == classify.KindRead && !c.UnknownTables && sideEffectFree(c, ss.facts)
}

// refuseStatement refuses a statement the gateway cannot judge (an unknown prepared statement or
// portal, a setting that would change lexing) before anything of it is forwarded, and records it.
func (ss *session) refuseStatement(c classify.Statement, err error, simple bool) {
	reason, code, msg := "lexing", sqlstateNotSupported, err.Error()
	if errors.Is(err, errUnknownName) {
		reason, code = "unknown_name", SQLStatePolicyDenied
		msg = "pangate: " + err.Error() + " is not known to the gateway, so what it runs cannot be judged; prepare it through the gateway (statement refused)"
	} else if errors.Is(err, pgstate.ErrClosed) || errors.Is(err, pgstate.ErrTimeout) {
		reason, code = "limit", sqlstateUpstream
		msg = "pangate: the server did not answer earlier statements of this session; statement not run"
	}
	msg = maskText(ss.srv, msg)
	r := ss.newRun(c, c.Text, nil, map[bool]string{true: "simple", false: "extended"}[simple], time.Now())
	ss.blocked.Add(1)
	ss.srv.m.refusals.WithLabelValues(reason).Inc()
	ss.srv.m.statements.WithLabelValues(string(c.Kind), "blocked").Inc()
	if _, err := ss.ev.Emit(schemas.TypeQueryBlocked, schemas.QueryBlocked{Statement: r.st, Role: ss.cred.Role,
		Reason: reason, Message: msg, SQLState: code}); err != nil {
		ss.srv.log.Error("query.blocked not recorded", "session", ss.id, "err", err)
	}
	ss.pendingErr = errorFrame(code, "ERROR", msg)
	if simple {
		ss.refuseQuery()
	} else {
		ss.refuseExtended()
	}
}

func (ss *session) newRun(c classify.Statement, sql string, params []string, protocol string, now time.Time) *run {
	r := &run{cls: c, arrived: now}
	r.st = ss.statement(c, sql, params, protocol)
	r.copyTable, r.copyCols, r.copyKnown = ss.copyColumns(c, sql)
	return r
}

// combine folds the decisions on the statements of one query string (policy.Combine's rule): the first
// deny, else the hold with the highest score (the first among equals), else allow. It returns the index
// of the deciding statement.
func combine(decs []Decision) (int, Decision) {
	best := -1
	for i, d := range decs {
		switch d.Action {
		case ActionAllow, "":
		case ActionHold:
			if best < 0 || d.Score > decs[best].Score {
				best = i
			}
		default: // deny, or anything unknown: fail closed
			return i, Decision{Action: ActionDeny, Rule: d.Rule, Reason: d.Reason, Score: d.Score}
		}
	}
	if best < 0 {
		return 0, Decision{Action: ActionAllow}
	}
	return best, decs[best]
}

// decide applies the policy to one statement; batch holds the kinds of every statement of its query
// string (nil: just this one).
func (ss *session) decide(r *run, batch []classify.Kind) Decision {
	in := Input{Identity: ss.claims.Identity, Target: ss.target, Database: ss.database, Role: ss.role,
		Statement: r.cls, Cardholder: r.st.Cardholder, Batch: batch}
	in.DerivesCardholder, in.Derivations = ss.derivations(r.cls)
	d := ss.srv.deps.Policy.Evaluate(in)
	r.rule = d.Rule
	r.st.RiskScore = int64(d.Score)
	if d.Action == "" {
		d.Action = ActionAllow
	}
	return d
}

// blockByPolicy handles a deny or hold decision; it returns false when a hold was approved.
func (ss *session) blockByPolicy(r *run, d Decision) bool {
	reason, msg := "policy_deny", "pangate: statement denied by policy"
	if d.Rule != "" {
		msg += " rule " + d.Rule
	}
	if d.Reason != "" {
		msg += ": " + d.Reason
	}
	if d.Action == ActionHold {
		if ss.srv.deps.Holder != nil {
			if ref, ok := ss.hold(r, d); ok {
				r.approval = ref // query.executed names who approved the statement that ran
				return false
			}
			return true
		}
		reason, msg = "approval_unavailable", "pangate: statement requires approval, but the approval service is not configured"
	}
	ss.blocked.Add(1)
	ss.srv.m.refusals.WithLabelValues(reason).Inc()
	ss.srv.m.statements.WithLabelValues(string(r.cls.Kind), "blocked").Inc()
	msg = maskText(ss.srv, msg)
	if _, err := ss.ev.Emit(schemas.TypeQueryBlocked, schemas.QueryBlocked{Statement: r.st, Role: ss.cred.Role,
		Reason: reason, Message: msg, SQLState: SQLStatePolicyDenied, Rule: d.Rule}); err != nil {
		ss.srv.log.Error("query.blocked not recorded", "session", ss.id, "err", err)
	}
	ss.pendingErr = errorFrame(SQLStatePolicyDenied, "ERROR", msg)
	return true
}

// hold is the seam for approvals (gateway/hold): it records approval.requested in the session's chain,
// waits for the decision and records it on the statement. It returns whether the statement may run.
func (ss *session) hold(r *run, d Decision) (*schemas.ApprovalRef, bool) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Minute
	}
	req := schemas.ApprovalRequested{ApprovalID: schemas.NewID(), Session: ss.id, Identity: ss.claims.Identity,
		Target: ss.target, Role: ss.cred.Role, Statement: r.st, Rule: d.Rule, Reason: maskText(ss.srv, d.Reason),
		ApproverGroup: d.ApproverGroup, ReasonRequired: d.ReasonRequired,
		Expires: schemas.FormatTime(time.Now().Add(timeout)), GatewayInst: ss.srv.cfg.Instance}
	if _, err := ss.ev.Emit(schemas.TypeApprovalRequested, req); err != nil {
		ss.pendingErr = errorFrame(SQLStateAuditUnavailable, "ERROR", "pangate: the audit log is unavailable; the statement was not run")
		return nil, false
	}
	ss.noticeHeld(req)
	w := ss.watchHold()
	dec, err := ss.srv.deps.Holder.Request(w.ctx, req)
	ss.stopHold(w)
	if cause := context.Cause(w.ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // the client went away or cancelled: never run it, whatever was decided
	}
	ref := &schemas.ApprovalRef{ID: req.ApprovalID, Decision: dec.Outcome, By: cleanText(ss.srv, dec.By),
		ByEmail: cleanText(ss.srv, dec.ByEmail), Reason: cleanText(ss.srv, dec.Reason)}
	if err == nil && dec.Approved() {
		r.st.RiskTags = append(r.st.RiskTags[:len(r.st.RiskTags):len(r.st.RiskTags)], "approved")
		return ref, true
	}
	reason, code := "approval_"+dec.Outcome, SQLStatePolicyDenied
	var msg string
	switch {
	case errors.Is(err, hold.ErrClientGone), errors.Is(err, hold.ErrClientTimeout):
		reason = "approval_withdrawn"
		ref.Decision = "withdrawn"
		msg = fmt.Sprintf("pangate: statement not run: approval %s was withdrawn because the client went away or cancelled", req.ApprovalID)
	case errors.Is(err, hold.ErrPublish):
		// The approval could not be recorded (or closed) in Kafka: an audit failure like any other.
		reason, code, msg = "audit_unavailable", SQLStateAuditUnavailable,
			"pangate: the audit log (Kafka) did not acknowledge the approval events of this statement, so it was not run; retry when the audit log is available"
	case dec.Outcome == "" && errors.Is(err, hold.ErrNotRunning):
		reason, msg = "approval_unavailable", "pangate: statement requires approval, but the approval service is not running; retry later"
	case dec.Outcome == "" || dec.Outcome == hold.Expired:
		reason = "approval_expired"
		ref.Decision = hold.Expired
		msg = fmt.Sprintf("pangate: statement not approved: approval %s expired after %s without a decision", req.ApprovalID, shortDuration(timeout))
	default:
		msg = fmt.Sprintf("pangate: statement %s by %s", dec.Outcome, decider(ss.srv, dec))
		if ref.Reason != "" {
			msg += ": " + ref.Reason
		}
		msg += fmt.Sprintf(" (approval %s)", req.ApprovalID)
	}
	msg = maskText(ss.srv, msg)
	ss.blocked.Add(1)
	ss.srv.m.refusals.WithLabelValues(reason).Inc()
	ss.srv.m.statements.WithLabelValues(string(r.cls.Kind), "blocked").Inc()
	if _, err := ss.ev.Emit(schemas.TypeQueryBlocked, schemas.QueryBlocked{Statement: r.st, Role: ss.cred.Role, Reason: reason,
		Message: msg, SQLState: code, Rule: d.Rule, Approval: ref}); err != nil {
		ss.srv.log.Error("query.blocked not recorded", "session", ss.id, "err", err)
	}
	ss.pendingErr = errorFrame(code, "ERROR", msg)
	return ref, false
}

// maxDeciderText caps a decider's reason (free text typed in Slack) in messages and events.
const maxDeciderText = 300

// cleanText makes text that came from approvers (Slack names, reasons) safe to show and record: control
// characters (newlines, escapes that could forge log lines or terminal output) become spaces, the length
// is capped and card data is masked.
func cleanText(s *Server, t string) string {
	var b strings.Builder
	n := 0
	for _, c := range t {
		if n >= maxDeciderText {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(c) || c == utf8.RuneError || unicode.Is(unicode.Cf, c) {
			c = ' '
		}
		b.WriteRune(c)
		n++
	}
	return maskText(s, strings.TrimSpace(b.String()))
}

// decider names who decided an approval: "email (name)", or whichever of them, or the Slack user id.
func decider(s *Server, d hold.Decision) string {
	email, name := cleanText(s, d.ByEmail), cleanText(s, d.ByName)
	switch {
	case email != "" && name != "":
		return email + " (" + name + ")"
	case email != "":
		return email
	case name != "":
		return name
	case d.By != "":
		return cleanText(s, d.By)
	}
	return "an approver"
}

// shortDuration writes 15m rather than 15m0s.
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// recordAhead writes the statement's event before it is forwarded (write-ahead). The outcome is not known
// yet: Outcome "forwarded" says the statement was sent upstream after this event was acknowledged.
func (ss *session) recordAhead(r *run) error {
	r.mode = modeAcked
	e, err := ss.ev.EmitNoted(schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: r.st, Role: ss.cred.Role,
		Outcome: OutcomeForwarded, MaskShape: string(ss.srv.deps.Masker.Shape()), Rule: r.rule, Approval: r.approval},
		ss.lateNote(r, "the query.executed event before this one was acknowledged only after the gateway had refused the statement: it was not run"))
	if err == nil {
		r.intent = e.Seq
		ss.statements.Add(1)
	}
	return err
}

// lateNote is written if a statement's event, reported unavailable, turns out written later.
func (ss *session) lateNote(r *run, msg string) *audit.Note {
	return &audit.Note{Type: schemas.TypeQueryBlocked, Data: schemas.QueryBlocked{Statement: r.st, Role: ss.cred.Role,
		Reason: "audit_unavailable", Message: msg, SQLState: SQLStateAuditUnavailable, Rule: r.rule}}
}

// Outcomes written in query.executed besides "ok" and "error".
const (
	// OutcomeForwarded: written before a statement that may change data was sent upstream (write-ahead);
	// its result is not in the event.
	OutcomeForwarded = "forwarded"
	// OutcomeStreamed: a read whose result outgrew limits.result_buffer_bytes; the event was written when
	// the buffer filled, with the rows seen until then, and the rest of the result streamed after it.
	OutcomeStreamed = "streamed"
)

// auditRefusal refuses a statement whose event Kafka did not take. ErrIndeterminate ends the session.
func (ss *session) auditRefusal(r *run, err error, extended bool) (bool, string) {
	s := ss.srv
	s.m.refusals.WithLabelValues("audit_unavailable").Inc()
	s.m.statements.WithLabelValues(string(r.cls.Kind), "refused").Inc()
	s.log.Warn("statement refused: audit log unavailable", "session", ss.id, "err", err)
	if errors.Is(err, audit.ErrIndeterminate) {
		ss.fatal(SQLStateAuditUnavailable, "pangate: the audit log did not confirm an event; the session ends to keep its record consistent")
		return false, "audit_unavailable"
	}
	ss.pendingErr = errorFrame(SQLStateAuditUnavailable, "ERROR", auditUnavailableMsg)
	if extended {
		ss.refuseExtended()
	} else {
		ss.refuseQuery()
	}
	return false, ""
}

const auditUnavailableMsg = "pangate: the audit log (Kafka) did not acknowledge the event recording this statement, so it was not run; retry when the audit log is available"

// refuseQuery answers a refused simple Query: the gateway's ErrorResponse, then a ReadyForQuery obtained by
// sending the server a Sync, so the transaction status the client sees stays the server's.
func (ss *session) refuseQuery() {
	ss.q.push(&item{kind: itRefused, errFrame: ss.takeErr()})
	ss.q.push(&item{kind: itSync})
	ss.model.EndSegment()
	_ = ss.write(syncFrame)
}

// refuseExtended answers a refused Execute: the ErrorResponse takes the Execute's place and the rest of the
// batch is skipped until the client's Sync, as PostgreSQL does after an error.
func (ss *session) refuseExtended() {
	ss.q.push(&item{kind: itRefused, errFrame: ss.takeErr()})
	ss.skipUntilSync = true
}

// refuse refuses a message that is not a classified statement (function call).
func (ss *session) refuse(_ *run, msg, code, reason, _ string, simple bool) {
	ss.srv.m.refusals.WithLabelValues(reason).Inc()
	ss.pendingErr = errorFrame(code, "ERROR", maskText(ss.srv, "pangate: "+msg))
	if simple {
		ss.refuseQuery()
	} else {
		ss.refuseExtended()
	}
}

func (ss *session) takeErr() []byte {
	e := ss.pendingErr
	ss.pendingErr = nil
	if e == nil {
		e = errorFrame(SQLStatePolicyDenied, "ERROR", "pangate: statement refused")
	}
	return e
}

// onParse classifies a Parse and records it in the session model; the statement exists under its name
// only once PostgreSQL answers ParseComplete. It returns whether to forward the message.
func (ss *session) onParse(frame []byte) bool {
	var m pgproto3.Parse
	if err := m.Decode(frame[5:]); err != nil {
		ss.q.push(&item{kind: itParse}) // PostgreSQL will report the malformed message
		return true
	}
	if msg := ss.checkLexing(m.Query); msg != "" {
		c := classify.Statement{Kind: classify.KindUnparseable, Text: m.Query}
		ss.refuseStatement(c, errors.New(msg), false)
		return false
	}
	cls := ss.srv.deps.Classifier.Classify(m.Query)
	st := &pgstate.Statement{SQL: m.Query, ParamOIDs: append([]uint32(nil), m.ParameterOIDs...)}
	var c classify.Statement
	switch len(cls) {
	case 0:
		c = classify.Statement{Kind: classify.KindUtility, Text: ""}
	case 1:
		c = cls[0]
	default:
		// PostgreSQL refuses several statements in one Parse; classify conservatively anyway.
		c = cls[0]
		for _, o := range cls[1:] {
			if !ss.pureRead(o) {
				c = o
			}
		}
		c.Text = m.Query
		c.SideEffectFree = false
	}
	st.Class = c
	ss.q.push(&item{kind: itParse, name: m.Name, op: ss.model.Parse(m.Name, st)})
	return true
}

// onBind binds a portal to the statement its name has when PostgreSQL reaches this Bind: the portal keeps
// that statement whatever happens to the name later.
func (ss *session) onBind(frame []byte) {
	var m pgproto3.Bind
	if err := m.Decode(frame[5:]); err != nil {
		ss.q.push(&item{kind: itBind}) // PostgreSQL will report the malformed message
		return
	}
	st, _ := ss.lookupStatement(m.PreparedStatement) // nil: unknown, so an Execute of the portal is refused
	p := &pgstate.Portal{Stmt: st, Formats: append([]int16(nil), m.ResultFormatCodes...)}
	var oids []uint32
	if st != nil {
		oids = st.ParamOIDs
	}
	for i, v := range m.Parameters {
		var oid uint32
		if i < len(oids) {
			oid = oids[i]
		}
		p.Params = append(p.Params, ss.renderParam(v, formatOf(m.ParameterFormatCodes, i), oid))
	}
	ss.q.push(&item{kind: itBind, op: ss.model.Bind(m.DestinationPortal, p)})
}

func formatOf(codes []int16, i int) int16 {
	switch len(codes) {
	case 0:
		return 0
	case 1:
		return codes[0]
	}
	if i < len(codes) {
		return codes[i]
	}
	return 0
}

// maxParamChars caps one rendered parameter in an event.
const maxParamChars = 256

// renderParam renders a bind parameter for the audit event. A binary parameter is masked here as a value
// of its type (a binary int8 or numeric PAN is invisible to Masker.Text, which masks the text later), on
// a copy: the frame forwarded upstream is left alone.
func (ss *session) renderParam(v []byte, format int16, oid uint32) string {
	if v == nil {
		return "NULL"
	}
	if format != 1 {
		return string(v)
	}
	h := append([]byte(nil), v...)
	ss.srv.deps.Masker.MaskValue(oid, 1, false, h)
	switch {
	case oid == 20 && len(h) == 8:
		return strconv.FormatInt(int64(binary.BigEndian.Uint64(h)), 10)
	case oid == 23 && len(h) == 4:
		return strconv.FormatInt(int64(int32(binary.BigEndian.Uint32(h))), 10)
	}
	if len(h) > maxParamChars/2 {
		h = h[:maxParamChars/2]
	}
	return `\x` + hex.EncodeToString(h)
}

// onDescribe resolves the described statement or portal now, so that its answer is kept on that object.
func (ss *session) onDescribe(frame []byte) {
	body := frame[5:]
	if len(body) < 2 {
		ss.q.push(&item{kind: itDescribePortal})
		return
	}
	name, _, _ := cstring(body[1:])
	if body[0] == 'S' {
		st, _ := ss.lookupStatement(name)
		ss.q.push(&item{kind: itDescribeStmt, name: name, pstmt: st})
		return
	}
	p, _ := ss.lookupPortal(name)
	if p != nil {
		p.Described = true
	}
	ss.q.push(&item{kind: itDescribePortal, name: name, portal: p})
}

func (ss *session) onClose(frame []byte) {
	body := frame[5:]
	it := &item{kind: itClose}
	if len(body) >= 2 {
		name, _, _ := cstring(body[1:])
		it.name = name
		if body[0] == 'S' {
			it.closeStmt = true
			it.op = ss.model.CloseStatement(name)
		} else {
			it.op = ss.model.ClosePortal(name)
		}
	}
	ss.q.push(it)
}

// onExecute handles an extended-protocol Execute like onQuery handles a Query. It runs the statement the
// portal was bound to (or, for a cursor, the cursor's query); a portal the gateway does not know is
// refused.
func (ss *session) onExecute(frame []byte) (bool, string) {
	var m pgproto3.Execute
	_ = m.Decode(frame[5:])
	p, err := ss.lookupPortal(m.Portal)
	if err == nil && (p == nil || p.Stmt == nil || p.Stmt.Class == nil) {
		err = fmt.Errorf("%w: portal %q", errUnknownName, m.Portal)
	}
	if err != nil {
		ss.refuseStatement(classify.Statement{Kind: classify.KindUtility}, err, false)
		return false, ""
	}
	c := p.Stmt.Class.(classify.Statement)
	rs := resolved{cls: c, op: ss.model.Nop}
	if p.Cursor {
		// Executing a cursor fetches from it: its query runs, nothing is declared again.
		rs.cls.Declare, rs.cls.DeclareHold = "", false
	} else if rs, err = ss.resolve(c, p.Stmt.SQL); err == nil {
		if msg := settingRefusal(rs.cls); msg != "" {
			err = errors.New(msg)
		}
	}
	if err != nil {
		ss.refuseStatement(c, err, false)
		return false, ""
	}
	it := &item{kind: itExecute, portal: p, formats: p.Formats, described: p.Described}
	r := ss.newRun(rs.cls, p.Stmt.SQL, p.Params, "extended", time.Now())
	if dec := ss.decide(r, nil); dec.Action != ActionAllow {
		if ss.blockByPolicy(r, dec) {
			ss.refuseExtended()
			return false, ""
		}
	}
	if ss.pureRead(rs.cls) && ss.srv.deps.Audit.Healthy() {
		r.mode = modeGated
	} else if err := ss.recordAhead(r); err != nil {
		return ss.auditRefusal(r, err, true)
	}
	if mayChangeSettings(rs.cls) {
		ss.model.MarkOpaque()
	}
	r.op = rs.op()
	it.runs = []*run{r}
	ss.track(it)
	ss.q.push(it)
	return true, ""
}

// fromUpstream reads backend messages, masks every one, matches it to the queued request and releases
// it to the client, holding the results of gated reads until their event is acknowledged.
func (ss *session) fromUpstream() error {
	for {
		typ, frame, err := ss.ur.next()
		if err != nil {
			if errors.Is(err, ErrMessageTooLarge) {
				ss.fatal(sqlstateTooLarge, "pangate: the server sent "+err.Error())
			}
			return err
		}
		// relayMu spans matching, popping and writing one message, so that the client goroutine, holding
		// it, can tell "nothing expected" from "popped but not yet written" (noticeHeld).
		ss.relayMu.Lock()
		err = ss.onBackend(typ, frame)
		if err == nil {
			// A notice queued behind what this message completed goes out now, not with the next
			// backend message: the client is waiting for its held statement.
			err = ss.emitNotices()
		}
		ss.relayMu.Unlock()
		if err != nil {
			return err
		}
		if !ss.ur.buffered() {
			ss.cwMu.Lock()
			err := ss.cw.Flush()
			ss.cwMu.Unlock()
			if err != nil {
				return err
			}
		}
	}
}

// out sends a (masked) frame to the client, or holds it while a gated read's event is pending.
func (ss *session) out(frame []byte) error {
	if g := ss.gate; g != nil {
		g.buf = append(g.buf, frame...)
		if len(g.buf) > ss.srv.cfg.ResultBufferBytes {
			return ss.release(g, OutcomeStreamed, "", "", "")
		}
		return nil
	}
	ss.cwMu.Lock()
	_, err := ss.cw.Write(frame)
	ss.cwMu.Unlock()
	ss.bytesOut.Add(int64(len(frame)))
	return err
}

// emitRefused sends the gateway's own errors and notices that are next in line.
func (ss *session) emitRefused() error {
	for {
		it := ss.q.head()
		if it == nil {
			return nil
		}
		switch it.kind {
		case itNotice:
			if err := ss.emitNotices(); err != nil {
				return err
			}
		case itRefused:
			ss.pop()
			ss.stream.Message('E', it.errFrame[5:])
			if err := ss.out(it.errFrame); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// emitNotices sends the gateway's notices at the head of the queue, that is once every response queued
// before them has been written, and flushes them. Upstream goroutine, or the client goroutine when the
// queue is empty; either way under relayMu.
func (ss *session) emitNotices() error {
	sent := false
	for {
		it := ss.q.head()
		if it == nil || it.kind != itNotice {
			break
		}
		ss.pop()
		ss.stream.Message('N', it.errFrame[5:])
		// Straight to the client, never into a gated result: the notice belongs to no statement's result
		// (no gate is open between items).
		ss.cwMu.Lock()
		_, err := ss.cw.Write(it.errFrame)
		ss.cwMu.Unlock()
		ss.bytesOut.Add(int64(len(it.errFrame)))
		if err != nil {
			return err
		}
		sent = true
	}
	if !sent {
		return nil
	}
	ss.cwMu.Lock()
	err := ss.cw.Flush()
	ss.cwMu.Unlock()
	return err
}

// flushFrame asks the server to send what it has buffered (PostgreSQL holds back ParseComplete,
// BindComplete and results of the extended protocol until Sync or Flush); it has no response.
var flushFrame = []byte{'H', 0, 0, 0, 4}

// noticeHeld tells the client that its statement waits for approval, in frame order: the notice is queued
// behind every response still expected, and sent as soon as those are written (by the upstream goroutine),
// or at once when there are none. Client goroutine, before it blocks on the approval.
func (ss *session) noticeHeld(req schemas.ApprovalRequested) {
	msg := "pangate: statement held for approval " + req.ApprovalID
	if req.Rule != "" {
		msg += " by rule " + req.Rule
	}
	if req.Reason != "" {
		msg += " (" + req.Reason + ")"
	}
	if req.ApproverGroup != "" {
		msg += "; approvers: " + req.ApproverGroup
	}
	msg += "; expires " + req.Expires
	f := noticeFrame("00000", maskText(ss.srv, cleanLine(msg)))
	ss.relayMu.Lock()
	pending := ss.q.len() > 0
	ss.q.push(&item{kind: itNotice, errFrame: f})
	if !pending {
		// Nothing is expected from upstream, and holding relayMu proves the upstream goroutine has written
		// everything it popped: the notice is next in line.
		if err := ss.emitNotices(); err != nil {
			ss.srv.log.Debug("hold notice not sent", "session", ss.id, "err", err)
		}
	}
	ss.relayMu.Unlock()
	if pending {
		// The responses ahead of the notice may sit in PostgreSQL's output buffer (extended protocol, no
		// Sync yet) and the messages that ask for them in ours: send both now. Outside relayMu: a write
		// upstream may wait for the upstream goroutine to drain the server.
		_ = ss.write(flushFrame)
		_ = ss.uw.Flush()
	}
}

// cleanLine replaces control characters (policy texts are configuration, but a notice is shown verbatim).
func cleanLine(t string) string {
	return strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return ' '
		}
		return c
	}, t)
}

func (ss *session) onBackend(typ byte, frame []byte) error {
	body := frame[5:]
	switch typ {
	case 'Z':
		// The oldest open batch is answered; the transaction status says which portals survive.
		if len(body) >= 1 {
			ss.model.Ready(body[0])
		}
	case 'S':
		if name, rest, ok := cstring(body); ok {
			value, _, _ := cstring(rest)
			if msg := lexingStatus(name, value); msg != "" {
				ss.lexBroken.Store(msg)
				ss.fatal(sqlstateNotSupported, msg)
				return errLexing
			}
		}
	}
	if ss.discardUntilRFQ {
		ss.stream.Message(typ, body)
		if typ != 'Z' {
			return nil
		}
		ss.discardUntilRFQ = false
		ss.popThroughSync()
		return ss.out(frame)
	}
	if err := ss.emitRefused(); err != nil {
		return err
	}
	it := ss.q.head()
	if it != nil && (it.kind == itExecute || it.kind == itQuery) {
		// The stream must know which statement a message belongs to before it masks it: the first DataRow
		// of a cached statement's Execute follows no RowDescription, and masked by the previous
		// statement's layout a binary int8 PAN would pass as "text" (and Reset would drop its counts).
		ss.startRun(it, typ)
	}
	ss.stream.Message(typ, body)
	if it == nil {
		return ss.out(frame)
	}
	switch it.kind {
	case itParse, itBind, itClose:
		switch typ {
		case '1', '2', '3':
			ss.model.Done(it.op, true, "")
			ss.pop()
		case 'E':
			return ss.extendedError(frame)
		}
	case itDescribeStmt:
		switch typ {
		case 'T', 'n':
			if it.pstmt != nil {
				it.pstmt.Desc, it.pstmt.HasDesc = describeBody(typ, body), true
			}
			ss.pop()
		case 'E':
			return ss.extendedError(frame)
		}
	case itDescribePortal:
		switch typ {
		case 'T', 'n':
			if it.portal != nil {
				it.portal.Desc, it.portal.HasDesc = describeBody(typ, body), true
			}
			ss.pop()
		case 'E':
			return ss.extendedError(frame)
		}
	case itSync:
		if typ == 'Z' {
			ss.pop()
		}
	case itExecute, itQuery:
		return ss.onResult(it, typ, frame)
	}
	return ss.out(frame)
}

// describeBody keeps a RowDescription (a copy: frames are reused), or nil for NoData.
func describeBody(typ byte, body []byte) []byte {
	if typ != 'T' {
		return nil
	}
	return append([]byte(nil), body...)
}

// errLexing ends a session whose lexing settings no longer match the gateway's.
var errLexing = errors.New("lexing settings changed")

// extendedError passes an error for a non-executing message and drops the items PostgreSQL now skips.
func (ss *session) extendedError(frame []byte) error {
	if it := ss.q.head(); it != nil && it.op != nil {
		ss.model.Done(it.op, false, "")
	} else {
		ss.model.Error()
	}
	ss.pop()
	ss.skipToSync()
	return ss.out(frame)
}

// skipToSync drops queued items up to (not including) the next Sync: the server ignores those messages
// after an error.
func (ss *session) skipToSync() {
	for {
		it := ss.q.head()
		if it == nil || it.kind == itSync || it.kind == itQuery {
			return
		}
		ss.pop()
	}
}

// popThroughSync drops queued items up to and including the one the ReadyForQuery just read answers.
func (ss *session) popThroughSync() {
	for {
		it := ss.q.head()
		if it == nil {
			return
		}
		ss.pop()
		if it.kind == itSync || it.kind == itQuery {
			return
		}
	}
}

// startRun prepares the mask stream (and the result gate) for the statement a message belongs to, before
// the stream sees the message: the first message of each result resets the counts and, for an Execute
// whose portal was not described, installs its prepared statement's row description and Bind formats.
func (ss *session) startRun(it *item, typ byte) {
	if it.cur >= len(it.runs) || typ == 'Z' {
		return
	}
	r := it.runs[it.cur]
	if r.started {
		return
	}
	r.started = true
	ss.stream.Reset()
	if r.copyKnown {
		// Before the 'H': tagged columns of COPY … TO are masked whole, not only content-scanned.
		ss.stream.SetCopyColumns(r.copyTable, r.copyCols)
	}
	if it.kind == itExecute {
		// The layout of this portal's rows, whatever RowDescription passed last: another portal's
		// Describe may have come between this portal's and its Execute.
		switch p := it.portal; {
		case p != nil && p.HasDesc:
			ss.stream.SetRowDescription(p.Desc, nil)
		case p != nil && p.Stmt != nil && p.Stmt.HasDesc && !p.Cursor:
			ss.stream.SetRowDescription(p.Stmt.Desc, it.formats)
		default:
			// No known layout: scanning as unknown is safer than the previous statement's layout.
			ss.stream.ForgetRowDescription()
		}
	}
	if r.mode == modeGated {
		ss.gate = r
	}
}

// onResult handles a message while a statement (Execute or Query) is the head of the queue.
func (ss *session) onResult(it *item, typ byte, frame []byte) error {
	var r *run
	if it.cur < len(it.runs) {
		r = it.runs[it.cur]
	}
	switch typ {
	case 'D':
		if r != nil {
			r.rows++
		}
		return ss.out(frame)
	case 'C', 'I', 's':
		if err := ss.out(frame); err != nil {
			return err
		}
		tag := ""
		if typ == 'C' {
			tag, _, _ = cstring(frame[5:])
		}
		if r != nil {
			it.cur++
			ss.model.Done(r.op, true, tag)
			if err := ss.complete(r, "ok", tag, "", ""); err != nil {
				return err
			}
		}
		if it.kind == itExecute {
			ss.pop()
		}
		return nil
	case 'E':
		var e pgproto3.ErrorResponse
		_ = e.Decode(frame[5:])
		if err := ss.out(frame); err != nil {
			return err
		}
		if r != nil && r.op != nil {
			ss.model.Done(r.op, false, "") // the rest of its batch is void too
		} else {
			ss.model.Error()
		}
		if r != nil {
			msg, _ := ss.srv.deps.Masker.Stored(e.Message)
			if err := ss.complete(r, "error", "", e.Code, msg); err != nil {
				return err
			}
		}
		it.cur = len(it.runs) // the rest of a Query string, or of the batch, is skipped by the server
		if it.kind == itExecute {
			ss.pop()
			ss.skipToSync()
		}
		return nil
	case 'Z':
		// End of a Query (an Execute item never sees its Sync's ReadyForQuery).
		if ss.gate != nil {
			if err := ss.complete(ss.gate, "ok", "", "", ""); err != nil {
				return err
			}
		}
		ss.pop()
		return ss.out(frame)
	}
	return ss.out(frame)
}

// complete finishes a statement: for a gated read it writes the query.executed event and releases the
// held result; for a write-ahead statement the event was already written.
func (ss *session) complete(r *run, outcome, tag, code, msg string) error {
	s := ss.srv
	s.m.latency.WithLabelValues(r.st.Protocol).Observe(time.Since(r.arrived).Seconds())
	if r.mode == modeGated && !r.released {
		return ss.release(r, outcome, tag, code, msg)
	}
	if r.mode == modeAcked && !r.completed {
		ss.recordOutcome(r, outcome, tag, code, msg)
	}
	if r.cls.Kind == classify.KindDDL || r.cls.Kind == classify.KindRole {
		// It may have created a view, a function or an operator a later read would run.
		if inv, ok := ss.facts.(interface{ Invalidate() }); ok {
			inv.Invalidate()
		}
	}
	s.m.statements.WithLabelValues(string(r.cls.Kind), outcome).Inc()
	if ss.gate == r {
		ss.gate = nil
	}
	return nil
}

// release writes a gated read's event and, once Kafka acknowledged it, sends its held result. If Kafka did
// not, the result is dropped, the client gets an error instead and the rest of the server's answer up to
// its ReadyForQuery is discarded.
func (ss *session) release(r *run, outcome, tag, code, msg string) error {
	s := ss.srv
	r.released = true
	ss.gate = nil
	ev := schemas.QueryExecuted{Statement: r.st, Role: ss.cred.Role, Outcome: outcome, SQLState: code, Error: msg,
		CommandTag: tag, Rows: r.rows, DurationUS: time.Since(r.arrived).Microseconds(),
		MaskShape: string(s.deps.Masker.Shape()), Rule: r.rule, Approval: r.approval}
	ev.Masked, ev.Sample = ss.maskedResult()
	buf := r.buf
	r.buf = nil
	if s.cfg.PipelinedReads {
		return ss.releasePipelined(r, ev, buf)
	}
	if _, err := ss.ev.EmitNoted(schemas.TypeQueryExecuted, ev,
		ss.lateNote(r, "the query.executed event before this one was acknowledged only after the gateway had given up on it: the result was withheld from the client")); err != nil {
		s.m.refusals.WithLabelValues("audit_unavailable").Inc()
		s.m.statements.WithLabelValues(string(r.cls.Kind), "refused").Inc()
		s.log.Warn("result withheld: audit log unavailable", "session", ss.id, "err", err)
		if errors.Is(err, audit.ErrIndeterminate) {
			ss.fatal(SQLStateAuditUnavailable, "pangate: the audit log did not confirm an event; the session ends to keep its record consistent")
			return err
		}
		f := errorFrame(SQLStateAuditUnavailable, "ERROR", auditUnavailableMsg)
		ss.stream.Message('E', f[5:])
		ss.discardUntilRFQ = true
		return ss.out(f)
	}
	ss.statements.Add(1)
	s.m.statements.WithLabelValues(string(r.cls.Kind), outcome).Inc()
	ss.cwMu.Lock()
	_, err := ss.cw.Write(buf)
	ss.cwMu.Unlock()
	ss.bytesOut.Add(int64(len(buf)))
	return err
}

func sortCounts(c []schemas.ColumnCount) {
	slices.SortFunc(c, func(a, b schemas.ColumnCount) int { return strings.Compare(a.Column, b.Column) })
}

// statement builds the event view of a classified statement: text and parameters masked.
func (ss *session) statement(c classify.Statement, sql string, params []string, protocol string) schemas.Statement {
	m := ss.srv.deps.Masker
	if c.Text != "" {
		sql = c.Text
	}
	red, _ := m.Stored(sql)
	st := schemas.Statement{SQL: red, Fingerprint: c.Fingerprint, Kind: string(c.Kind), Tables: c.Tables,
		Columns: c.Columns, RiskTags: c.Tags, Protocol: protocol, Index: ss.stmtIndex}
	ss.stmtIndex++
	for _, p := range params {
		mp, _ := m.Stored(p)
		if len(mp) > maxParamChars {
			mp = mp[:maxParamChars] + "…"
		}
		st.Params = append(st.Params, mp)
	}
	st.Cardholder = ss.cardholder(c)
	return st
}

func (s *Server) cardholderTable(t string) bool {
	t = strings.ToLower(t)
	if _, ok := s.cfg.cardholderTables[t]; ok {
		return true
	}
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		_, ok := s.cfg.cardholderTables[t[i+1:]]
		return ok
	}
	return false
}
