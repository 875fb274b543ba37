package proxy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/gateway/pgstate"
)

// Prepared statements, portals and cursors are tracked by a pgstate.Model the way PostgreSQL tracks
// them (docs/invariants.md, invariant 0): an Execute runs the statement its portal was bound to, an SQL
// EXECUTE or a FETCH runs what the server holds under that name at that moment, and names whose fate
// depends on an unanswered earlier batch are looked up only once the server has answered it.

// settleTimeout bounds how long a message waits for the server to answer earlier batches.
const settleTimeout = 5 * time.Minute

// errUnknownName refuses a statement naming a prepared statement or portal the gateway does not know.
var errUnknownName = errors.New("unknown name")

// settle flushes what was forwarded and waits until the server has answered every earlier batch.
func (ss *session) settle() error {
	if err := ss.uw.Flush(); err != nil {
		return err
	}
	return ss.model.WaitSettled(settleTimeout)
}

// lookupStatement resolves a prepared statement name now, waiting for earlier batches if needed.
func (ss *session) lookupStatement(name string) (*pgstate.Statement, error) {
	for {
		st, err := ss.model.Statement(name)
		if !errors.Is(err, pgstate.ErrWait) {
			return st, err
		}
		if err := ss.settle(); err != nil {
			return nil, err
		}
	}
}

// lookupPortal resolves a portal or cursor name now, waiting for earlier batches if needed.
func (ss *session) lookupPortal(name string) (*pgstate.Portal, error) {
	for {
		p, err := ss.model.Portal(name)
		if !errors.Is(err, pgstate.ErrWait) {
			return p, err
		}
		if err := ss.settle(); err != nil {
			return nil, err
		}
	}
}

// checkLexing decides whether a query text the client sends now can be lexed as the server will lex
// it: it waits for the server's answer to earlier batches that may have changed settings, and within
// one batch after such a statement it accepts only text that every setting reads alike. It returns a
// refusal message, or "".
func (ss *session) checkLexing(text string) string {
	for {
		if msg, _ := ss.lexBroken.Load().(string); msg != "" {
			return msg
		}
		switch ss.model.Lexing() {
		case pgstate.LexKnown:
			return ""
		case pgstate.LexOpenSegment:
			if lexNeutral(text) {
				return ""
			}
			return "pangate: an earlier statement of this batch may have changed how the server reads text (it runs functions or triggers); send Sync before a statement with non-ASCII characters or backslashes"
		default:
			if err := ss.settle(); err != nil {
				return "pangate: the server did not answer earlier statements; statement not run"
			}
		}
	}
}

// mayChangeSettings says whether running c can change session settings without the gateway seeing it
// in the statement: anything that runs functions, triggers or rules not on the side-effect-free
// allow-list.
func mayChangeSettings(c classify.Statement) bool {
	return !c.SideEffectFree
}

// resolved is a statement with the names it uses looked up: the classification policy judges and the
// audit records, and the model op that applies its effect on names once the server confirms it.
type resolved struct {
	cls classify.Statement
	op  func() *pgstate.Op
	// prepared is the text of the prepared statement or cursor query it runs (EXECUTE, FETCH), "" if none.
	prepared string
}

// runsUserCode says whether running c may run code outside PostgreSQL's built-ins: a function that is not
// pg_catalog's (by name or attribute notation), DO, CALL, or SQL the parse tree does not show. Such code
// can DEALLOCATE and PREPARE or CLOSE and DECLARE under the same names (PL/pgSQL's EXECUTE does), so the
// gateway forgets every name it knew once such a statement runs: a later EXECUTE or Execute of an older
// name is refused instead of judged by what the name used to mean. Missing catalog facts count as yes.
// Code the statement does not name — triggers, rules, event triggers — is triggersOp's.
func (ss *session) runsUserCode(c classify.Statement) bool {
	if c.UnknownTables || c.HasTag(classify.TagDynamicSQL) {
		return true
	}
	if len(c.Functions) == 0 && len(c.AttrNames) == 0 {
		return false
	}
	if ss.facts == nil {
		return true
	}
	for _, f := range c.Functions {
		if strings.HasPrefix(f, "pg_catalog.") {
			continue
		}
		if strings.Contains(f, ".") {
			return true // qualified with another schema: not a built-in
		}
		if user, err := ss.facts.UserFunction(f); err != nil || user {
			return true
		}
	}
	for _, a := range c.AttrNames {
		if user, err := ss.facts.UserFunction(a); err != nil || user {
			return true
		}
	}
	return false
}

// resolve looks up the names a statement uses. A statement that runs a prepared statement or fetches
// from a cursor takes that statement's classification (kind, tables, tags, functions), merged with its
// own; an EXECUTE of a name the gateway does not know is refused (errUnknownName), a FETCH from an
// unknown cursor (opened inside a function) becomes a statement over unknown tables.
func (ss *session) resolve(c classify.Statement, sql string) (resolved, error) {
	m := ss.model
	r := resolved{cls: c}
	nop := false // the statement itself defines or drops no name
	switch {
	case c.Prepare != "":
		st := &pgstate.Statement{SQL: sql, Class: c}
		r.op = func() *pgstate.Op { return m.Parse(c.Prepare, st) }
	case c.Execute != "":
		st, err := ss.lookupStatement(c.Execute)
		if err != nil {
			return r, err
		}
		if st == nil || st.Class == nil {
			return r, fmt.Errorf("%w: prepared statement %q", errUnknownName, c.Execute)
		}
		if c.ExecuteRuns {
			r.cls = merge(c, st.Class.(classify.Statement))
			r.prepared = st.SQL
		}
		r.op, nop = m.Nop, true
	case c.Deallocate != "":
		r.op = func() *pgstate.Op { return m.CloseStatement(c.Deallocate) }
	case c.DeallocateAll:
		r.op = m.DeallocateAll
	case c.Declare != "":
		p := &pgstate.Portal{Stmt: &pgstate.Statement{SQL: sql, Class: c}, Hold: c.DeclareHold}
		r.op = func() *pgstate.Op { return m.Declare(c.Declare, p) }
	case c.Fetch != "":
		p, err := ss.lookupPortal(c.Fetch)
		if err != nil {
			return r, err
		}
		if p == nil || p.Stmt == nil || p.Stmt.Class == nil {
			r.cls = unknownQuery(c)
		} else {
			r.cls = merge(c, p.Stmt.Class.(classify.Statement))
			r.prepared = p.Stmt.SQL
		}
		r.op, nop = m.Nop, true
	case c.CloseCursor != "":
		r.op = func() *pgstate.Op { return m.ClosePortal(c.CloseCursor) }
	case c.CloseAll:
		r.op = m.CloseAll
	case c.Discard == "all":
		r.op = m.DiscardAll
	case c.Kind == classify.KindTransaction:
		r.op = m.TxnEnd
	default:
		r.op, nop = m.Nop, true
	}
	if nop {
		if op := ss.triggersOp(r.cls); op != nil {
			r.op = op
		}
	}
	return r, nil
}

// TriggerFacts is what the database says about code a statement runs without naming it (gateway/catalog's
// *Functions implements it, beside FunctionFacts). Facts that do not implement it, or fail, count as
// "there is such code everywhere".
type TriggerFacts interface {
	// WriteTriggers: a write to table runs a user trigger or rule (on it, a partition or child, a table
	// its foreign keys' actions write) — fires — some of which may run at COMMIT — deferred.
	WriteTriggers(table string) (fires, deferred bool, err error)
	// AnyTriggers: some relation has a user trigger or rule (TRUNCATE … CASCADE reaches it).
	AnyTriggers() (bool, error)
	// AnyDeferredTriggers: some relation has a deferrable user trigger (user code may write to it).
	AnyDeferredTriggers() (bool, error)
	// EventTriggers: an enabled event trigger runs on DDL.
	EventTriggers() (bool, error)
}

// triggersOp returns the model op for a statement that runs user code it does not name, nil for one that
// does not. Trigger functions, rule actions and event trigger functions can DEALLOCATE and PREPARE (or
// CLOSE and DECLARE) through PL/pgSQL's EXECUTE like any user function (see runsUserCode), so the
// gateway forgets every name once such a statement runs (docs/policy.md, "Names redefined by user
// code"):
//   - a write (INSERT, UPDATE, DELETE, MERGE, a data-modifying CTE, COPY FROM, COPY of a writing query,
//     TRUNCATE, REFRESH) to a table with triggers or rules, or to a table the facts do not know;
//   - DDL and GRANT/REVOKE when the database has an event trigger.
//
// When the code may run again at the end of the transaction — a deferrable constraint trigger, or user
// code (runsUserCode) that may write to a table with one — the op is DiscardAllAtTxnEnd: names defined
// after the write are forgotten again at COMMIT, PREPARE TRANSACTION and SET CONSTRAINTS. Reads return
// at once (no fact is asked); writes ask one cached map per table. Until the server has answered a DDL
// statement of this session the cached facts may predate it (CREATE TRIGGER; INSERT in one string), so
// they count as missing.
func (ss *session) triggersOp(c classify.Statement) func() *pgstate.Op {
	tf, _ := ss.facts.(TriggerFacts)
	stale := !ss.model.SchemaSettled()
	if stale {
		tf = nil
	}
	fires, deferred := false, false
	switch {
	case c.Kind == classify.KindRead || c.Kind == classify.KindTransaction:
	case c.Kind == classify.KindWrite || c.Kind == classify.KindCopy && (c.CopyIn || c.HasTag(classify.TagDataModifying)):
		if tf == nil || c.UnknownTables || len(c.Tables) == 0 {
			fires, deferred = true, true
			break
		}
		if c.HasTag(classify.TagTruncate) {
			if any, err := tf.AnyTriggers(); err != nil || any {
				fires = true
			}
		}
		for _, t := range c.Tables {
			f, d, err := tf.WriteTriggers(t)
			fires = fires || f || err != nil
			deferred = deferred || d || err != nil
		}
	case c.Kind == classify.KindDDL || c.Kind == classify.KindRole:
		ss.model.MarkSchemaChange()
		if tf == nil {
			fires = true
		} else if evt, err := tf.EventTriggers(); err != nil || evt {
			fires = true
		}
	}
	if ss.runsUserCode(c) || stale && (len(c.Functions) > 0 || len(c.AttrNames) > 0) {
		fires = true
		if tf == nil {
			deferred = true
		} else if d, err := tf.AnyDeferredTriggers(); err != nil || d {
			deferred = true
		}
	}
	switch {
	case deferred:
		return ss.model.DiscardAllAtTxnEnd
	case fires:
		return ss.model.DiscardAll
	}
	return nil
}

// merge gives a statement that runs another (EXECUTE, FETCH) the other's classification, keeping its own
// text, fingerprint and the tables and functions of its own expressions (EXECUTE's parameters).
func merge(own, target classify.Statement) classify.Statement {
	out := target
	out.Text, out.Fingerprint = own.Text, own.Fingerprint
	out.Tables = classify.Union(target.Tables, own.Tables)
	out.Columns = classify.Union(target.Columns, own.Columns)
	out.Functions = classify.Union(target.Functions, own.Functions)
	out.Tags = classify.Union(target.Tags, own.Tags)
	out.AttrNames = classify.Union(target.AttrNames, own.AttrNames)
	out.Operators = classify.Union(target.Operators, own.Operators)
	// EXECUTE's parameters and FETCH's count are evaluated too: the result is free of side effects only if
	// the target is and its own expressions call nothing.
	out.SideEffectFree = target.SideEffectFree && (own.SideEffectFree ||
		len(own.Functions) == 0 && len(own.Operators) == 0 && len(own.AttrNames) == 0 && !own.UnknownTables)
	out.UnknownTables = target.UnknownTables || own.UnknownTables
	out.Settings = append(slices.Clip(own.Settings), target.Settings...)
	out.Execute, out.ExecuteRuns, out.Fetch = own.Execute, own.ExecuteRuns, own.Fetch
	// What the target itself declared or prepared happened when it was prepared, not now.
	out.Prepare, out.Declare, out.DeclareHold = "", "", false
	if own.Kind == classify.KindDDL { // CREATE TABLE … AS EXECUTE
		out.Kind = classify.KindDDL
	}
	return out
}

// unknownQuery is what a FETCH from a cursor the gateway did not see declared may run: anything. It is
// recorded ahead, its tables are unknown (cardholder data assumed), and the dynamic_sql tag lets the
// policy hold or deny it.
func unknownQuery(own classify.Statement) classify.Statement {
	out := own
	out.Kind = classify.KindUtility
	out.Tags = classify.Union(own.Tags, []string{classify.TagDynamicSQL})
	out.UnknownTables = true
	out.SideEffectFree = false
	return out
}
