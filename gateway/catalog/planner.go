package catalog

// The planner's row estimate of a held statement, for the approver (issue 15, Slack "expected rows").

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Planner asks PostgreSQL's planner how many rows a statement touches, without running it. Safe for
// concurrent use.
type Planner struct {
	pool *pgxpool.Pool
	cfg  Config
}

// Planner returns the planner of database, sharing the column catalog's pool (nil when no pool can be
// configured).
func (s *Set) Planner(database string) *Planner {
	c := s.For(database)
	if c == nil {
		return nil
	}
	return &Planner{pool: c.pool, cfg: c.cfg}
}

// ErrUserCode is returned by EstimateRows when planning could run user code: a relation of the statement
// (or a partition or child of it) is not a plain table, has row-level security, has a column of a type
// outside pg_catalog (a domain's CHECK or a composite's fields run when a literal is coerced to it), or has
// an index, default, constraint, policy, rule, statistics object or partition key that calls a function
// outside pg_catalog. The planner folds immutable functions with constant arguments in those expressions
// while it plans (eval_const_expressions), so EXPLAIN alone would run them.
var ErrUserCode = errors.New("catalog: planning the statement could run user code")

// userCodeSQL: does any relation of $1 (regclass names, resolved with the session role's search_path), or
// any descendant of one, run code outside pg_catalog while being planned? NULL names (unknown relation)
// count as yes.
const userCodeSQL = `WITH RECURSIVE named AS (SELECT to_regclass(n) AS oid FROM unnest($1::text[]) n),
	rels(oid) AS (SELECT oid FROM named WHERE oid IS NOT NULL
		UNION SELECT i.inhrelid FROM pg_inherits i JOIN rels r ON i.inhparent = r.oid)
SELECT EXISTS (SELECT 1 FROM named WHERE oid IS NULL)
	OR EXISTS (SELECT 1 FROM pg_class c WHERE c.oid IN (SELECT oid FROM rels) AND (c.relkind NOT IN ('r', 'p', 'm') OR c.relrowsecurity))
	OR EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		WHERE a.attrelid IN (SELECT oid FROM rels) AND a.attnum > 0 AND NOT a.attisdropped AND t.typnamespace <> 'pg_catalog'::regnamespace)
	OR EXISTS (SELECT 1 FROM pg_depend d JOIN pg_proc p ON d.refclassid = 'pg_proc'::regclass AND d.refobjid = p.oid
		WHERE p.pronamespace <> 'pg_catalog'::regnamespace AND (
			(d.classid = 'pg_class'::regclass AND (d.objid IN (SELECT oid FROM rels)
				OR d.objid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM rels))))
			OR (d.classid = 'pg_constraint'::regclass AND d.objid IN (SELECT oid FROM pg_constraint WHERE conrelid IN (SELECT oid FROM rels)))
			OR (d.classid = 'pg_attrdef'::regclass AND d.objid IN (SELECT oid FROM pg_attrdef WHERE adrelid IN (SELECT oid FROM rels)))
			OR (d.classid = 'pg_policy'::regclass AND d.objid IN (SELECT oid FROM pg_policy WHERE polrelid IN (SELECT oid FROM rels)))
			OR (d.classid = 'pg_rewrite'::regclass AND d.objid IN (SELECT oid FROM pg_rewrite WHERE ev_class IN (SELECT oid FROM rels)))
			OR (d.classid = 'pg_statistic_ext'::regclass AND d.objid IN (SELECT oid FROM pg_statistic_ext WHERE stxrelid IN (SELECT oid FROM rels)))))`

// EstimateRows plans sql as role (the session's JIT role, so privileges and "$user" in search_path are the
// session's) and returns the planner's estimate of the rows it returns, or for UPDATE/DELETE the rows it
// changes (the estimate of the plan under the ModifyTable node). tables are the statement's relations as
// the classifier wrote them; the caller has already established that the statement calls no function or
// operator outside pg_catalog. Everything runs in one READ ONLY transaction that is rolled back, with a
// statement timeout: EXPLAIN without ANALYZE executes nothing, and the read-only transaction refuses any
// write a plan-time function could still attempt.
func (p *Planner) EstimateRows(ctx context.Context, role string, tables []string, sql string) (int64, error) {
	if p == nil || p.pool == nil {
		return 0, errors.New("catalog: no connection to plan with")
	}
	timeout := p.cfg.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tx, err := p.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // nothing of it is kept
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", timeout.Milliseconds())); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
		return 0, fmt.Errorf("catalog: plan as role %s: %w", role, err)
	}
	var user bool
	if err := tx.QueryRow(ctx, userCodeSQL, tables).Scan(&user); err != nil {
		return 0, fmt.Errorf("catalog: check the relations %v for user code: %w", tables, err)
	}
	if user {
		return 0, ErrUserCode
	}
	var plan []byte
	// Simple protocol, no parameters: the statement exactly as the client sent it, after EXPLAIN.
	if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+sql, pgx.QueryExecModeSimpleProtocol).Scan(&plan); err != nil {
		return 0, fmt.Errorf("catalog: EXPLAIN: %w", err)
	}
	return planRows(plan)
}

// planRows reads the row estimate from EXPLAIN (FORMAT JSON) output: the top plan node's "Plan Rows", or
// for a ModifyTable node (UPDATE, DELETE; 0 rows without RETURNING) its input's.
func planRows(b []byte) (int64, error) {
	type node struct {
		Type  string  `json:"Node Type"`
		Rows  float64 `json:"Plan Rows"`
		Plans []node  `json:"Plans"`
	}
	var out []struct {
		Plan node `json:"Plan"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out) != 1 {
		return 0, fmt.Errorf("catalog: EXPLAIN output is not one JSON plan: %v", err)
	}
	n := out[0].Plan
	if n.Type == "ModifyTable" && len(n.Plans) > 0 {
		n = n.Plans[0]
	}
	return int64(n.Rows + 0.5), nil
}
