package transcript

import (
	"testing"

	"github.com/pangate/pangate/schemas"
)

func TestContextText(t *testing.T) {
	for _, tc := range []struct {
		c    *schemas.StatementContext
		want string
	}{
		{nil, ""},
		{&schemas.StatementContext{Values: map[string]string{"step": "1.0", "purpose": "refund review"}},
			`purpose="refund review" step="1.0"`},
		{&schemas.StatementContext{Malformed: 1, Dropped: 2}, "(1 malformed comment(s) ignored) (2 pair(s) dropped)"},
	} {
		if got := contextText(tc.c); got != tc.want {
			t.Errorf("contextText(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
}

// TestTranscriptShowsContext: a statement's context appears under it in the transcript.
func TestTranscriptShowsContext(t *testing.T) {
	c := schemas.NewChain(schemas.NewID(), schemas.Source{Instance: "gw-1", Version: "1"})
	st := schemas.Statement{SQL: "SELECT pan FROM cards", Kind: "read", Protocol: "simple",
		Context: &schemas.StatementContext{Values: map[string]string{"purpose": "refund review"}}}
	e1, err := c.Next(schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: st, Outcome: "ok", MaskShape: "first6last4"})
	if err != nil {
		t.Fatal(err)
	}
	e2, err := c.Next(schemas.TypeQueryBlocked, schemas.QueryBlocked{Statement: st, Reason: "policy_deny", Message: "no", SQLState: "42501"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Build([]schemas.Event{e1, e2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, en := range tr.Entries {
		found := false
		for _, l := range en.Lines {
			found = found || l == `context: purpose="refund review"`
		}
		if !found {
			t.Errorf("entry %d (%s) lines %q lack the context", i, en.Type, en.Lines)
		}
	}
}
