package proxy

import (
	"errors"
	"testing"

	"github.com/pangate/pangate/gateway/classify"
)

// TestPlannable: a held statement is planned for its row estimate only when planning it can run no user
// code (estimate.go); everything else is "unknown".
func TestPlannable(t *testing.T) {
	base := fakeFacts{
		oneArg:    map[string]bool{"audit_touch": true},
		userFuncs: map[string]bool{"mask_it": true, "audit_touch": true},
		userOps:   map[string]bool{"===": true},
		plain:     map[string]bool{"cards": true, "orders": true, "public.cards": true, "v_cards": false},
	}
	with := func(mod func(*fakeFacts)) fakeFacts { f := base; mod(&f); return f }
	cases := []struct {
		name  string
		sql   string
		facts FunctionFacts
		want  bool
	}{
		{"update without where", "UPDATE cards SET note = 'x'", base, true},
		{"delete", "DELETE FROM orders", base, true},
		{"read", "SELECT pan FROM cards", base, true},
		{"built-in function in a write", "UPDATE cards SET note = upper(note)", base, true},
		{"user function", "UPDATE cards SET note = mask_it('x')", base, false},
		{"schema-qualified function", "UPDATE cards SET note = app.f('x')", base, false},
		{"attribute notation user function", "UPDATE cards c SET note = 'x' WHERE c.audit_touch", base, false},
		{"user operator", "DELETE FROM cards WHERE note === 'x'", base, false},
		{"implicit user code", "DELETE FROM cards", with(func(f *fakeFacts) { f.implicit = true }), false},
		{"facts unavailable", "DELETE FROM cards", with(func(f *fakeFacts) { f.err = errors.New("down") }), false},
		{"no facts", "DELETE FROM cards", nil, false},
		{"view", "DELETE FROM v_cards", base, false},
		{"unknown relation", "DELETE FROM created_later", base, false},
		{"insert plans defaults", "INSERT INTO cards (id) VALUES (1)", base, false},
		{"data-modifying CTE", "WITH x AS (INSERT INTO orders (id) VALUES (1) RETURNING id) DELETE FROM cards WHERE id IN (SELECT id FROM x)", base, false},
		{"set to default", "UPDATE cards SET note = DEFAULT", base, false},
		{"parameter", "DELETE FROM cards WHERE id = $1", base, false},
		{"cast in a write", "UPDATE cards SET note = 'x'::text", base, false},
		{"ddl", "DROP TABLE cards", base, false},
		{"copy", "COPY cards TO STDOUT", base, false},
		{"dynamic sql", "DO $$BEGIN DELETE FROM cards; END$$", base, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cls := classify.Classify(tc.sql)
			if len(cls) != 1 {
				t.Fatalf("%q: %d statements", tc.sql, len(cls))
			}
			ss := &session{facts: tc.facts}
			if got := ss.plannable(cls[0]); got != tc.want {
				t.Errorf("%q: plannable = %v, want %v (statement %+v)", tc.sql, got, tc.want, cls[0])
			}
		})
	}
}
