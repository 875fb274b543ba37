package pgstate

import (
	"fmt"
	"testing"
)

// The differential test drives Model the way the relay does (speculative ops at send time, answers
// later, lookups that may have to wait) against refServer, a reference model of how PostgreSQL 15
// processes the same messages one at a time. The property: whenever the server runs a statement for an
// Execute, an SQL EXECUTE or a FETCH, the gateway's lookup at send time named that very statement —
// or the gateway knew it did not know (and refused, or treated it as unknown).

type refPortal struct {
	st   *Statement
	hold bool
	txn  int
}

type refServer struct {
	stmts     map[string]*Statement
	portals   map[string]*refPortal
	skipping  bool
	inBlock   bool
	txnFailed bool
	txn       int
}

func newRefServer() *refServer {
	return &refServer{stmts: map[string]*Statement{}, portals: map[string]*refPortal{}, txn: 1}
}

// endTxn drops what the end of a transaction drops.
func (s *refServer) endTxn(commit bool) {
	for n, p := range s.portals {
		if !p.hold || (!commit && p.txn == s.txn) {
			delete(s.portals, n)
		}
	}
	s.txn++
	s.txnFailed = false
}

type msgKind int

const (
	mParse msgKind = iota
	mBind
	mCloseS
	mCloseP
	mExecute
	mSync
	mQuery
)

type sqlKind int

const (
	qPrepare sqlKind = iota
	qDeallocate
	qDeallocAll
	qDeclare
	qCloseCursor
	qCloseAll
	qFetch
	qExecute
	qBegin
	qCommit
	qRollback
	qHiddenOpen // a function opens a cursor the gateway does not see
	qDiscardAll
	nSQL
)

type sqlStmt struct {
	kind   sqlKind
	name   string
	st     *Statement
	hold   bool
	fail   bool
	op     *Op
	expect *Statement // gateway's view for FETCH/EXECUTE; nil: unknown
	known  bool
}

type msg struct {
	kind   msgKind
	name   string // statement or portal
	stmt   string // Bind: statement name
	st     *Statement
	fail   bool
	op     *Op
	expect *Statement // Execute: gateway's view
	sqls   []*sqlStmt
}

// response is what the relay hands the model when the upstream goroutine reads it.
type response struct {
	op     *Op
	ok     bool
	tag    string
	ready  bool
	status byte
	err    bool // an error that belongs to no op
}

type harness struct {
	t      testing.TB
	m      *Model
	srv    *refServer
	wire   []*msg // forwarded, not yet processed by the server
	resp   []response
	skip   bool // gateway refused a message of the open batch: drop until Sync
	nextID int
}

func (h *harness) fresh() *Statement {
	h.nextID++
	return &Statement{SQL: fmt.Sprintf("stmt %d", h.nextID)}
}

// process lets the server handle one forwarded message and the gateway read its answers.
func (h *harness) process() bool {
	if len(h.wire) == 0 {
		return false
	}
	x := h.wire[0]
	h.wire = h.wire[1:]
	h.serve(x)
	for _, r := range h.resp {
		switch {
		case r.ready:
			h.m.Ready(r.status)
		case r.err:
			h.m.Error()
		default:
			h.m.Done(r.op, r.ok, r.tag)
		}
	}
	h.resp = h.resp[:0]
	return true
}

// settle is WaitSettled without goroutines: answer everything before the open batch.
func (h *harness) settle() {
	for h.m.doneSeg+1 < h.m.seg {
		if !h.process() {
			h.t.Fatalf("waiting for segment %d but nothing is in flight (done %d)", h.m.seg-1, h.m.doneSeg)
		}
	}
}

func (h *harness) lookupStmt(name string) *Statement {
	for {
		st, err := h.m.Statement(name)
		if err == nil {
			return st
		}
		h.settle()
	}
}

func (h *harness) lookupPortal(name string) *Portal {
	for {
		p, err := h.m.Portal(name)
		if err == nil {
			return p
		}
		h.settle()
	}
}

func (h *harness) fail(op *Op) {
	h.resp = append(h.resp, response{op: op, ok: false})
	h.srv.skipping = true
	h.srv.txnFailed = true
}

func (h *harness) ran(what string, got, want *Statement) {
	if got != want {
		h.t.Fatalf("%s: the server ran %v but the gateway judged %v", what, got, want)
	}
}

func (h *harness) serve(x *msg) {
	s := h.srv
	if s.skipping && x.kind != mSync {
		return
	}
	switch x.kind {
	case mParse:
		if x.name == "" {
			delete(s.stmts, "")
		}
		if _, ok := s.stmts[x.name]; (ok && x.name != "") || x.fail {
			h.fail(x.op)
			return
		}
		s.stmts[x.name] = x.st
		h.resp = append(h.resp, response{op: x.op, ok: true})
	case mBind:
		st := s.stmts[x.stmt]
		if _, ok := s.portals[x.name]; st == nil || (ok && x.name != "") || x.fail || s.txnFailed {
			h.fail(x.op)
			return
		}
		s.portals[x.name] = &refPortal{st: st, txn: s.txn}
		h.resp = append(h.resp, response{op: x.op, ok: true})
	case mCloseS:
		delete(s.stmts, x.name)
		h.resp = append(h.resp, response{op: x.op, ok: true})
	case mCloseP:
		delete(s.portals, x.name)
		h.resp = append(h.resp, response{op: x.op, ok: true})
	case mExecute:
		p := s.portals[x.name]
		if p == nil || s.txnFailed {
			h.fail(x.op)
			return
		}
		h.ran("Execute "+x.name, p.st, x.expect)
		if x.fail {
			h.fail(x.op)
			return
		}
		h.resp = append(h.resp, response{op: x.op, ok: true})
	case mSync:
		s.skipping = false
		if !s.inBlock {
			s.endTxn(!s.txnFailed)
		}
		h.resp = append(h.resp, response{ready: true, status: s.status()})
	case mQuery:
		h.serveQuery(x)
	}
}

func (s *refServer) status() byte {
	switch {
	case !s.inBlock:
		return 'I'
	case s.txnFailed:
		return 'E'
	}
	return 'T'
}

func (h *harness) serveQuery(x *msg) {
	s := h.srv
	for _, q := range x.sqls {
		ok, tag := true, ""
		if s.txnFailed && s.inBlock && q.kind != qCommit && q.kind != qRollback {
			ok = false
		}
		if ok {
			switch q.kind {
			case qPrepare:
				if _, dup := s.stmts[q.name]; dup {
					ok = false
				} else if !q.fail {
					s.stmts[q.name] = q.st
				}
			case qDeallocate:
				if _, there := s.stmts[q.name]; !there {
					ok = false
				} else if !q.fail {
					delete(s.stmts, q.name)
				}
			case qDeallocAll:
				clear(s.stmts)
			case qDeclare:
				if _, dup := s.portals[q.name]; dup {
					ok = false
				} else if !q.fail {
					s.portals[q.name] = &refPortal{st: q.st, hold: q.hold, txn: s.txn}
				}
			case qCloseCursor:
				if _, there := s.portals[q.name]; !there {
					ok = false
				} else if !q.fail {
					delete(s.portals, q.name)
				}
			case qCloseAll:
				clear(s.portals)
			case qFetch:
				p := s.portals[q.name]
				if p == nil {
					ok = false
				} else if q.known {
					h.ran("FETCH "+q.name, p.st, q.expect)
				}
			case qExecute:
				st := s.stmts[q.name]
				if st == nil {
					ok = false
				} else {
					h.ran("EXECUTE "+q.name, st, q.expect)
				}
			case qBegin:
				s.inBlock, tag = true, "BEGIN"
			case qCommit:
				tag = "COMMIT"
				if s.txnFailed {
					tag = "ROLLBACK"
				}
				s.endTxn(!s.txnFailed)
				s.inBlock = false
			case qRollback:
				tag = "ROLLBACK"
				s.endTxn(false)
				s.inBlock = false
			case qHiddenOpen:
				if _, there := s.portals[q.name]; !there && !s.txnFailed {
					s.portals[q.name] = &refPortal{st: q.st, txn: s.txn}
				}
			case qDiscardAll:
				if s.inBlock {
					ok = false
				} else {
					clear(s.stmts)
					clear(s.portals)
				}
			}
		}
		if ok && q.fail {
			ok = false
		}
		if !ok {
			h.resp = append(h.resp, response{op: q.op, ok: false})
			s.txnFailed = true
			break
		}
		h.resp = append(h.resp, response{op: q.op, ok: true, tag: tag})
	}
	if !s.inBlock {
		s.endTxn(!s.txnFailed)
	}
	h.resp = append(h.resp, response{ready: true, status: s.status()})
}

var stmtNames = []string{"", "a", "b"}
var portalNames = []string{"", "p", "c"}

// send is the relay's client goroutine for one message.
func (h *harness) send(x *msg) {
	if h.skip && x.kind != mSync {
		return // refused earlier in the batch: dropped until Sync, as the relay does
	}
	m := h.m
	switch x.kind {
	case mParse:
		x.st = h.fresh()
		x.op = m.Parse(x.name, x.st)
	case mBind:
		st := h.lookupStmt(x.stmt)
		x.op = m.Bind(x.name, &Portal{Stmt: st})
	case mCloseS:
		x.op = m.CloseStatement(x.name)
	case mCloseP:
		x.op = m.ClosePortal(x.name)
	case mExecute:
		p := h.lookupPortal(x.name)
		if p == nil || p.Stmt == nil {
			h.skip = true // refused: the gateway answers, the server never sees it
			return
		}
		x.expect = p.Stmt
		x.op = m.Nop()
	case mSync:
		h.skip = false
		m.EndSegment()
	case mQuery:
		mark := m.Mark()
		for _, q := range x.sqls {
			switch q.kind {
			case qPrepare:
				q.st = h.fresh()
				q.op = m.Parse(q.name, q.st)
			case qDeallocate:
				q.op = m.CloseStatement(q.name)
			case qDeallocAll:
				q.op = m.DeallocateAll()
			case qDeclare:
				q.st = h.fresh()
				q.op = m.Declare(q.name, &Portal{Stmt: q.st, Hold: q.hold})
			case qCloseCursor:
				q.op = m.ClosePortal(q.name)
			case qCloseAll:
				q.op = m.CloseAll()
			case qFetch:
				if p := h.lookupPortal(q.name); p != nil && p.Stmt != nil {
					q.expect, q.known = p.Stmt, true
				}
				q.op = m.Nop()
			case qExecute:
				st := h.lookupStmt(q.name)
				if st == nil {
					// Refused: nothing of the string is forwarded; the gateway sends a Sync of its own.
					m.Truncate(mark)
					m.EndSegment()
					h.wire = append(h.wire, &msg{kind: mSync})
					return
				}
				q.expect, q.known, q.op = st, true, m.Nop()
			case qBegin, qCommit, qRollback:
				q.op = m.TxnEnd()
			case qHiddenOpen:
				q.st = h.fresh()
				q.op = m.Nop()
			case qDiscardAll:
				q.op = m.DiscardAll()
			}
		}
		m.EndSegment()
	}
	h.wire = append(h.wire, x)
}

// run decodes a fuzz input into a client's message sequence with server interleavings.
func run(t testing.TB, data []byte) {
	h := &harness{t: t, m: New(), srv: newRefServer()}
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	extOpen := false
	for len(data) > 0 {
		b := next()
		arg := next()
		var x *msg
		switch b % 8 {
		case 0:
			x = &msg{kind: mParse, name: stmtNames[arg%3], fail: arg&0x80 != 0}
		case 1:
			x = &msg{kind: mBind, name: portalNames[arg%3], stmt: stmtNames[(arg/3)%3], fail: arg&0x80 != 0}
		case 2:
			x = &msg{kind: mCloseS, name: stmtNames[arg%3]}
		case 3:
			x = &msg{kind: mCloseP, name: portalNames[arg%3]}
		case 4, 5:
			x = &msg{kind: mExecute, name: portalNames[arg%3], fail: arg&0x80 != 0}
		case 6:
			x = &msg{kind: mSync}
		case 7:
			if extOpen {
				// The relay refuses a simple Query inside an open extended batch; send the Sync first.
				h.send(&msg{kind: mSync})
				extOpen = false
			}
			x = &msg{kind: mQuery}
			for n := int(arg%4) + 1; n > 0 && len(data) >= 2; n-- {
				k, a := next(), next()
				q := &sqlStmt{kind: sqlKind(int(k) % int(nSQL)), fail: a&0x80 != 0, hold: a&0x40 != 0}
				switch q.kind {
				case qPrepare, qDeallocate, qExecute:
					q.name = stmtNames[1+int(a)%2] // SQL names are never empty
				default:
					q.name = portalNames[1+int(a)%2]
				}
				x.sqls = append(x.sqls, q)
			}
		}
		if x.kind != mSync && x.kind != mQuery {
			extOpen = true
		} else {
			extOpen = false
		}
		h.send(x)
		for n := next() % 4; n > 0; n-- {
			h.process()
		}
	}
	if extOpen {
		h.send(&msg{kind: mSync})
	}
	for h.process() {
	}
	if len(h.m.pending) != 0 {
		t.Fatalf("%d ops still pending after every answer", len(h.m.pending))
	}
}

func FuzzModelMatchesServer(f *testing.F) {
	f.Add([]byte{0, 1, 3, 1, 4, 0, 6, 0})                          // Parse, Bind, Execute, Sync
	f.Add([]byte{0, 0, 6, 0, 0, 0x80, 6, 0, 1, 0, 4, 0, 6, 0})     // failed re-Parse of the unnamed statement
	f.Add([]byte{0, 1, 1, 4, 2, 1, 0, 1, 4, 1, 6, 0})              // Close of a statement under a live portal
	f.Add([]byte{7, 1, 0, 0, 7, 0, 6, 0, 7, 0})                    // PREPARE, then EXECUTE
	f.Add([]byte{7, 2, 8, 0, 3, 1, 9, 0, 7, 0, 6, 1, 0})           // BEGIN; DECLARE; COMMIT; FETCH
	f.Add([]byte{7, 3, 3, 0x41, 9, 0, 11, 0, 6, 1, 0, 7, 0, 6, 1}) // hold cursor, commit, hidden open, fetch
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		run(t, data)
	})
}

// TestModelScenarios pins the cases the enforcement-soundness issue reported.
func TestModelScenarios(t *testing.T) {
	for name, data := range map[string][]byte{
		"failed named Parse keeps nothing under the name":     {0, 0x81, 1, 1, 4, 1, 6, 0, 0, 1, 1, 1, 4, 1, 6, 0},
		"pipelined re-Parse after a failure":                  {0, 0x81, 6, 0, 0, 1, 1, 1, 4, 1, 6, 0},
		"portal keeps its statement after Close and re-Parse": {0, 1, 1, 4, 2, 1, 0, 1, 4, 1, 6, 0},
		"protocol statement run by SQL EXECUTE":               {0, 1, 6, 0, 7, 0, 7, 0},
		"cursor across commit, then a hidden open":            {7, 3, 3, 0, 10, 0, 6, 1, 0, 7, 0, 11, 1, 0, 7, 0, 6, 1},
	} {
		t.Run(name, func(t *testing.T) { run(t, data) })
	}
}
