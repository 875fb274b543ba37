package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/schemas"
)

// TestRefusedStringRecordsEarlierOutcomes: a query string of two writes whose second record Kafka does not
// acknowledge in time is refused whole (58000), nothing reaches the server, and the first statement, whose
// query.executed "forwarded" is in the log, gets a query.completed "skipped" linked to it, so the log never
// shows a statement as forwarded without an outcome.
func TestRefusedStringRecordsEarlierOutcomes(t *testing.T) {
	h := newHarness(t)
	fe, c, _ := h.client(t, "good")
	untilReady(t, fe)
	h.holdIn.Store(2) // the first intent is acknowledged, the second is held past the ack timeout
	_, err := c.Write(queryFrame("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)"))
	must(t, err)
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	types, values := untilReady(t, fe)
	if types != "EZ" || len(values) != 1 || !strings.HasPrefix(values[0], "58000 ") {
		t.Fatalf("refused string answered %q %q, want one 58000 error", types, values)
	}
	select {
	case got := <-h.pg.got:
		t.Fatalf("upstream got %q from a refused string", got)
	default:
	}
	h.holdAck.Store(false)
	close(h.release)
	_, err = c.Write(queryFrame("SELECT 1"))
	must(t, err)
	untilReady(t, fe)

	var first uint64
	var completed *schemas.QueryCompleted
	for _, e := range h.events(t, 6) {
		switch e.Type {
		case schemas.TypeQueryExecuted:
			var q schemas.QueryExecuted
			must(t, e.Decode(&q))
			if strings.Contains(q.Statement.SQL, "(1)") {
				first = e.Seq
			}
		case schemas.TypeQueryCompleted:
			var q schemas.QueryCompleted
			must(t, e.Decode(&q))
			if q.Intent == first {
				completed = &q
			}
		}
	}
	if first == 0 {
		t.Fatal("the first statement's query.executed is not in the log")
	}
	if completed == nil {
		t.Fatalf("the first statement (seq %d) was recorded as forwarded but has no query.completed", first)
	}
	if completed.Outcome != OutcomeSkipped || !strings.Contains(completed.Error, "later statement") {
		t.Fatalf("first statement's outcome %q (%q), want skipped naming the later statement", completed.Outcome, completed.Error)
	}
}
