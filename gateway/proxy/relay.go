package proxy

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/gateway/pgstate"
	"github.com/pangate/pangate/gateway/policy"
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
			ss.stop(schemas.EndUpstreamClosed)
		case errors.Is(err, io.EOF):
			ss.stop(schemas.EndUpstreamClosed)
		default:
			ss.srv.log.Info("upstream relay ended", "session", ss.id, "err", err)
			ss.stop(schemas.EndError)
		}
	}()
	reason := ss.fromClient()
	ss.stop(reason)
	<-done
}

// fromClient reads client messages, intercepts those that run statements and forwards the rest.
func (ss *session) fromClient() schemas.EndReason {
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
				return schemas.EndIdleTimeout
			case errors.Is(err, ErrMessageTooLarge):
				s.m.refusals.WithLabelValues("message_too_large").Inc()
				ss.fatal(sqlstateTooLarge, "pangate: "+err.Error())
				return schemas.EndError
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, os.ErrDeadlineExceeded):
				return schemas.EndClientGone
			}
			return schemas.EndClientGone
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
				return schemas.EndError
			}
		}
		var fwd = true
		var stopReason schemas.EndReason
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
			ss.refuse(nil, "function call protocol is not supported through pangate; call the function with SELECT", sqlstateNotSupported, schemas.BlockLimit, "", true)
			fwd = false
		case 'X':
			ss.write(frame)
			_ = ss.uw.Flush()
			return schemas.EndClientTerminate
		}
		if stopReason != "" {
			_ = ss.uw.Flush()
			return stopReason
		}
		if fwd {
			if err := ss.write(frame); err != nil {
				return schemas.EndError
			}
		}
		if !ss.cr.buffered() {
			if err := ss.uw.Flush(); err != nil {
				return schemas.EndError
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
func (ss *session) onQuery(frame []byte) (bool, schemas.EndReason) {
	sql, _, ok := cstring(frame[5:])
	if !ok {
		ss.fatal(sqlstateProtocol, "pangate: malformed Query message")
		return false, schemas.EndError
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
	// Most strings hold one statement: their per-statement slices live on the stack.
	var res1 [1]resolved
	var ops1 [1]*pgstate.Op
	res, ops := res1[:], ops1[:]
	if len(cls) != 1 {
		res, ops = make([]resolved, len(cls)), make([]*pgstate.Op, len(cls))
	}
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
	if ok, stop := ss.awaitEarlier(true); !ok {
		ss.model.Truncate(mark)
		return false, stop
	}
	// The whole string is decided at once: every statement sees the kinds of all (batch_kinds), and one
	// combined decision (first deny, else the riskiest hold) refuses or holds the string as a whole, so an
	// approver sees every statement that would run, not only the one that triggered the rule.
	batch := make([]classify.Kind, len(res)) // escapes: the policy's Input holds it
	for i, rs := range res {
		batch[i] = rs.cls.Kind
	}
	var decs1 [1]Decision
	decs := decs1[:]
	if len(res) != 1 {
		decs = make([]Decision, len(res))
	}
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
			whole.batch = true
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
				o.st.RiskTags = append(o.st.RiskTags[:len(o.st.RiskTags):len(o.st.RiskTags)], string(schemas.OutcomeApproved))
			}
		}
	}
	if writeAhead {
		for i, r := range it.runs {
			if err := ss.recordAhead(r); err != nil {
				ss.model.Truncate(mark)
				// The string is refused whole: statements before this one are recorded as forwarded and
				// never ran, so each gets its outcome (sent again before the next statement if need be).
				for _, done := range it.runs[:i] {
					ss.recordOutcome(done, OutcomeSkipped, "", "", notRunLaterUnrecorded)
				}
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
	reason, code, msg := schemas.BlockLexing, sqlstateNotSupported, err.Error()
	if errors.Is(err, errUnknownName) {
		reason, code = schemas.BlockUnknownName, SQLStatePolicyDenied
		msg = "pangate: " + err.Error() + " is not known to the gateway, so what it runs cannot be judged; prepare it through the gateway (statement refused)"
	} else if errors.Is(err, pgstate.ErrClosed) || errors.Is(err, pgstate.ErrTimeout) {
		reason, code = schemas.BlockLimit, sqlstateUpstream
		msg = "pangate: the server did not answer earlier statements of this session; statement not run"
	}
	msg = maskText(ss.srv, msg)
	protocol := "extended"
	if simple {
		protocol = "simple"
	}
	ss.rec.blocked(ss.newRun(c, c.Text, nil, protocol, time.Now()), reason, msg, code, nil)
	ss.pendingErr = errorFrame(code, "ERROR", msg)
	if simple {
		ss.refuseQuery()
	} else {
		ss.refuseExtended()
	}
}

func (ss *session) newRun(c classify.Statement, sql string, params []string, protocol string, now time.Time) *run {
	r := &run{cls: c, arrived: now}
	r.st, r.derived = ss.statement(c, sql, params, protocol)
	r.copyTable, r.copyCols, r.copyKnown = ss.copyColumns(c)
	return r
}

// combine folds the decisions on the statements of one query string (policy.Combine's rule): the first
// deny, else the hold with the highest score (the first among equals), else allow. It returns the index
// of the deciding statement.
func combine(decs []Decision) (int, Decision) {
	i, deny := policy.Pick(len(decs), func(i int) policy.Action { return policy.Action(decs[i].Action) },
		func(i int) int { return decs[i].Score })
	switch {
	case deny:
		d := decs[i]
		return i, Decision{Action: ActionDeny, Rule: d.Rule, Reason: d.Reason, Score: d.Score}
	case i >= 0:
		return i, decs[i]
	}
	return 0, Decision{Action: ActionAllow}
}

// decide applies the policy to one statement; batch holds the kinds of every statement of its query
// string (nil: just this one).
func (ss *session) decide(r *run, batch []classify.Kind) Decision {
	in := Input{Identity: ss.claims.Identity, Target: ss.target, Database: ss.database, Role: ss.role,
		Statement: r.cls, Cardholder: r.st.Cardholder, Batch: batch, Context: policyContext(r.st)}
	in.DerivesCardholder, in.Derivations = len(r.derived) > 0, r.derived
	d := ss.srv.deps.Policy.Evaluate(in)
	r.rule = d.Rule
	r.st.RiskScore = int64(d.Score)
	if d.Action == "" {
		d.Action = ActionAllow
	}
	return d
}

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
func (ss *session) refuse(_ *run, msg, code string, reason schemas.BlockReason, _ string, simple bool) {
	ss.srv.m.refusals.WithLabelValues(string(reason)).Inc()
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
	ss.q.push(&item{kind: itBind, portal: p, op: ss.model.Bind(m.DestinationPortal, p)})
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
func (ss *session) onExecute(frame []byte) (bool, schemas.EndReason) {
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
		if op := ss.triggersOp(rs.cls); op != nil {
			rs.op = op // its user code may redefine names (see triggersOp)
		}
	} else if rs, err = ss.resolve(c, p.Stmt.SQL); err == nil {
		if msg := settingRefusal(rs.cls); msg != "" {
			err = errors.New(msg)
		}
	}
	if err != nil {
		ss.refuseStatement(c, err, false)
		return false, ""
	}
	if ok, stop := ss.awaitEarlier(false); !ok {
		return false, stop
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
