package proxy

// The planner's row estimate of a held statement, shown to the approver (issue 15, Slack "expected rows").
//
// EXPLAIN without ANALYZE runs nothing, but planning is not free of code: the planner folds immutable
// functions with constant arguments (eval_const_expressions), estimates selectivity through operators'
// restriction functions and, for relations it opens, const-folds their index expressions and predicates,
// defaults, constraints and partition keys. So a statement is planned only when nothing it names or
// touches can be user code (docs/invariants.md, invariant 1: the gateway never runs a statement, or part
// of one, that it did not record; an estimate must not become a way to run code before the approval):
//
//   - one SELECT, UPDATE or DELETE (no INSERT or MERGE anywhere: their defaults are planned; no
//     UPDATE … SET col = DEFAULT), with no parameters, no dynamic SQL, no prepared-statement or cursor
//     names, and no cast unless it is a side-effect-free read (whose types are allow-listed built-ins);
//   - every function, operator and name in attribute position resolves to pg_catalog only, no user casts
//     or operator classes exist, and every relation is a plain table (the session's function facts, as
//     for side-effect-free reads, purity.go);
//   - no relation, partition or child of one has a column of a type outside pg_catalog, or an index,
//     default, constraint, policy, rule, statistics object or partition key calling a function outside
//     pg_catalog (checked by the Planner in the same transaction as the EXPLAIN, as the session's role,
//     gateway/catalog planner.go).
//
// Anything else, or any error, is "unknown" (0). The EXPLAIN runs on the admin pool of the session's
// database, as the session's JIT role (SET LOCAL ROLE), in a READ ONLY transaction that is rolled back.

import (
	"context"
	"strings"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/pangate/pangate/gateway/classify"
)

// Planner estimates the rows a statement touches without running it (gateway/catalog's *Planner).
type Planner interface {
	EstimateRows(ctx context.Context, role string, tables []string, sql string) (int64, error)
}

// estimateTimeout bounds the estimate: the approval request waits for it.
const estimateTimeout = 2 * time.Second

// expectedRows is the planner's estimate for the held statement r, or 0 (unknown).
func (ss *session) expectedRows(r *run) int64 {
	if r.batch || ss.tgt.Planner == nil || !ss.plannable(r.cls) || len(r.st.Params) > 0 {
		return 0
	}
	p := ss.tgt.Planner(ss.database)
	if p == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), estimateTimeout)
	defer cancel()
	n, err := p.EstimateRows(ctx, ss.cred.Role, r.cls.Tables, r.cls.Text)
	if err != nil {
		ss.srv.log.Debug("no row estimate for the held statement", "session", ss.id, "err", err)
		return 0
	}
	return n
}

// plannable says whether planning c can run no user code (see the top of this file); the relations'
// own expressions are the Planner's to check.
func (ss *session) plannable(c classify.Statement) bool {
	if (c.Kind != classify.KindRead && c.Kind != classify.KindWrite) || c.UnknownTables || len(c.Tables) == 0 ||
		c.Prepare != "" || c.Execute != "" || c.Declare != "" {
		return false
	}
	tree, err := pg_query.Parse(c.Text)
	if err != nil || len(tree.Stmts) != 1 {
		return false
	}
	switch n := tree.Stmts[0].Stmt; {
	case n.GetSelectStmt() != nil, n.GetUpdateStmt() != nil, n.GetDeleteStmt() != nil:
	default:
		return false
	}
	// Anywhere in the tree (data-modifying CTEs, SET col = DEFAULT, parameters of any kind).
	js, err := pg_query.ParseToJSON(c.Text)
	if err != nil {
		return false
	}
	for _, node := range []string{`"InsertStmt"`, `"MergeStmt"`, `"SetToDefault"`, `"ParamRef"`} {
		if strings.Contains(js, node) {
			return false
		}
	}
	if !c.SideEffectFree && strings.Contains(js, `"TypeCast"`) {
		// A cast's type may be a user type whose input runs code at parse time (a domain's CHECK); a
		// side-effect-free read's types are allow-listed built-ins already.
		return false
	}
	f := ss.facts
	if f == nil {
		return false
	}
	if implicit, err := f.UserImplicitCode(); err != nil || implicit {
		return false
	}
	for _, name := range c.AttrNames {
		if one, err := f.OneArgFunction(name); err != nil || one {
			return false
		}
	}
	for _, name := range c.Functions {
		name = strings.TrimPrefix(name, "pg_catalog.")
		if strings.Contains(name, ".") {
			return false // qualified with another schema: user code
		}
		if user, err := f.UserFunction(name); err != nil || user {
			return false
		}
	}
	for _, op := range c.Operators {
		op = strings.TrimPrefix(op, "pg_catalog.")
		if strings.Contains(op, ".") {
			return false
		}
		if user, err := f.UserOperator(op); err != nil || user {
			return false
		}
	}
	for _, t := range c.Tables {
		if plain, err := f.PlainRelation(t); err != nil || !plain {
			return false
		}
	}
	return true
}
