package proxy

import (
	"strings"

	"github.com/pangate/pangate/gateway/classify"
)

// FunctionFacts is what the database says about the names a statement uses, for judging whether a read
// is free of side effects (gateway/catalog's *Functions implements it, per database). Every method
// returns an error when the facts are unavailable; callers then treat the statement as having side
// effects.
type FunctionFacts interface {
	// OneArgFunction: name is a function callable with one argument that is not allow-listed (built-in,
	// or any function of that name outside pg_catalog): attribute notation (x).name calls it.
	OneArgFunction(name string) (bool, error)
	// UserFunction: a function called name exists outside pg_catalog (it may shadow a built-in).
	UserFunction(name string) (bool, error)
	// UserOperator: an operator named op exists outside pg_catalog.
	UserOperator(op string) (bool, error)
	// PlainRelation: table is known to be a table/partitioned table/materialized view without
	// row-level security (views, foreign tables and RLS policies run code when read).
	PlainRelation(table string) (bool, error)
	// UserImplicitCode: casts or operator classes outside pg_catalog exist, which PostgreSQL may call
	// without the statement naming them.
	UserImplicitCode() (bool, error)
}

// sideEffectFree reports whether st may be forwarded before its audit event is acknowledged (issue 11
// part 4; docs/policy.md): the classifier found it a read whose every function, operator and type is an
// allow-listed built-in (st.SideEffectFree), and the database confirms that none of its names resolves
// to user code. Missing facts (nil, or a failed load) mean false: fail closed.
func sideEffectFree(st classify.Statement, facts FunctionFacts) bool {
	if !st.SideEffectFree || facts == nil {
		return false
	}
	if implicit, err := facts.UserImplicitCode(); err != nil || implicit {
		return false
	}
	for _, name := range st.AttrNames {
		if f, err := facts.OneArgFunction(name); err != nil || f {
			return false
		}
	}
	for _, name := range st.Functions {
		if strings.HasPrefix(name, "pg_catalog.") {
			continue // resolves in pg_catalog only (the classifier refused other qualifications)
		}
		if f, err := facts.UserFunction(name); err != nil || f {
			return false
		}
	}
	for _, op := range st.Operators {
		if strings.HasPrefix(op, "pg_catalog.") {
			continue
		}
		if f, err := facts.UserOperator(op); err != nil || f {
			return false
		}
	}
	for _, table := range st.Tables {
		if plain, err := facts.PlainRelation(table); err != nil || !plain {
			return false
		}
	}
	return true
}
