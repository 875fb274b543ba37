package scenario

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/schemas"
)

// TestEventsValidate keeps the scenario honest: every event it builds passes the contract's JSON Schema
// and hash check, as the indexer requires before it stores anything.
func TestEventsValidate(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	b := New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	g := b.Gateway("gw-1", key, time.Minute)
	s := g.Session(Identity{Subject: "repo:acme/etl", Human: true})
	s.Query(Statement("SELECT pan FROM cards", "read", []string{"cards"}, true), "ok", 2, nil)
	s.Query(Statement("SELECT x", "read", nil, false), "error", 0, nil)
	s.Blocked(Statement("COPY cards TO STDOUT", "copy", []string{"cards"}, true), "policy_deny", nil)
	s.Hold(Statement("DROP TABLE t", "ddl", []string{"t"}, false), "approved", time.Second)
	s.Export("COPY (SELECT id, pan FROM cards) TO STDOUT", 20, 18, nil)
	s.Query(Statement("UPDATE t SET x = 1", "write", []string{"t"}, false), "error", 0, nil)
	s.Query(Statement("DELETE FROM t", "write", []string{"t"}, false), "skipped", 0, nil)
	s.Ahead(Statement("DROP TABLE w", "ddl", []string{"w"}, false), nil, nil)
	s.Hold(Statement("DROP TABLE u", "ddl", []string{"u"}, false), "denied", time.Second)
	s.Hold(Statement("DROP TABLE v", "ddl", []string{"v"}, false), "expired", time.Second)
	g.AuthFailed("x", "expired")
	b.Advance(2 * time.Minute)
	s.End()
	g.Stop()
	for _, e := range append(b.Events, b.Approvals...) {
		raw, err := schemas.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas.Validate(raw); err != nil {
			t.Errorf("%s: %v", e.Type, err)
		}
		if err := schemas.VerifyEvent(e); err != nil {
			t.Errorf("%s: %v", e.Type, err)
		}
	}
}

// TestCompletionsFollowTheirIntent: a read is one event with its outcome; every other statement is a
// query.executed with outcome forwarded followed by a query.completed naming its seq, index and kind.
func TestCompletionsFollowTheirIntent(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	b := New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	s := b.Gateway("gw-1", key, time.Minute).Session(Identity{Subject: "x"})
	s.Query(Statement("SELECT 1", "read", nil, false), "ok", 1, nil)
	s.Query(Statement("INSERT INTO t VALUES (1)", "write", []string{"t"}, false), "ok", 1, nil)
	s.Export("COPY cards TO STDOUT", 20, 18, nil)
	var kinds []string
	intents := map[uint64]schemas.QueryExecuted{}
	for _, e := range b.Events {
		switch e.Type {
		case schemas.TypeQueryExecuted:
			var d schemas.QueryExecuted
			if err := e.Decode(&d); err != nil {
				t.Fatal(err)
			}
			intents[e.Seq] = d
			kinds = append(kinds, d.Statement.Kind+":"+d.Outcome)
		case schemas.TypeQueryCompleted:
			var d schemas.QueryCompleted
			if err := e.Decode(&d); err != nil {
				t.Fatal(err)
			}
			in, ok := intents[d.Intent]
			if !ok || in.Outcome != "forwarded" || in.Statement.Index != d.Index || in.Statement.Kind != d.Kind || d.Intent != e.Seq-1 {
				t.Errorf("completion %+v at seq %d does not follow its intent %+v", d, e.Seq, in)
			}
			kinds = append(kinds, "completed:"+d.Outcome+":"+d.CommandTag)
			if d.Kind == "copy" && (d.Rows != 20 || len(d.Masked) != 1 || d.Masked[0].Count != 18) {
				t.Errorf("export completion %+v, want 20 rows, 18 masked", d)
			}
		}
	}
	want := "read:ok write:forwarded completed:ok:INSERT 0 1 copy:forwarded completed:ok:COPY 20"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("statements %s, want %s", got, want)
	}
}
