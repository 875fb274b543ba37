// Package classify_test checks gateway/classify against a real PostgreSQL 15 server: a statement the
// classifier calls read (or plain utility) must run inside a READ ONLY transaction, and one it calls
// write, ddl or role must be refused there with SQLSTATE 25006. PostgreSQL's own read-only check is the
// referee for "does this statement change anything", including the cases that look like reads
// (data-modifying CTEs, EXPLAIN ANALYZE of a write, DO, CALL) and those that look like writes but are
// not (EXPLAIN without ANALYZE, EXPLAIN (ANALYZE 0)).
//
// Each test works in its own schema, so packages can run concurrently.
package classify_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/integration/stack"
)

const readOnlyViolation = "25006"

func setup(t *testing.T) (*pgx.Conn, context.Context) {
	t.Helper()
	conn := stack.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	schema := stack.UniqueName(t, "classify")
	ddl := fmt.Sprintf(`
CREATE SCHEMA %[1]s;
SET search_path = %[1]s;
CREATE TABLE cards (id int PRIMARY KEY, pan text, name text);
CREATE TABLE orders (id int PRIMARY KEY, card_id int, total numeric);
INSERT INTO cards VALUES (1, '4111111111111111', 'a'), (2, '5500000000000004', 'b');
INSERT INTO orders VALUES (1, 1, 10), (2, 2, 20);
CREATE SEQUENCE s;
CREATE MATERIALIZED VIEW mv AS SELECT id FROM cards;
CREATE PROCEDURE purge() LANGUAGE sql AS $$ DELETE FROM orders $$;
`, schema)
	if _, err := conn.PgConn().Exec(ctx, ddl).ReadAll(); err != nil {
		t.Fatalf("setup: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.PgConn().Exec(ctx, "DROP SCHEMA "+schema+" CASCADE").ReadAll()
	})
	return conn, ctx
}

// runReadOnly runs sql with the simple protocol inside BEGIN READ ONLY … ROLLBACK and returns the
// statement's error, if any.
func runReadOnly(ctx context.Context, conn *pgx.Conn, sql string) error {
	if _, err := conn.PgConn().Exec(ctx, "BEGIN READ ONLY").ReadAll(); err != nil {
		return fmt.Errorf("BEGIN: %w", err)
	}
	_, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	if _, rerr := conn.PgConn().Exec(ctx, "ROLLBACK").ReadAll(); rerr != nil && err == nil {
		return fmt.Errorf("ROLLBACK: %w", rerr)
	}
	return err
}

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestReadOnlyAgreesWithKind(t *testing.T) {
	conn, ctx := setup(t)
	corpus := []string{
		// reads and plain utility: must run read-only
		"SELECT pan, c.name FROM cards c WHERE id = 1",
		"SELECT * FROM cards, orders",
		"WITH c AS (SELECT pan FROM cards) SELECT pan FROM c",
		"SELECT a.id FROM cards a WHERE EXISTS (SELECT 1 FROM orders o WHERE o.card_id = a.id)",
		"SELECT row_to_json(c) FROM cards c",
		"TABLE cards",
		"VALUES (1), (2)",
		"SELECT count(*) FROM cards UNION SELECT count(*) FROM orders",
		"EXPLAIN DELETE FROM cards",
		"EXPLAIN (ANALYZE 0) DELETE FROM cards",
		"EXPLAIN (ANALYZE off, COSTS off) UPDATE cards SET name = 'x'",
		"EXPLAIN ANALYZE SELECT * FROM cards",
		"SET statement_timeout = '5s'",
		"SHOW search_path",
		"SELECT 1; SELECT 2",
		// writes, ddl, role: must be refused read-only
		"DELETE FROM cards",
		"UPDATE cards SET name = 'x' WHERE id = 1",
		"INSERT INTO orders (id, card_id) VALUES (9, 1)",
		"INSERT INTO orders VALUES (9, 1, 1) ON CONFLICT (id) DO UPDATE SET total = excluded.total",
		"WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING *) SELECT * FROM d",
		"WITH u AS (UPDATE cards SET name = 'y' RETURNING id) SELECT count(*) FROM u",
		"EXPLAIN ANALYZE DELETE FROM cards",
		"EXPLAIN (ANALYZE on) UPDATE cards SET name = 'y' WHERE id = 1",
		"EXPLAIN (ANALYZE 1, BUFFERS) INSERT INTO orders VALUES (7, 1, 1)",
		"TRUNCATE orders",
		"MERGE INTO cards c USING orders o ON c.id = o.card_id WHEN MATCHED THEN UPDATE SET name = 'm'",
		"DO $$ BEGIN DELETE FROM orders; END $$",
		"CALL purge()",
		"REFRESH MATERIALIZED VIEW mv",
		"SELECT * INTO newt FROM cards",
		"CREATE TABLE t2 AS SELECT * FROM cards",
		"CREATE TABLE t3 (id int)",
		"CREATE INDEX ON cards (name)",
		"ALTER TABLE cards ADD COLUMN z int",
		"DROP TABLE orders",
		"CREATE VIEW v AS SELECT 1",
		"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$",
		"GRANT SELECT ON cards TO PUBLIC",
		"REVOKE ALL ON cards FROM PUBLIC",
		"SELECT 1; DELETE FROM cards WHERE id = 2",
	}
	for _, sql := range corpus {
		stmts := classify.Classify(sql)
		if len(stmts) == 0 {
			t.Fatalf("%q: no statements", sql)
		}
		changes := false
		for _, s := range stmts {
			switch s.Kind {
			case classify.KindWrite, classify.KindDDL, classify.KindRole:
				changes = true
			case classify.KindRead, classify.KindUtility:
			default:
				t.Fatalf("%q: kind %s is not covered by this test", sql, s.Kind)
			}
		}
		err := runReadOnly(ctx, conn, sql)
		switch {
		case changes && sqlState(err) != readOnlyViolation:
			t.Errorf("%q: classified %s, but PostgreSQL ran it read-only (err %v)", sql, kinds(stmts), err)
		case !changes && err != nil:
			t.Errorf("%q: classified %s, but PostgreSQL refused it read-only: %v", sql, kinds(stmts), err)
		}
	}
}

// Approximations the classifier makes on purpose (documented in docs/policy.md): these are reads to the
// policy although PostgreSQL will not run them read-only. The test pins both halves, so a change in
// either is noticed.
func TestDocumentedApproximations(t *testing.T) {
	conn, ctx := setup(t)
	for _, sql := range []string{
		"SELECT id FROM cards FOR UPDATE", // row locks: still a read (no data changes)
		"SELECT nextval('s')",             // a volatile function: we cannot know what functions do
		"PREPARE p AS DELETE FROM cards",  // judged as what it prepares (write), though PREPARE runs nothing
	} {
		st := classify.Classify(sql)[0]
		err := runReadOnly(ctx, conn, sql)
		switch sql {
		case "PREPARE p AS DELETE FROM cards":
			if st.Kind != classify.KindWrite || err != nil {
				t.Errorf("%q: kind %s, read-only err %v", sql, st.Kind, err)
			}
		default:
			if st.Kind != classify.KindRead || sqlState(err) != readOnlyViolation {
				t.Errorf("%q: kind %s, read-only err %v", sql, st.Kind, err)
			}
		}
	}
}

// The tables the classifier reports exist (as written, resolved through the search path) — a typo-level
// check that the names we audit are the names PostgreSQL uses.
func TestTablesResolve(t *testing.T) {
	conn, ctx := setup(t)
	for _, sql := range []string{
		"SELECT c.pan, o.total FROM cards c JOIN orders o ON o.card_id = c.id",
		"WITH x AS (SELECT * FROM orders) SELECT * FROM x, cards",
		`SELECT "pan" FROM "cards"`,
	} {
		for _, table := range classify.Classify(sql)[0].Tables {
			var oid uint32
			if err := conn.QueryRow(ctx, "SELECT to_regclass($1)::oid", table).Scan(&oid); err != nil || oid == 0 {
				t.Errorf("%q: table %q does not resolve (%v)", sql, table, err)
			}
		}
	}
}

func kinds(stmts []classify.Statement) []classify.Kind {
	out := make([]classify.Kind, len(stmts))
	for i, s := range stmts {
		out[i] = s.Kind
	}
	return out
}
