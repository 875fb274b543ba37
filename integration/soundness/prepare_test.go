package soundness_test

import (
	"fmt"
	"testing"
)

// TestPreparedNamespace (issue 11, root cause 1): protocol-level and SQL-level prepared statements share
// one namespace in PostgreSQL. A statement prepared one way and run the other (EXECUTE, EXPLAIN ANALYZE
// EXECUTE, CREATE TABLE AS EXECUTE, protocol Bind of a SQL PREPARE) must be judged and recorded as what it
// runs; an EXECUTE of a name the gateway cannot resolve (prepared inside a function) must be refused.
func TestPreparedNamespace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := startGateway(t, f, gwOpts{})
	x := attackTexts(f)
	ctas := f.name("ctas")
	hidden := f.name("prep")
	del := fmt.Sprintf("DELETE FROM %s", f.Marker)
	delOne := fmt.Sprintf("DELETE FROM %s WHERE id = 3", f.Marker)
	f.exec(t, fmt.Sprintf(`CREATE FUNCTION %s() RETURNS int LANGUAGE plpgsql AS $f$ BEGIN EXECUTE 'PREPARE hidden AS %s'; RETURN 1; END $f$`, hidden, x.held),
		fmt.Sprintf("GRANT EXECUTE ON FUNCTION %s() TO %s", hidden, f.Role))
	// swap replaces a prepared statement the gateway saw with one it did not (PL/pgSQL's EXECUTE can
	// DEALLOCATE and PREPARE): demonstrated on PostgreSQL 15 while reviewing this suite.
	swap := f.name("swap")
	f.exec(t, fmt.Sprintf(`CREATE FUNCTION %s() RETURNS int LANGUAGE plpgsql AS $f$ BEGIN EXECUTE 'DEALLOCATE s'; EXECUTE 'PREPARE s AS %s'; RETURN 1; END $f$`, swap, x.held),
		fmt.Sprintf("GRANT EXECUTE ON FUNCTION %s() TO %s", swap, f.Role))
	// kindOf checks that every event of stmt (SQL EXECUTE s) records the kind of what s runs.
	kindOf := func(stmt, want string) func(t *testing.T, evs []stmtEvent) {
		return func(t *testing.T, evs []stmtEvent) {
			for _, e := range eventsFor(evs, stmt) {
				if e.Type != "query.blocked" && e.Data.Statement.Kind != want {
					t.Errorf("%q ran %s but the audit records kind %s (%s)", stmt, want, e.Data.Statement.Kind, e.Type)
				}
			}
		}
	}
	runVariants(t, g, f, []variant{
		{name: "ProtocolParseSQLExecuteHeld", run: func(t *testing.T, w *wire, p *probe) {
			w.Batch(parse("s", x.held))
			notRunIfRefused(p, w.Query("EXECUTE s"), "EXECUTE s")
		}},
		{name: "ProtocolParseSQLExecuteWrite", mayWrite: true, run: func(t *testing.T, w *wire, p *probe) {
			w.Batch(parse("s", x.allowed))
			notRunIfRefused(p, w.Query("EXECUTE s"), "EXECUTE s")
		}, after: kindOf("EXECUTE s", "write")},
		{name: "ProtocolParseExplainAnalyzeExecute", run: func(t *testing.T, w *wire, p *probe) {
			w.Batch(parse("s", x.held))
			notRunIfRefused(p, w.Query("EXPLAIN ANALYZE EXECUTE s"), "EXPLAIN ANALYZE EXECUTE s")
		}},
		{name: "ProtocolParseExplainAnalyzeExecuteWrite", mayWrite: true, run: func(t *testing.T, w *wire, p *probe) {
			w.Batch(parse("s", x.allowed))
			notRunIfRefused(p, w.Query("EXPLAIN ANALYZE EXECUTE s"), "EXPLAIN ANALYZE EXECUTE s")
		}, after: kindOf("EXPLAIN ANALYZE EXECUTE s", "write")},
		{name: "ProtocolParseCreateTableAsExecute", run: func(t *testing.T, w *wire, p *probe) {
			w.Batch(parse("s", x.allowed+" RETURNING v"))
			q := fmt.Sprintf("CREATE TABLE %s AS EXECUTE s", ctas)
			notRunIfRefused(p, w.Query(q), q)
			if n := f.int(t, "SELECT count(*) FROM pg_class WHERE relname = $1", ctas); n != 0 {
				t.Errorf("CREATE TABLE AS EXECUTE created %s: DDL is held by the policy", ctas)
			}
		}},
		{name: "SQLPrepareProtocolExecuteHeld", run: func(t *testing.T, w *wire, p *probe) {
			notRunIfRefused(p, w.Query("PREPARE s AS "+del), del)
			notRunIfRefused(p, w.Batch(bind("", "s"), execute("")), del)
		}},
		{name: "SQLPrepareProtocolExecuteWrite", mayWrite: true, run: func(t *testing.T, w *wire, p *probe) {
			w.Query("PREPARE s AS " + delOne)
			notRunIfRefused(p, w.Batch(bind("", "s"), execute("")), delOne)
		}},
		{name: "DeallocateRePrepareHeld", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("PREPARE s AS " + x.harmless)
			w.Query("DEALLOCATE s")
			notRunIfRefused(p, w.Query("PREPARE s AS "+x.held), x.held)
			notRunIfRefused(p, w.Query("EXECUTE s"), "EXECUTE s")
			notRunIfRefused(p, w.Batch(bind("", "s"), execute("")), x.held)
		}},
		{name: "DeallocateRePrepareRead", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("PREPARE s AS " + x.allowed)
			w.Query("DEALLOCATE s")
			w.Query("PREPARE s AS " + x.harmless)
			ranOrRefused(t, w.Query("EXECUTE s"), x.harmless)
			w.Query("DEALLOCATE ALL")
			if e := errorOf(w.Query("EXECUTE s")); e == nil {
				t.Error("EXECUTE s after DEALLOCATE ALL succeeded")
			}
		}, after: kindOf("EXECUTE s", "read")},
		{name: "DeallocateInBatchThenProtocolParse", mayWrite: true, run: func(t *testing.T, w *wire, p *probe) {
			// The name is freed by a DEALLOCATE inside a multi-statement string, then reused by a protocol Parse.
			w.Query("PREPARE s AS " + x.harmless)
			w.Query("SELECT 1; DEALLOCATE s")
			w.Batch(parse("s", x.allowed))
			notRunIfRefused(p, w.Query("EXECUTE s"), "EXECUTE s")
		}, after: kindOf("EXECUTE s", "write")},
		{name: "FunctionReplacesPreparedStatement", run: func(t *testing.T, w *wire, p *probe) {
			// s is a harmless read the gateway judged; a user function then swaps it for the held
			// statement. The gateway must not judge EXECUTE s by what s used to be.
			w.Query("PREPARE s AS " + x.harmless)
			w.Query(fmt.Sprintf("SELECT %s()", swap))
			ms := w.Query("EXECUTE s")
			if !refusedByGateway(errorOf(ms)) {
				t.Errorf("EXECUTE s after a function replaced s answered %v; want pangate's refusal", ms)
			}
			notRunIfRefused(p, ms, "EXECUTE s")
		}},
		{name: "UnresolvableExecuteRefused", run: func(t *testing.T, w *wire, p *probe) {
			// hidden is prepared inside a function: the gateway never saw its text, so EXECUTE must be refused.
			w.Query(fmt.Sprintf("SELECT %s()", hidden))
			ms := w.Query("EXECUTE hidden")
			if !refusedByGateway(errorOf(ms)) {
				t.Errorf("EXECUTE of a statement prepared where the gateway cannot see it answered %v; want pangate's refusal", ms)
			}
			notRunIfRefused(p, ms, "EXECUTE hidden")
		}},
	})
}
