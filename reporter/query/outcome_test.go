package query

import (
	"strings"
	"testing"
)

// TestStatementPopulationsUseOutcomes: every population, chart and exception rule that reports a
// statement's outcome, rows or masked counts reads them through outcomes() (the query.completed of a
// statement recorded ahead), not from the statements row alone, where such a statement says forwarded.
// Reading statements directly is fine only for what the intent itself records (blocked statements,
// per-session counts).
func TestStatementPopulationsUseOutcomes(t *testing.T) {
	direct := map[string]bool{"populations/10.2.1.4-invalid-access-attempts.csv": true, "populations/7.2.4-granted-vs-used.csv": true}
	check := func(name, sql string) {
		t.Helper()
		if !strings.Contains(sql, "statements FINAL") || direct[name] {
			return
		}
		if !strings.Contains(sql, "completions FINAL") || !strings.Contains(sql, "USING session, seq") {
			t.Errorf("%s reads statements without their completions", name)
		}
	}
	for _, p := range Populations {
		check(p.File, p.SQL)
	}
	check("statements_per_day", StatementsPerDaySQL)
	// The exception rule for unmasked cardholder data reads the completion's rows and masked counts.
	i := strings.Index(ExceptionsSQL, "'cardholder_unmasked'")
	j := strings.Index(ExceptionsSQL[i:], "UNION ALL")
	if i < 0 || j < 0 {
		t.Fatal("no cardholder_unmasked rule in ExceptionsSQL")
	}
	rule := ExceptionsSQL[i : i+j]
	for _, want := range []string{"completions FINAL", "arrayExists(n -> n < row_count, masked_counts)", "has(risk_tags, 'copy_out') AND masked_total = 0"} {
		if !strings.Contains(rule, want) {
			t.Errorf("cardholder_unmasked rule lacks %q:\n%s", want, rule)
		}
	}
	if strings.Contains(rule, "row_count > 0 AND masked_total = 0\n") {
		t.Errorf("cardholder_unmasked still flags every read with nothing masked (a lookup WHERE pan = $1 returns no card number, issue 15.6)")
	}
}
