package proxy

import (
	"strings"

	"github.com/pangate/pangate/gateway/classify"
)

// Lineage decision: a value computed from cardholder data may leave only as a plain column reference
// (which the gateway masks by its tag) or through a masking function the policy names; anything else
// is the policy fact derives_cardholder_data (docs/masking.md, "Lineage"; docs/policy.md).

// MaskingFunctioner is implemented by a Policy that names masking functions (policy masking_functions):
// calls of them over cardholder data are no derivation. A Policy without it names none (the file policy
// still drops them when it evaluates: it is the authority).
type MaskingFunctioner interface {
	MaskingFunctions() map[string]bool
}

// derivesCardholder reports whether any value st lets out derives from a tagged column (or a column of
// a tagged table, or a whole row of a table with tagged columns) other than as a plain reference or a
// call of one of maskingFuncs, and the derivation kinds (classify.Statement.Derived). tagged(table,
// column) says whether a column is cardholder data; tagged(table, "*") whether the table holds any.
func derivesCardholder(st classify.Statement, tagged func(table, column string) bool, maskingFuncs map[string]bool) (derives bool, kinds []string) {
	kinds = st.Derived(tagged, func(name string) bool { return maskingFuncs[name] })
	return len(kinds) > 0, kinds
}

// taggedSource answers derivesCardholder's question with the session's tags: mask column tags and
// patterns (a "table.*" tag tags every column of the table), and for "*" the tables known to hold
// cardholder data (configured, or by a tagged column in the catalog).
//
// The parse tree names tables as written: an unqualified "cards" may be any schema's cards (search_path),
// so it also matches the schema-qualified cardholder tables of that name ("public.cards" from a
// "public.cards.pan" tag).
func (ss *session) taggedSource(table, column string) bool {
	if column == "*" {
		if table == "" {
			return false
		}
		if ss.cardholderTable(table) {
			return true
		}
	} else if ss.srv.deps.Masker.Tagged(table, column) {
		return true
	}
	if table == "" || strings.Contains(table, ".") {
		return false
	}
	lt := strings.ToLower(table)
	for ct := range ss.srv.cfg.cardholderTables {
		i := strings.LastIndexByte(ct, '.')
		if i < 0 || ct[i+1:] != lt {
			continue
		}
		if column == "*" || ss.srv.deps.Masker.Tagged(ct, column) {
			return true
		}
	}
	return false
}

// lineage walks c's lineage once for both of its uses: the derivations decide puts into
// Input.DerivesCardholder and Input.Derivations (kept on the run), and the result columns that hold
// cardholder data, which the event records (schemas.Statement.ResultCardholder).
func (ss *session) lineage(c classify.Statement) (derived, results []string) {
	var masking map[string]bool
	if mf, ok := ss.srv.deps.Policy.(MaskingFunctioner); ok {
		masking = mf.MaskingFunctions()
	}
	return c.TaggedLineage(ss.taggedSource, func(name string) bool { return masking[name] })
}
