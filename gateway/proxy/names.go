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
// Trigger functions a write fires are not seen here (docs/policy.md, out of scope).
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
	if nop && ss.runsUserCode(r.cls) {
		r.op = m.DiscardAll
	}
	return r, nil
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
