// Package pgstate models the named objects of one PostgreSQL session the way the server tracks them —
// prepared statements and portals (cursors are portals) — so the gateway judges an Execute, an SQL
// EXECUTE or a FETCH by the statement PostgreSQL will actually run (docs/invariants.md, invariant 0).
// It has no network code: the relay drives it, and tests and fuzzers drive it directly.
//
// The client pipelines messages faster than the server answers them, so the model keeps two layers:
//
//	client goroutine                                   upstream goroutine
//	Parse/Bind/Close/Query → Op (pending, speculative) ──▶ ParseComplete/BindComplete/CommandComplete → Done(op, true)
//	Execute/EXECUTE/FETCH  → lookup: pending ops of        ErrorResponse → Done(op, false): op and the rest of
//	                         the open segment, then         its segment are void (the server skips to Sync)
//	                         the confirmed state             ReadyForQuery → Ready(status): segment finished,
//	                                                         transaction-scoped portals dropped
//
// A segment is everything up to a Sync or a simple Query. Within the open segment speculation is exact:
// if any earlier op of the segment fails, the server skips the rest of it, so a lookup that relied on
// that op never runs. A lookup that depends on an op of an earlier, still unanswered segment returns
// ErrWait: the caller waits (WaitSettled) until the server has answered it, then looks again. This is
// the only case where the gateway stops pipelining, and real drivers do not produce it.
//
// What the model does not see (cursors opened inside functions, portals of a failed transaction) errs
// towards "unknown": the relay refuses an Execute of an unknown portal or statement, and treats a FETCH
// from an unknown cursor as a statement over unknown tables.
package pgstate

import (
	"errors"
	"sync"
	"time"
)

// ErrWait means a lookup depends on an earlier segment the server has not answered yet.
var ErrWait = errors.New("pgstate: the answer depends on an unanswered earlier segment")

// ErrClosed is returned by WaitSettled when the session ended while waiting.
var ErrClosed = errors.New("pgstate: session closed")

// Statement is a prepared statement as the gateway classified it. The relay owns the value's meaning;
// the model only keeps it under its name. Its fields may be set by the upstream goroutine after a
// Describe (RowDescription) and read by the same goroutine.
type Statement struct {
	SQL       string
	Class     any      // the relay's classification of SQL (classify.Statement)
	ParamOIDs []uint32 // from Parse
	Desc      []byte   // RowDescription body once the statement was described (upstream goroutine)
	HasDesc   bool
}

// Portal is a bound portal or a cursor. It keeps the Statement it was bound to: closing or replacing
// the statement's name later does not change what the portal runs (PostgreSQL fixes the plan at Bind).
type Portal struct {
	Stmt      *Statement // nil: bound to a statement the model does not know
	Params    []string   // rendered (masked) parameters, for the audit event
	Formats   []int16    // result format codes from Bind
	Described bool       // the client asked for its RowDescription
	Cursor    bool       // created by DECLARE … CURSOR
	Hold      bool       // WITH HOLD: survives the commit of its transaction
	Desc      []byte     // RowDescription body from a Describe of the portal (upstream goroutine)
	HasDesc   bool

	txn uint64 // the transaction that created it
}

type opKind uint8

const (
	opParse        opKind = iota // protocol Parse or SQL PREPARE: stmts[name] = stmt
	opCloseStmt                  // protocol Close 'S' or SQL DEALLOCATE name
	opStmtsAll                   // DEALLOCATE ALL
	opBind                       // protocol Bind: portals[name] = portal
	opDeclare                    // DECLARE name CURSOR: portals[name] = portal
	opClosePortal                // protocol Close 'P' or SQL CLOSE name
	opPortalsAll                 // CLOSE ALL
	opDiscardAll                 // DISCARD ALL: both
	opTxnEnd                     // COMMIT, ROLLBACK and friends: transaction-scoped portals go
	opDiscardAtEnd               // user code now and at COMMIT (deferred triggers): both now and at the end
	opNone                       // a statement with no effect on names (kept so Done pairs with the relay)
)

// Op is one pending change, in the order the server will process it.
type Op struct {
	kind   opKind
	name   string
	stmt   *Statement
	portal *Portal
	seg    uint64
	void   bool
	done   bool
}

// Model is one session's prepared statements and portals. Safe for the two relay goroutines.
type Model struct {
	mu   sync.Mutex
	cond *sync.Cond

	stmts   map[string]*Statement
	portals map[string]*Portal
	pending []*Op

	seg     uint64 // the client's open segment
	doneSeg uint64 // segments the server has finished (ReadyForQuery seen)
	txn     uint64 // confirmed transaction counter
	txnErr  bool   // an error happened in the current transaction
	opaque  uint64 // last segment holding a statement that may change session settings unseen (0: none)
	// discardAtEnd: the open transaction queued deferred user code (DiscardAllAtTxnEnd ran), which may
	// redefine names when it commits, prepares or runs SET CONSTRAINTS; set until ReadyForQuery 'I'.
	discardAtEnd bool
	schemaSeg    uint64 // last segment holding a statement that may change the catalog (0: none)
	closed       bool
}

// New returns an empty model (a new session).
func New() *Model {
	m := &Model{stmts: map[string]*Statement{}, portals: map[string]*Portal{}, seg: 1, doneSeg: 0, txn: 1}
	m.cond = sync.NewCond(&m.mu)
	return m
}

func (m *Model) add(o *Op) *Op {
	o.seg = m.seg
	m.pending = append(m.pending, o)
	return o
}

// Parse records a protocol Parse (or an SQL PREPARE) of name. An unnamed Parse replaces the unnamed
// statement; a named one fails at the server if the name exists, and the segment is then void.
func (m *Model) Parse(name string, st *Statement) *Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.add(&Op{kind: opParse, name: name, stmt: st})
}

// CloseStatement records a protocol Close 'S' or DEALLOCATE name.
func (m *Model) CloseStatement(name string) *Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.add(&Op{kind: opCloseStmt, name: name})
}

// DeallocateAll records DEALLOCATE ALL.
func (m *Model) DeallocateAll() *Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.add(&Op{kind: opStmtsAll})
}

// Bind records a protocol Bind of portal name to p.
func (m *Model) Bind(name string, p *Portal) *Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.add(&Op{kind: opBind, name: name, portal: p})
}

// Declare records DECLARE name CURSOR … FOR query; p.Stmt is the cursor's query.
func (m *Model) Declare(name string, p *Portal) *Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	p.Cursor = true
	return m.add(&Op{kind: opDeclare, name: name, portal: p})
}

// ClosePortal records a protocol Close 'P' or SQL CLOSE name.
func (m *Model) ClosePortal(name string) *Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.add(&Op{kind: opClosePortal, name: name})
}

// CloseAll records CLOSE ALL.
func (m *Model) CloseAll() *Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.add(&Op{kind: opPortalsAll})
}

// DiscardAll records DISCARD ALL: every prepared statement and portal goes.
func (m *Model) DiscardAll() *Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.add(&Op{kind: opDiscardAll})
}

// DiscardAllAtTxnEnd records a statement that runs user code now and may queue more for the end of its
// transaction (a write to a table with deferrable constraint triggers; docs/policy.md): every name goes
// once it runs, and again whenever the transaction commits, prepares, rolls back or runs SET CONSTRAINTS,
// until the server reports it idle. Lookups that cross such an end answer "unknown" (or wait for it).
func (m *Model) DiscardAllAtTxnEnd() *Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.add(&Op{kind: opDiscardAtEnd})
}

// deferredBefore says whether deferred user code may be queued in the transaction when the server
// reaches pending[i]: confirmed, or a live DiscardAllAtTxnEnd op before it.
func (m *Model) deferredBefore(i int) bool {
	if m.discardAtEnd {
		return true
	}
	for _, o := range m.pending[:i] {
		if o.kind == opDiscardAtEnd && !o.void {
			return true
		}
	}
	return false
}

// TxnEnd records a transaction-control statement that may end the transaction. Speculatively it drops
// every portal that is not WITH HOLD; Done with the server's command tag decides what really happened.
func (m *Model) TxnEnd() *Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.add(&Op{kind: opTxnEnd})
}

// Nop records a statement without effect on names, so that the relay can pair every statement of a
// query string with one op.
func (m *Model) Nop() *Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.add(&Op{kind: opNone})
}

// Mark returns the number of pending ops, for Truncate.
func (m *Model) Mark() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}

// Truncate forgets the ops added since mark: the gateway refused the message that made them, so the
// server never sees it.
func (m *Model) Truncate(mark int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mark < len(m.pending) {
		for i := mark; i < len(m.pending); i++ {
			m.pending[i] = nil
		}
		m.pending = m.pending[:mark]
	}
}

// EndSegment closes the client's open segment: the relay forwarded a Sync or a simple Query (or sent a
// Sync of its own).
func (m *Model) EndSegment() {
	m.mu.Lock()
	m.seg++
	m.mu.Unlock()
}

// MarkOpaque notes that the open segment holds a statement that may change session settings without
// the gateway seeing it (a function, a trigger). See Lexing.
func (m *Model) MarkOpaque() {
	m.mu.Lock()
	m.opaque = m.seg
	m.mu.Unlock()
}

// MarkSchemaChange notes that the open segment holds a statement that may change the catalog (DDL): the
// gateway's cached catalog facts describe the database before it until the server has answered it.
func (m *Model) MarkSchemaChange() {
	m.mu.Lock()
	m.schemaSeg = m.seg
	m.mu.Unlock()
}

// SchemaSettled reports whether every segment marked by MarkSchemaChange has been answered.
func (m *Model) SchemaSettled() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.schemaSeg <= m.doneSeg
}

// LexState says how far the gateway can trust its lexing settings for the next query text:
// LexWait — an earlier, unanswered segment may have changed them (wait, then ask again);
// LexOpenSegment — a statement of the open segment may have (only text that every ASCII-compatible
// encoding and both string-literal settings read alike is safe); LexKnown — settings are as reported.
type LexState uint8

// Lexing states.
const (
	LexKnown LexState = iota
	LexOpenSegment
	LexWait
)

// Lexing reports the LexState for a text the client sends now.
func (m *Model) Lexing() LexState {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.opaque == 0 || m.opaque <= m.doneSeg:
		return LexKnown
	case m.opaque == m.seg:
		return LexOpenSegment
	}
	return LexWait
}

// Statement resolves a statement name as the server will when it reaches the message being sent now.
// It returns nil when no such statement exists, ErrWait when the answer depends on an earlier segment.
func (m *Model) Statement(name string) (*Statement, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	crossed := false // a transaction end with deferred user code lies between the lookup and the name
	for i := len(m.pending) - 1; i >= 0; i-- {
		o := m.pending[i]
		if o.void || o.done {
			continue
		}
		switch o.kind {
		case opParse, opCloseStmt:
			if o.name != name {
				continue
			}
		case opStmtsAll, opDiscardAll, opDiscardAtEnd:
		case opTxnEnd:
			if m.deferredBefore(i) {
				if o.seg != m.seg {
					return nil, ErrWait
				}
				crossed = true
			}
			continue
		default:
			continue
		}
		if o.seg != m.seg {
			return nil, ErrWait
		}
		if crossed {
			return nil, nil
		}
		return o.stmt, nil // nil for a close
	}
	if crossed {
		return nil, nil
	}
	if m.discardAtEnd && m.doneSeg+1 < m.seg {
		return nil, ErrWait // an unanswered earlier segment may end the transaction
	}
	return m.stmts[name], nil
}

// Portal resolves a portal (or cursor) name as the server will when it reaches the message being sent
// now. nil means the model knows no such portal.
func (m *Model) Portal(name string) (*Portal, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	txnEnd := false  // a pending transaction end lies between the lookup and the portal's creation
	crossed := false // … and deferred user code may run at it
	for i := len(m.pending) - 1; i >= 0; i-- {
		o := m.pending[i]
		if o.void || o.done {
			continue
		}
		switch o.kind {
		case opBind, opDeclare, opClosePortal:
			if o.name != name {
				continue
			}
		case opPortalsAll, opDiscardAll, opDiscardAtEnd:
		case opTxnEnd:
			txnEnd = true
			crossed = crossed || m.deferredBefore(i)
			continue
		default:
			continue
		}
		if o.seg != m.seg {
			return nil, ErrWait
		}
		if o.portal == nil || txnEnd {
			// A portal made and then crossed by a transaction end in the same segment: whether a WITH
			// HOLD cursor survives depends on how the transaction ends; unknown is the safe answer.
			return nil, nil
		}
		return o.portal, nil
	}
	if !txnEnd && m.discardAtEnd && m.doneSeg+1 < m.seg {
		return nil, ErrWait // an unanswered earlier segment may end the transaction
	}
	p := m.portals[name]
	if p == nil {
		return nil, nil
	}
	if txnEnd {
		for _, o := range m.pending {
			if o.kind == opTxnEnd && !o.void && !o.done && o.seg != m.seg {
				return nil, ErrWait
			}
		}
		// Only a WITH HOLD cursor of an earlier, committed transaction survives any end, and none
		// survives deferred user code.
		if crossed || !p.Hold || p.txn == m.txn {
			return nil, nil
		}
	}
	return p, nil
}

// Done applies the server's answer to op: ok (ParseComplete, BindComplete, CloseComplete, the
// statement's CommandComplete) or not (ErrorResponse: op and every later op of its segment are void).
// tag is the CommandComplete tag for TxnEnd ops ("COMMIT", "ROLLBACK", …).
func (m *Model) Done(op *Op, ok bool, tag string) {
	if op == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if op.done || op.void {
		m.trim()
		return
	}
	op.done = true
	if !ok {
		m.txnErr = true
		if op.kind == opParse && op.name == "" {
			// PostgreSQL drops the unnamed statement before it parses the new one.
			delete(m.stmts, "")
		}
		for _, o := range m.pending {
			if o.seg == op.seg && !o.done {
				o.void = true
			}
		}
		m.trim()
		return
	}
	switch op.kind {
	case opParse:
		m.stmts[op.name] = op.stmt
	case opCloseStmt:
		delete(m.stmts, op.name)
	case opStmtsAll:
		clear(m.stmts)
	case opBind, opDeclare:
		op.portal.txn = m.txn
		m.portals[op.name] = op.portal
	case opClosePortal:
		delete(m.portals, op.name)
	case opPortalsAll:
		clear(m.portals)
	case opDiscardAll:
		clear(m.stmts)
		clear(m.portals)
	case opDiscardAtEnd:
		clear(m.stmts)
		clear(m.portals)
		m.discardAtEnd = true
	case opTxnEnd:
		switch tag {
		case "COMMIT", "PREPARE TRANSACTION":
			m.endTxn(!m.txnErr)
		case "ROLLBACK":
			// Also ROLLBACK TO SAVEPOINT: dropping what the savepoint kept only makes portals unknown.
			m.endTxn(false)
		case "SET CONSTRAINTS":
			if m.discardAtEnd { // SET CONSTRAINTS … IMMEDIATE runs the deferred triggers now
				clear(m.stmts)
				clear(m.portals)
			}
		}
	}
	m.trim()
}

// Error records an ErrorResponse that belongs to no op (an Execute's error): the transaction failed
// and the rest of the segment is void.
func (m *Model) Error() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.txnErr = true
	for _, o := range m.pending {
		if o.seg == m.doneSeg+1 && !o.done {
			o.void = true
		}
	}
	m.trim()
}

// Ready applies a ReadyForQuery: the oldest open segment is finished, and the transaction status says
// whether portals of the transaction survive ('T', 'E': in a block; 'I': ended).
func (m *Model) Ready(status byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.doneSeg++
	for _, o := range m.pending {
		if o.seg <= m.doneSeg && !o.done {
			o.void = true // answered by nothing: the server skipped it
		}
	}
	m.trim()
	if status == 'I' {
		m.endTxn(!m.txnErr)
		m.discardAtEnd = false
	}
	m.cond.Broadcast()
}

// endTxn drops the portals the end of the current transaction drops: all but WITH HOLD cursors on
// commit; on abort also the WITH HOLD cursors it created.
func (m *Model) endTxn(committed bool) {
	if m.discardAtEnd {
		// Deferred triggers ran (commit, prepare) or the end is unclear (ROLLBACK TO SAVEPOINT keeps
		// what was queued before it): forget every name. discardAtEnd stays until ReadyForQuery 'I'.
		clear(m.stmts)
		clear(m.portals)
	}
	for name, p := range m.portals {
		if !p.Hold || (!committed && p.txn == m.txn) {
			delete(m.portals, name)
		}
	}
	m.txn++
	m.txnErr = false
}

// trim drops settled ops from the head of the queue.
func (m *Model) trim() {
	n := 0
	for n < len(m.pending) && (m.pending[n].done || m.pending[n].void) {
		m.pending[n] = nil
		n++
	}
	if n > 0 {
		m.pending = m.pending[n:]
		if len(m.pending) == 0 {
			m.pending = nil
		}
	}
}

// ErrTimeout is returned by WaitSettled when the server did not answer in time.
var ErrTimeout = errors.New("pgstate: the server did not answer the earlier messages in time")

// WaitSettled blocks until the server has answered every segment before the open one, for at most
// timeout. It returns ErrClosed if Close is called meanwhile.
func (m *Model) WaitSettled(timeout time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.doneSeg+1 >= m.seg {
		return nil
	}
	expired := false
	t := time.AfterFunc(timeout, func() {
		m.mu.Lock()
		expired = true
		m.cond.Broadcast()
		m.mu.Unlock()
	})
	defer t.Stop()
	for m.doneSeg+1 < m.seg && !m.closed && !expired {
		m.cond.Wait()
	}
	switch {
	case m.closed:
		return ErrClosed
	case m.doneSeg+1 < m.seg:
		return ErrTimeout
	}
	return nil
}

// Close wakes every waiter: the session is over.
func (m *Model) Close() {
	m.mu.Lock()
	m.closed = true
	m.cond.Broadcast()
	m.mu.Unlock()
}

// Counts returns the number of confirmed statements and portals (tests, metrics).
func (m *Model) Counts() (stmts, portals int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.stmts), len(m.portals)
}
