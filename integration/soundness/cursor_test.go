package soundness_test

import (
	"fmt"
	"slices"
	"testing"
)

// TestCursors (issue 11, root cause 4): a cursor's query runs at FETCH/MOVE time, so the FETCH's event
// carries the cursor query's tables, cardholder flag and rows — across COMMIT for WITH HOLD cursors, and
// for cursors declared through the extended protocol. A cursor the gateway never saw declared (opened
// inside a function) has unknown tables: cardholder data is assumed and the default policy refuses it.
func TestCursors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := startGateway(t, f, gwOpts{})
	opener := f.name("open")
	f.exec(t, fmt.Sprintf(`CREATE FUNCTION %s() RETURNS refcursor LANGUAGE plpgsql AS $f$ DECLARE r refcursor := 'hiddencur'; BEGIN OPEN r FOR SELECT pan FROM %s; RETURN r; END $f$`, opener, f.Cards),
		fmt.Sprintf("GRANT EXECUTE ON FUNCTION %s() TO %s", opener, f.Role))
	declare := fmt.Sprintf("DECLARE c CURSOR FOR SELECT pan FROM %s", f.Cards)
	// fetchCarries checks the events of fetch: the cursor's table, cardholder, and rows.
	fetchCarries := func(fetch string, rows int64) func(t *testing.T, evs []stmtEvent) {
		return func(t *testing.T, evs []stmtEvent) {
			es := eventsFor(evs, fetch)
			if len(es) == 0 {
				t.Fatalf("no event records %q:\n%s", fetch, listEvents(evs))
			}
			for _, e := range es {
				st := e.Data.Statement
				if !slices.Contains(st.Tables, f.Cards) || !st.Cardholder {
					t.Errorf("%q: event has tables %v cardholder %v; want the cursor query's table %s and cardholder true", fetch, st.Tables, st.Cardholder, f.Cards)
				}
				if e.Type != "query.blocked" && e.Data.Rows != rows {
					t.Errorf("%q: event has rows %d, want %d", fetch, e.Data.Rows, rows)
				}
			}
		}
	}
	runVariants(t, g, f, []variant{
		{name: "DeclareFetch", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("BEGIN")
			w.Query(declare)
			w.Query("FETCH 2 FROM c")
			w.Query("COMMIT")
		}, after: fetchCarries("FETCH 2 FROM c", 2)},
		{name: "MoveThenFetch", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("BEGIN")
			w.Query(declare)
			w.Query("MOVE 1 IN c")
			w.Query("FETCH NEXT FROM c")
			w.Query("COMMIT")
		}, after: fetchCarries("FETCH NEXT FROM c", 1)},
		{name: "WithHoldAcrossCommit", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("BEGIN")
			w.Query(fmt.Sprintf("DECLARE h CURSOR WITH HOLD FOR SELECT pan FROM %s", f.Cards))
			w.Query("COMMIT")
			w.Query("FETCH 1 FROM h")
			w.Query("CLOSE h")
		}, after: fetchCarries("FETCH 1 FROM h", 1)},
		{name: "DeclaredByExtendedProtocol", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("BEGIN")
			w.Batch(parse("", declare), bind("", ""), execute(""))
			w.Query("FETCH 1 FROM c")
			w.Query("COMMIT")
		}, after: fetchCarries("FETCH 1 FROM c", 1)},
		{name: "CursorOpenedInFunction", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("BEGIN")
			w.Query(fmt.Sprintf("SELECT %s()", opener))
			ms := w.Query("FETCH ALL FROM hiddencur")
			if !refusedByGateway(errorOf(ms)) {
				t.Errorf("FETCH from a cursor the gateway never saw declared answered %v; want pangate's refusal (unknown tables: cardholder assumed)", ms)
			}
			notRunIfRefused(p, ms, "FETCH ALL FROM hiddencur")
			w.Query("ROLLBACK")
		}, after: func(t *testing.T, evs []stmtEvent) {
			for _, e := range eventsFor(evs, "FETCH ALL FROM hiddencur") {
				if !e.Data.Statement.Cardholder {
					t.Errorf("FETCH from an unknown cursor recorded without cardholder (tables %v): unknown tables must count as cardholder data", e.Data.Statement.Tables)
				}
			}
		}},
	})
}
