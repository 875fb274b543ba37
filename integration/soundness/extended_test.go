package soundness_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestExtendedProtocolModel (issue 11, root cause 1): prepared statements and portals must be modelled as
// PostgreSQL does. A failed Parse leaves the previous statement of that name in place; a portal runs what
// it was bound to, whatever happens to its statement afterwards; unnamed statements and portals are
// replaced; after an error PostgreSQL skips everything until Sync. Each variant is judged by the marker
// table and by PostgreSQL's log against the audit trail.
func TestExtendedProtocolModel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := startGateway(t, f, gwOpts{})
	x := attackTexts(f)
	typeErr := fmt.Sprintf("UPDATE %s SET v = 'not a number'", f.Marker)
	runVariants(t, g, f, []variant{
		{name: "ParseRejectedDuplicateName", mayWrite: true, run: func(t *testing.T, w *wire, p *probe) {
			// The attack: s is an UPDATE; a second Parse "s" (a read) is refused by PostgreSQL
			// (42P05), so Execute s runs the UPDATE. The audit must say UPDATE (kind write), not the read.
			w.Batch(parse("s", x.allowed))
			if e := errorOf(w.Batch(parse("s", "SELECT 1"))); e == nil {
				t.Logf("second Parse of s accepted: the first was refused")
			}
			notRunIfRefused(p, w.Batch(bind("", "s"), execute("")), x.allowed)
		}},
		{name: "ParseRejectedDuplicateNameHeld", run: func(t *testing.T, w *wire, p *probe) {
			// Same with the held UPDATE: it must never run, whatever the gateway thinks s is.
			w.Batch(parse("s", x.held))
			w.Batch(parse("s", x.harmless))
			notRunIfRefused(p, w.Batch(bind("", "s"), execute("")), x.held)
		}},
		{name: "ParseSyntaxErrorKeepsOld", run: func(t *testing.T, w *wire, p *probe) {
			w.Batch(parse("s", x.harmless))
			if e := errorOf(w.Batch(parse("s", x.held+" WHERE"))); e == nil {
				t.Fatal("a Parse with a syntax error succeeded")
			}
			ms := w.Batch(bind("", "s"), execute(""))
			ranOrRefused(t, ms, x.harmless)
			notRunIfRefused(p, ms, x.harmless)
		}},
		{name: "ParseTypeErrorKeepsOld", run: func(t *testing.T, w *wire, p *probe) {
			w.Batch(parse("s", x.harmless))
			if e := errorOf(w.Batch(parse("s", typeErr))); e == nil {
				t.Fatal("a Parse with a type error succeeded")
			}
			ms := w.Batch(bind("", "s"), execute(""))
			ranOrRefused(t, ms, x.harmless)
			notRunIfRefused(p, ms, x.harmless)
		}},
		{name: "UnnamedParseFailsInBatch", run: func(t *testing.T, w *wire, p *probe) {
			// A failed Parse of the unnamed statement drops the previous one (PostgreSQL drops it before
			// parsing) and the rest of the batch is skipped; the next batch has no unnamed statement.
			w.Batch(parse("", x.harmless), bind("", ""), parse("", typeErr), execute(""))
			w.Batch(bind("", ""), execute(""))
		}},
		{name: "PortalFixedAtBindRunsOldWrite", mayWrite: true, run: func(t *testing.T, w *wire, p *probe) {
			// p is bound to an allowed UPDATE; s is closed and re-parsed as a read; Execute p runs the
			// UPDATE, and the audit must say UPDATE (kind write), not the read now named s.
			ms := w.Batch(parse("s", x.allowed), bind("p", "s"), closeStmt("s"), parse("s", x.harmless), execute("p"))
			notRunIfRefused(p, ms, x.allowed)
		}},
		{name: "PortalFixedAtBindRunsOldRead", run: func(t *testing.T, w *wire, p *probe) {
			// Reverse: p is bound to the read; s is re-parsed as the held UPDATE; Execute p runs the read.
			ms := w.Batch(parse("s", x.harmless), bind("p", "s"), closeStmt("s"), parse("s", x.held), execute("p"))
			ranOrRefused(t, ms, x.harmless)
			// s now names the UPDATE: executing it must be refused.
			notRunIfRefused(p, w.Batch(bind("q", "s"), execute("q")), x.held)
		}},
		{name: "UnnamedStatementReplacedRunsWrite", mayWrite: true, run: func(t *testing.T, w *wire, p *probe) {
			ms := w.Batch(parse("", x.harmless), bind("", ""), parse("", x.allowed), bind("", ""), execute(""))
			notRunIfRefused(p, ms, x.allowed)
		}},
		{name: "UnnamedStatementReplacedHeld", run: func(t *testing.T, w *wire, p *probe) {
			notRunIfRefused(p, w.Batch(parse("", x.harmless), parse("", x.held), bind("", ""), execute("")), x.held)
		}},
		{name: "UnnamedPortalReplaced", run: func(t *testing.T, w *wire, p *probe) {
			// The unnamed portal bound to the allowed UPDATE is replaced before it runs: only the read runs.
			ms := w.Batch(parse("a", x.allowed), parse("b", x.harmless), bind("", "a"), bind("", "b"), execute(""))
			ranOrRefused(t, ms, x.harmless)
		}},
		{name: "UnnamedPortalReplacedHeld", run: func(t *testing.T, w *wire, p *probe) {
			ms := w.Batch(parse("a", x.held), parse("b", x.harmless), bind("", "b"), bind("", "a"), execute(""))
			notRunIfRefused(p, ms, x.held)
		}},
		{name: "ErrorMidBatchSkipsRest", run: func(t *testing.T, w *wire, p *probe) {
			// PostgreSQL skips everything after an error until Sync: the UPDATE never runs, and the audit must
			// not say it completed.
			w.Batch(parse("", "SELECT 1/0"), bind("", ""), execute(""), parse("u", x.allowed), bind("", "u"), execute(""))
			if rs := w.Query(x.harmless); errorOf(rs) != nil {
				t.Errorf("the session does not work after an error and Sync: %v", rs)
			}
			p.NotRun = append(p.NotRun, x.allowed)
		}, after: func(t *testing.T, evs []stmtEvent) {
			for _, e := range eventsFor(evs, x.allowed) {
				if e.Type != "query.blocked" && (e.Data.Outcome == "ok" || e.Data.CommandTag != "") {
					t.Errorf("the audit says the UPDATE PostgreSQL skipped (after an earlier error in its batch) completed: %s outcome=%s tag=%q", e.Type, e.Data.Outcome, e.Data.CommandTag)
				}
			}
		}},
		{name: "NonexistentPortal", run: func(t *testing.T, w *wire, p *probe) {
			if e := errorOf(w.Batch(describePortal("nope"), execute("nope"))); e == nil {
				t.Error("Describe/Execute of a portal that does not exist succeeded")
			}
			// The unnamed portal dies with the implicit transaction at Sync; executing it later runs nothing.
			w.Batch(parse("u", x.allowed), bind("", "u"))
			if e := errorOf(w.Batch(execute(""))); e == nil {
				t.Error("Execute of a portal destroyed at Sync succeeded")
			}
			p.NotRun = append(p.NotRun, x.allowed)
		}},
		{name: "ParseMultiStatement", run: func(t *testing.T, w *wire, p *probe) {
			if e := errorOf(w.Batch(parse("", x.harmless+"; "+x.allowed), bind("", ""), execute(""))); e == nil {
				t.Error("Parse of two statements succeeded (PostgreSQL refuses it with 42601)")
			}
			w.Batch(bind("", ""), execute(""))
			p.NotRun = append(p.NotRun, x.allowed)
		}},
	})
}

// ranOrRefused checks that an Execute answered either with the harmless read's result (a DataRow and
// "SELECT 1") or with pangate's refusal: anything else means another statement ran.
func ranOrRefused(t *testing.T, ms []msg, harmless string) {
	t.Helper()
	if refusedByGateway(errorOf(ms)) {
		return
	}
	if !slices.Contains(tags(ms), "SELECT 1") {
		t.Errorf("executing the statement that holds %q answered %v; want its result or pangate's refusal", harmless, ms)
	}
	for _, tag := range tags(ms) {
		if strings.HasPrefix(tag, "UPDATE") {
			t.Errorf("an UPDATE ran (%s) where %q was bound", tag, harmless)
		}
	}
}
