package proxy

import (
	"sync"
	"time"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/gateway/pgstate"
	"github.com/pangate/pangate/schemas"
)

// itemKind is what a frontend message that expects a response asked for.
type itemKind uint8

const (
	itParse          itemKind = iota // ParseComplete
	itBind                           // BindComplete
	itDescribeStmt                   // ParameterDescription, then RowDescription or NoData
	itDescribePortal                 // RowDescription or NoData
	itClose                          // CloseComplete
	itExecute                        // rows…, CommandComplete / EmptyQuery / PortalSuspended / Error
	itQuery                          // per statement: rows…, CommandComplete…; then ReadyForQuery
	itSync                           // ReadyForQuery
	itRefused                        // synthetic: the gateway's ErrorResponse for a refused statement
	itNotice                         // synthetic: the gateway's NoticeResponse (a statement held for approval)
)

// item is one expected response, queued by the client goroutine before the message is forwarded and
// consumed by the upstream goroutine in order (responses come in request order).
type item struct {
	kind      itemKind
	name      string // statement or portal name
	closeStmt bool   // itClose of a statement (not a portal)
	runs      []*run // itQuery: one per statement; itExecute: one
	cur       int
	// itExecute: what the stream needs to decode DataRows that follow no RowDescription.
	portal    *pgstate.Portal // itExecute, itDescribePortal (nil: unknown)
	formats   []int16
	described bool
	pstmt     *pgstate.Statement // itDescribeStmt (nil: unknown)
	op        *pgstate.Op        // itParse, itBind, itClose: the model change PostgreSQL's answer confirms
	errFrame  []byte             // itRefused, itNotice: the frame to send
	tracked   bool               // counted in session.oc.inflight (holds a recorded-ahead statement)
}

// mode says how a statement is gated.
type mode uint8

const (
	// modeAcked: the event was acknowledged before the statement was forwarded (writes, DDL, roles,
	// anything while the audit log is unhealthy); results stream through.
	modeAcked mode = iota
	// modeGated: a read forwarded at once; its result is held until its event is acknowledged.
	modeGated
)

// run is one statement on its way through the gateway.
type run struct {
	st       schemas.Statement
	cls      classify.Statement
	mode     mode
	rule     string
	derived  []string             // derivations of cardholder data its lineage lets out (session.lineage), for decide
	approval *schemas.ApprovalRef // set when a held statement was approved
	// COPY … TO of a table: its columns in output order, for mask.Stream.SetCopyColumns.
	copyTable string
	copyCols  []string
	copyKnown bool
	arrived   time.Time
	started   bool
	released  bool // gated result already released (event written)
	rows      int64
	buf       []byte
	op        *pgstate.Op // the statement's effect on prepared statements and portals
	intent    uint64      // seq of its query.executed when recorded ahead
	completed bool        // its query.completed was sent
	batch     bool        // stands for a whole query string of several statements (a hold's record)
}

// queue is a FIFO of items shared by the two relay goroutines.
type queue struct {
	mu    sync.Mutex
	items []*item
}

func (q *queue) push(it *item) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
}

func (q *queue) head() *item {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil
	}
	return q.items[0]
}

func (q *queue) pop() {
	q.mu.Lock()
	if len(q.items) > 0 {
		q.items[0] = nil
		q.items = q.items[1:]
		if len(q.items) == 0 {
			q.items = nil // let the backing array go
		}
	}
	q.mu.Unlock()
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
