package proxy

// The upstream goroutine: every backend message is masked, matched to the request it answers and released
// to the client — at once, or once the event of the statement it belongs to is acknowledged.

import (
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/schemas"
)

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
			if err := ss.flushClient(); err != nil {
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
	return ss.writeClient(frame)
}

// writeClient buffers bytes that already passed the mask stream for the client (either goroutine).
func (ss *session) writeClient(b []byte) error {
	ss.cwMu.Lock()
	_, err := ss.cw.Write(b)
	ss.cwMu.Unlock()
	ss.bytesOut.Add(int64(len(b)))
	return err
}

// flushClient sends what is buffered for the client.
func (ss *session) flushClient() error {
	ss.cwMu.Lock()
	err := ss.cw.Flush()
	ss.cwMu.Unlock()
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
		if err := ss.writeClient(it.errFrame); err != nil {
			return err
		}
		sent = true
	}
	if !sent {
		return nil
	}
	return ss.flushClient()
}

func (ss *session) onBackend(typ byte, frame []byte) error {
	body := frame[5:]
	switch typ {
	case 'Z':
		// The oldest open batch is answered; the transaction status says which portals survive.
		if len(body) >= 1 {
			ss.model.Ready(body[0])
		}
		defer func() { ss.skipCause, ss.bindFailed = "", nil }() // after the items this answer ends are finished
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

// errorCode returns the SQLSTATE of an ErrorResponse frame ("" if it has none).
func errorCode(frame []byte) string {
	var e pgproto3.ErrorResponse
	if e.Decode(frame[5:]) != nil {
		return ""
	}
	return e.Code
}

// errLexing ends a session whose lexing settings no longer match the gateway's.
var errLexing = errors.New("lexing settings changed")

// extendedError passes an error for a non-executing message and drops the items PostgreSQL now skips.
func (ss *session) extendedError(frame []byte) error {
	ss.skipCause = errorCode(frame)
	if it := ss.q.head(); it != nil && it.kind == itBind && it.portal != nil {
		// PostgreSQL plans an unnamed statement at Bind: SELECT 1/0 fails there, and the Execute that
		// follows is the statement that failed, not one skipped for another's error.
		var e pgproto3.ErrorResponse
		_ = e.Decode(frame[5:])
		msg, _ := ss.srv.deps.Masker.Stored(e.Message)
		ss.bindFailed, ss.bindErr = it.portal, [2]string{e.Code, msg}
	}
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
		ss.skipCause = e.Code
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
	s.m.observeLatency(r.st.Protocol, time.Since(r.arrived).Seconds())
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
	s.m.statement(r.cls.Kind, outcome)
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
	ev := ss.rec.read(r, outcome, tag, code, msg)
	buf := r.buf
	r.buf = nil
	if s.cfg.PipelinedReads {
		return ss.releasePipelined(r, ev, buf)
	}
	landed := new(atomic.Bool)
	if err := ss.rec.readWritten(r, ev, landed); err != nil {
		s.m.refusals.WithLabelValues("audit_unavailable").Inc()
		s.m.statement(r.cls.Kind, "refused")
		s.log.Warn("result withheld: audit log unavailable", "session", ss.id, "err", err)
		if errors.Is(err, audit.ErrIndeterminate) {
			ss.fatal(SQLStateAuditUnavailable, "pangate: the audit log did not confirm an event; the session ends to keep its record consistent")
			return err
		}
		// The read ran: its record is kept and sent again before the session's next statement (or
		// dropped if the first attempt turns out written after all), and the client is told the truth.
		withheld := ev
		withheld.Outcome = OutcomeWithheld
		ss.oc.mu.Lock()
		ss.oc.list = append(ss.oc.list, &pendingOutcome{typ: schemas.TypeQueryExecuted, data: withheld, landed: landed})
		ss.oc.mu.Unlock()
		f := errorFrame(SQLStateAuditUnavailable, "ERROR", readWithheldMsg)
		ss.stream.Message('E', f[5:])
		ss.discardUntilRFQ = true
		return ss.out(f)
	}
	return ss.writeClient(buf)
}

func sortCounts(c []schemas.ColumnCount) {
	slices.SortFunc(c, func(a, b schemas.ColumnCount) int { return strings.Compare(a.Column, b.Column) })
}
