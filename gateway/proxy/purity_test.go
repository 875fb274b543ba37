package proxy

import (
	"errors"
	"testing"

	"github.com/pangate/pangate/gateway/classify"
)

// fakeFacts is a FunctionFacts from maps; err makes every answer fail.
type fakeFacts struct {
	oneArg, userFuncs, userOps, plain map[string]bool
	implicit                          bool
	err                               error
}

func (f fakeFacts) OneArgFunction(n string) (bool, error) { return f.oneArg[n], f.err }
func (f fakeFacts) UserFunction(n string) (bool, error)   { return f.userFuncs[n], f.err }
func (f fakeFacts) UserOperator(n string) (bool, error)   { return f.userOps[n], f.err }
func (f fakeFacts) PlainRelation(n string) (bool, error)  { return f.plain[n], f.err }
func (f fakeFacts) UserImplicitCode() (bool, error)       { return f.implicit, f.err }

func TestSideEffectFree(t *testing.T) {
	base := fakeFacts{
		oneArg:    map[string]bool{"nextval": true, "audit_touch": true},
		userFuncs: map[string]bool{"upper": true, "audit_touch": true},
		userOps:   map[string]bool{"===": true, "<": true},
		plain:     map[string]bool{"cards": true, "public.cards": true, "orders": true, "v_cards": false, "rls_cards": false},
	}
	with := func(mod func(*fakeFacts)) fakeFacts { f := base; mod(&f); return f }
	cases := []struct {
		name  string
		sql   string
		facts FunctionFacts
		want  bool
	}{
		{"plain read", "SELECT pan FROM cards WHERE id = 1", base, true},
		{"qualified table", "SELECT pan FROM public.cards", base, true},
		{"join", "SELECT c.pan, o.total FROM cards c JOIN orders o ON o.card_id = c.id", base, true},
		{"nil facts fail closed", "SELECT pan FROM cards", nil, false},
		{"load error fails closed", "SELECT pan FROM cards", with(func(f *fakeFacts) { f.err = errors.New("down") }), false},
		{"view", "SELECT * FROM v_cards", base, false},
		{"rls table", "SELECT * FROM rls_cards", base, false},
		{"unknown table", "SELECT * FROM created_since_load", base, false},
		{"attribute notation user function", "SELECT c.audit_touch FROM cards c", base, false},
		{"attribute notation column", "SELECT c.pan FROM cards c", base, true},
		{"shadowed built-in", "SELECT upper(name) FROM cards", base, false},
		{"pg_catalog-qualified built-in", "SELECT pg_catalog.upper(name) FROM cards", base, true},
		{"user operator symbol", "SELECT * FROM cards WHERE id < 3", base, false},
		{"built-in operator", "SELECT * FROM cards WHERE id = 3", base, true},
		{"pg_catalog operator", "SELECT * FROM cards WHERE id OPERATOR(pg_catalog.<) 3", base, true},
		{"implicit user code", "SELECT pan FROM cards", with(func(f *fakeFacts) { f.implicit = true }), false},
		{"not a read", "DELETE FROM cards WHERE id = 1", base, false},
		{"volatile", "SELECT nextval('s')", base, false},
		{"locking", "SELECT pan FROM cards FOR UPDATE", base, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := classify.Classify(tc.sql)[0]
			if got := sideEffectFree(st, tc.facts); got != tc.want {
				t.Errorf("%q: sideEffectFree = %v, want %v (statement %+v)", tc.sql, got, tc.want, st)
			}
		})
	}
}
