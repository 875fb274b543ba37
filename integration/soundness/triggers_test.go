package soundness_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
)

// swapBody is the PL/pgSQL body of a trigger function that replaces prepared statement name with stmt
// (DEALLOCATE, then PREPARE through EXECUTE), if the session holds one of that name; it returns ret.
func swapBody(name, stmt, ret string) string {
	return fmt.Sprintf(`BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_statements WHERE name = '%[1]s') THEN
    EXECUTE 'DEALLOCATE %[1]s';
    EXECUTE 'PREPARE %[1]s AS %[2]s';
  END IF;
  %[3]s
END`, name, stmt, ret)
}

// refusedAfterSwap sends EXECUTE s and requires pangate's refusal: s was a harmless read the gateway
// judged, a trigger has since replaced it with the held UPDATE.
func refusedAfterSwap(t *testing.T, w *wire, p *probe, what string) {
	t.Helper()
	ms := w.Query("EXECUTE s")
	if !refusedByGateway(errorOf(ms)) {
		t.Errorf("EXECUTE s after %s replaced s answered %v; want pangate's refusal (unknown name)", what, ms)
	}
	notRunIfRefused(p, ms, "EXECUTE s")
}

// TestTriggerReplacesPreparedStatement (docs/policy.md, "Names redefined by user code"): a trigger fired
// by a write the role may make — BEFORE or AFTER, row or statement, on a partition, at COMMIT for a
// deferred constraint trigger — can DEALLOCATE and PREPARE a name the gateway knows. After it fired,
// EXECUTE of that name must be refused, and the held UPDATE it now names must not run (the marker table
// and PostgreSQL's statement log are compared with the audit events). Writes to a table without triggers
// keep names working.
func TestTriggerReplacesPreparedStatement(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	x := attackTexts(f)
	swapRow, swapStmt := f.name("tswap_row"), f.name("tswap_stmt")
	before, after, parted, later, plain := f.name("tbefore"), f.name("tafter"), f.name("tparted"), f.name("tlater"), f.name("tplain")
	f.exec(t,
		fmt.Sprintf(`CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $f$%s$f$`, swapRow, swapBody("s", x.held, "RETURN NEW;")),
		fmt.Sprintf(`CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $f$%s$f$`, swapStmt, swapBody("s", x.held, "RETURN NULL;")),
		fmt.Sprintf("GRANT EXECUTE ON FUNCTION %s(), %s() TO %s", swapRow, swapStmt, f.Role),
		fmt.Sprintf("CREATE TABLE %s (id int)", before),
		fmt.Sprintf("CREATE TRIGGER t BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %s()", before, swapRow),
		fmt.Sprintf("CREATE TABLE %s (id int)", after),
		fmt.Sprintf("INSERT INTO %s VALUES (1)", after),
		fmt.Sprintf("CREATE TRIGGER t AFTER UPDATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s()", after, swapStmt),
		// The trigger is on one partition: the statement names only the parent.
		fmt.Sprintf("CREATE TABLE %s (id int) PARTITION BY RANGE (id)", parted),
		fmt.Sprintf("CREATE TABLE %s_a PARTITION OF %s FOR VALUES FROM (0) TO (10)", parted, parted),
		fmt.Sprintf("CREATE TABLE %s_b PARTITION OF %s FOR VALUES FROM (10) TO (20)", parted, parted),
		fmt.Sprintf("CREATE TRIGGER t AFTER INSERT ON %s_b FOR EACH ROW EXECUTE FUNCTION %s()", parted, swapRow),
		fmt.Sprintf("CREATE TABLE %s (id int)", later),
		fmt.Sprintf("CREATE CONSTRAINT TRIGGER t AFTER INSERT ON %s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION %s()", later, swapRow),
		fmt.Sprintf("CREATE TABLE %s (id int)", plain),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE ON %s, %s, %s, %s, %s TO %s", before, after, parted, later, plain, f.Role),
	)
	g := startGateway(t, f, gwOpts{})
	insertLater := fmt.Sprintf("INSERT INTO %s VALUES (1)", later)
	runVariants(t, g, f, []variant{
		{name: "BeforeRowTrigger", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("PREPARE s AS " + x.harmless)
			w.Query(fmt.Sprintf("INSERT INTO %s VALUES (1)", before))
			refusedAfterSwap(t, w, p, "a BEFORE row trigger")
		}},
		{name: "AfterStatementTrigger", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("PREPARE s AS " + x.harmless)
			w.Query(fmt.Sprintf("UPDATE %s SET id = id WHERE id = 1", after))
			refusedAfterSwap(t, w, p, "an AFTER statement trigger")
		}},
		{name: "TriggerOnPartition", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("PREPARE s AS " + x.harmless)
			w.Query(fmt.Sprintf("INSERT INTO %s VALUES (15)", parted))
			refusedAfterSwap(t, w, p, "a trigger on a partition")
		}},
		{name: "ProtocolExecuteOfTriggeringWrite", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("PREPARE s AS " + x.harmless)
			w.Batch(parse("", fmt.Sprintf("INSERT INTO %s VALUES (1)", before)), bind("", ""), execute(""))
			refusedAfterSwap(t, w, p, "a BEFORE row trigger fired by a protocol Execute")
		}},
		{name: "DeferredTriggerAtCommit", run: func(t *testing.T, w *wire, p *probe) {
			// s is prepared after the write, inside the transaction: the trigger replaces it at COMMIT.
			w.Query("BEGIN")
			w.Query(insertLater)
			w.Query("PREPARE s AS " + x.harmless)
			w.Query("COMMIT")
			refusedAfterSwap(t, w, p, "a deferred constraint trigger at COMMIT")
		}},
		{name: "DeferredTriggerCommitInSameString", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("BEGIN")
			w.Query(insertLater)
			w.Query("PREPARE s AS " + x.harmless + "; COMMIT")
			refusedAfterSwap(t, w, p, "a deferred constraint trigger at a COMMIT sent with the PREPARE")
		}},
		{name: "DeferredTriggerImplicitCommitAtSync", run: func(t *testing.T, w *wire, p *probe) {
			// No transaction block: the INSERT's implicit transaction commits at Sync, after the Parse of s.
			w.Batch(parse("", insertLater), bind("", ""), execute(""), parse("s", x.harmless))
			refusedAfterSwap(t, w, p, "a deferred constraint trigger at the implicit commit")
		}},
		{name: "DeferredTriggerSetConstraintsImmediate", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("BEGIN")
			w.Query(insertLater)
			w.Query("PREPARE s AS " + x.harmless)
			w.Query("SET CONSTRAINTS ALL IMMEDIATE")
			refusedAfterSwap(t, w, p, "a deferred constraint trigger at SET CONSTRAINTS … IMMEDIATE")
			w.Query("ROLLBACK")
		}},
		{name: "DeferredTriggerRollbackToSavepoint", run: func(t *testing.T, w *wire, p *probe) {
			// ROLLBACK TO SAVEPOINT keeps the trigger queued before the savepoint.
			w.Query("BEGIN")
			w.Query(insertLater)
			w.Query("SAVEPOINT a")
			w.Query("ROLLBACK TO SAVEPOINT a")
			w.Query("PREPARE s AS " + x.harmless)
			w.Query("COMMIT")
			refusedAfterSwap(t, w, p, "a deferred constraint trigger queued before a savepoint")
		}},
		{name: "WriteWithoutTriggersKeepsNames", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("PREPARE s AS " + x.harmless)
			w.Query(fmt.Sprintf("INSERT INTO %s VALUES (1)", plain))
			w.Query("BEGIN")
			w.Query(fmt.Sprintf("UPDATE %s SET id = 2 WHERE id = 1", plain))
			w.Query("COMMIT")
			if ms := w.Query("EXECUTE s"); errorOf(ms) != nil {
				t.Errorf("EXECUTE s after writes to a table without triggers answered %v; want its result", ms)
			}
		}},
	})

	t.Run("PgxStatementCacheAcrossPlainWrites", func(t *testing.T) {
		// pgx prepares every statement under a cached name; writes to a table without triggers must not
		// make the gateway forget those names (each later use of the cache would be refused).
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cfg, err := pgx.ParseConfig(g.dsn(f.Role))
		if err != nil {
			t.Fatal(err)
		}
		cfg.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement // named, cached statements (pgx's default)
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("pgx through the gateway: %v", err)
		}
		defer c.Close(ctx)
		read := fmt.Sprintf("SELECT v FROM %s WHERE id = $1", f.Marker)
		write := fmt.Sprintf("INSERT INTO %s VALUES ($1)", plain)
		for i := range 3 {
			var v int
			if err := c.QueryRow(ctx, read, 1).Scan(&v); err != nil {
				t.Fatalf("round %d: cached read after plain writes: %v", i, err)
			}
			if _, err := c.Exec(ctx, write, i); err != nil {
				t.Fatalf("round %d: write to a table without triggers: %v", i, err)
			}
		}
	})
}

// eventRules allow DDL for the event trigger test (the default policy holds it; no approver runs here).
var eventRules = []string{`{name: h11-allow-ddl, when: 'kind == "ddl"', action: allow}`}

// TestEventTriggerReplacesPreparedStatement: an event trigger (created by a superuser) runs on the DDL of
// any role and can DEALLOCATE and PREPARE a name the gateway knows; EXECUTE of it must then be refused.
// Not parallel: the event trigger belongs to the whole database while it exists (its function acts only in
// a session holding this test's statement name).
func TestEventTriggerReplacesPreparedStatement(t *testing.T) {
	f := newFixture(t)
	x := attackTexts(f)
	name, fn, evt := f.name("s"), f.name("eswap"), f.name("evt")
	f.exec(t,
		fmt.Sprintf(`CREATE FUNCTION %s() RETURNS event_trigger LANGUAGE plpgsql AS $f$%s$f$`, fn, swapBody(name, x.held, "")),
		fmt.Sprintf("CREATE EVENT TRIGGER %s ON ddl_command_end EXECUTE FUNCTION %s()", evt, fn),
	)
	t.Cleanup(func() {
		_, _ = f.Admin.Exec(context.Background(), "DROP EVENT TRIGGER IF EXISTS "+evt)
	})
	g := startGateway(t, f, gwOpts{rules: eventRules})
	runVariants(t, g, f, []variant{
		{name: "DDLFiresEventTrigger", run: func(t *testing.T, w *wire, p *probe) {
			w.Query(fmt.Sprintf("PREPARE %s AS %s", name, x.harmless))
			if e := errorOf(w.Query(fmt.Sprintf("CREATE TABLE %s (id int)", f.name("evt_t")))); e != nil {
				t.Fatalf("CREATE TABLE through the gateway: %v", e)
			}
			ms := w.Query("EXECUTE " + name)
			if !refusedByGateway(errorOf(ms)) {
				t.Errorf("EXECUTE %s after an event trigger replaced it answered %v; want pangate's refusal", name, ms)
			}
			notRunIfRefused(p, ms, "EXECUTE "+name)
		}},
	})
}

// TestSessionCreatesTriggerThenWrites: where the policy allows DDL, the role may create the trigger itself
// and pipeline the write right behind it: the gateway's facts, loaded before (no trigger), must not be
// used for the write. (Today the gateway answers the recorded-ahead CREATE TRIGGER — and so invalidates
// the facts — before it judges the write; triggersOp also treats facts as missing until this session's
// DDL is answered, which this test does not separate.)
func TestSessionCreatesTriggerThenWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	x := attackTexts(f)
	fn, tbl := f.name("tswap"), f.name("tself")
	f.exec(t,
		fmt.Sprintf(`CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $f$%s$f$`, fn, swapBody("s", x.held, "RETURN NEW;")),
		fmt.Sprintf("GRANT EXECUTE ON FUNCTION %s() TO %s", fn, f.Role),
		fmt.Sprintf("CREATE TABLE %s (id int)", tbl),
		fmt.Sprintf("GRANT SELECT, INSERT, TRIGGER ON %s TO %s", tbl, f.Role),
	)
	g := startGateway(t, f, gwOpts{rules: eventRules})
	runVariants(t, g, f, []variant{
		{name: "PipelinedCreateTriggerAndInsert", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("PREPARE s AS " + x.harmless)
			w.Query(fmt.Sprintf("INSERT INTO %s VALUES (0)", tbl)) // the facts are loaded: no trigger yet
			// The INSERT is a protocol Execute: the gateway resolves it as it arrives.
			w.Send(&pgproto3.Query{String: fmt.Sprintf("CREATE TRIGGER t BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %s()", tbl, fn)},
				parse("", fmt.Sprintf("INSERT INTO %s VALUES (1)", tbl)), bind("", ""), execute(""), &pgproto3.Sync{})
			for i := range 2 {
				if e := errorOf(w.Until()); e != nil {
					t.Fatalf("pipelined statement %d: %v", i, e)
				}
			}
			refusedAfterSwap(t, w, p, "a trigger the session created just before")
		}},
	})
}
