package indexer_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// TestStatementOutcomes: query.completed events go through Kafka and the real indexer into completions,
// and the view statement_outcomes gives each statement recorded ahead the outcome PostgreSQL answered,
// at query time: an intent indexed before its completion shows forwarded, then the completion's outcome,
// rows, masked counts and sample once it arrives; a replayed completion counts once; a completion attaches
// only to its own session's statement (another session has the same seq); a session of the older contract
// (no completions) stays readable with outcome forwarded; reads keep their own outcome.
func TestStatementOutcomes(t *testing.T) {
	t.Parallel()
	en := newEnvNamed(t, stack.UniqueName(t, "h7_outcome"), "h7_outcome")
	at := time.Now().UTC().Add(-time.Hour)
	chain := func() *schemas.Chain {
		c := schemas.NewChain(schemas.NewID(), src)
		c.Now = func() time.Time { at = at.Add(time.Millisecond); return at }
		return c
	}
	next := func(c *schemas.Chain, typ string, d any) schemas.Event {
		t.Helper()
		e, err := c.Next(typ, d)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	started := schemas.SessionStarted{Identity: schemas.Identity{Issuer: "https://issuer.test", Subject: "repo:acme/export"},
		Client: schemas.Client{Addr: "10.0.0.1:5000"}, Target: "payments", Database: "payments", RequestedRole: "app", Role: "jit_x",
		Granted: []string{"app"}, MaskShape: "first6last4"}
	export := schemas.Statement{SQL: "COPY (SELECT id, pan FROM cards) TO STDOUT", Fingerprint: "fpx", Kind: "copy",
		Tables: []string{"cards"}, Columns: []string{"cards.id", "cards.pan"}, Cardholder: true, RiskTags: []string{"copy_out"},
		Protocol: "simple", Index: 1}
	read := schemas.Statement{SQL: "SELECT pan FROM cards WHERE id = $1", Fingerprint: "fpr", Kind: "read", Tables: []string{"cards"},
		Cardholder: true, Params: []string{"7"}, Protocol: "extended", Index: 0}

	// Session A: a read (one event with its outcome), then an export recorded ahead.
	a := chain()
	aStart := next(a, schemas.TypeSessionStarted, started)
	aRead := next(a, schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: read, Role: "jit_x", Outcome: "ok", CommandTag: "SELECT 1",
		Rows: 1, MaskShape: "first6last4", Masked: []schemas.ColumnCount{{Column: "pan", Count: 1}}})
	aIntent := next(a, schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: export, Role: "jit_x", Outcome: "forwarded", MaskShape: "first6last4"})
	aDone := next(a, schemas.TypeQueryCompleted, schemas.QueryCompleted{Intent: aIntent.Seq, Index: 1, Kind: "copy", Outcome: "ok",
		CommandTag: "COPY 3", Rows: 3, DurationUS: 1200, MaskShape: "first6last4", Masked: []schemas.ColumnCount{{Column: "pan", Count: 2}},
		Sample: &schemas.Sample{Columns: []string{"id", "pan"}, Rows: [][]string{{"1", "411111******1111"}}}})
	// Session B: the same statement at the same seq, which failed.
	b := chain()
	bEvents := []schemas.Event{next(b, schemas.TypeSessionStarted, started),
		next(b, schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: read, Role: "jit_x", Outcome: "ok", Rows: 0, MaskShape: "first6last4"})}
	bIntent := next(b, schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: export, Role: "jit_x", Outcome: "forwarded", MaskShape: "first6last4"})
	bEvents = append(bEvents, bIntent, next(b, schemas.TypeQueryCompleted, schemas.QueryCompleted{Intent: bIntent.Seq, Index: 1, Kind: "copy",
		Outcome: "error", SQLState: "42501", Error: "permission denied for table cards", MaskShape: "first6last4"}))
	if aIntent.Seq != bIntent.Seq {
		t.Fatalf("test setup: intents at seq %d and %d, want the same seq in both sessions", aIntent.Seq, bIntent.Seq)
	}
	// Session C: written by a gateway of the older contract (no query.completed).
	c := chain()
	cEvents := []schemas.Event{next(c, schemas.TypeSessionStarted, started),
		next(c, schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: export, Role: "jit_x", Outcome: "forwarded", MaskShape: "first6last4"})}

	outcome := func(session string, seq uint64) map[string]string {
		t.Helper()
		rs := en.query(t, "SELECT outcome, intent_outcome, sqlstate, error, command_tag, row_count, masked_columns, masked_counts, masked_total, "+
			"sample, completion_event_id, event_id FROM statement_outcomes WHERE session = '"+session+"' AND seq = "+strconv.FormatUint(seq, 10))
		want(t, rs, 1)
		return rs[0]
	}

	// The intent alone: forwarded.
	en.produce(schemas.TopicAudit, aStart, aRead, aIntent)
	p := en.start()
	en.waitCount(30*time.Second, 3, "SELECT count() FROM events FINAL")
	eq(t, outcome(a.Session(), aIntent.Seq), "outcome", "forwarded", "intent_outcome", "forwarded", "row_count", "0", "completion_event_id", "")

	// Its completion, twice (at-least-once delivery), and the other sessions.
	en.produce(schemas.TopicAudit, aDone, aDone)
	en.produce(schemas.TopicAudit, bEvents...)
	en.produce(schemas.TopicAudit, cEvents...)
	en.waitCount(30*time.Second, uint64(4+len(bEvents)+len(cEvents)), "SELECT count() FROM events FINAL")
	p.stop(t)

	got := outcome(a.Session(), aIntent.Seq)
	eq(t, got, "outcome", "ok", "intent_outcome", "forwarded", "command_tag", "COPY 3", "row_count", "3", "masked_columns", "[pan]",
		"masked_counts", "[2]", "masked_total", "2", "completion_event_id", aDone.ID, "event_id", aIntent.ID)
	if got["sample"] != `{"columns":["id","pan"],"rows":[["1","411111******1111"]]}` {
		t.Errorf("sample %q", got["sample"])
	}
	eq(t, outcome(b.Session(), bIntent.Seq), "outcome", "error", "sqlstate", "42501", "error", "permission denied for table cards",
		"row_count", "0", "completion_event_id", bEvents[3].ID)
	eq(t, outcome(c.Session(), cEvents[1].Seq), "outcome", "forwarded", "completion_event_id", "")
	eq(t, outcome(a.Session(), aRead.Seq), "outcome", "ok", "intent_outcome", "ok", "row_count", "1", "masked_total", "1")

	// One row per statement: completions are not statements.
	if n := en.count("SELECT count() FROM statement_outcomes"); n != 5 {
		t.Errorf("statement_outcomes has %d rows, want 5 (two statements in A and in B, one in C)", n)
	}
	if n := en.count("SELECT count() FROM completions FINAL"); n != 2 {
		t.Errorf("completions FINAL has %d rows, want 2 (the replay collapses)", n)
	}
	// The auditors' export question sees the outcome.
	rs := en.query(t, "SELECT session, outcome, row_count, masked_total FROM statement_outcomes WHERE has(risk_tags, 'copy_out') ORDER BY time_us")
	want(t, rs, 3)
	eq(t, rs[0], "session", a.Session(), "outcome", "ok", "row_count", "3", "masked_total", "2")
}
