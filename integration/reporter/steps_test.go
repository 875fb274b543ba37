package reporter_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/schemas"
)

// TestReasoningStepsView is issue 19's per-step view: a Tree-of-Thoughts run whose statements name their
// step, branch, thought and trace (sqlcommenter context) gets one row per step with its statements,
// cardholder data touched and approvals, in a population CSV and on summary.html.
func TestReasoningStepsView(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	b := scenario.New(t0)
	b.Prefix = en.prefix
	gw := b.Gateway("gw-1", en.key, time.Minute)
	b.Advance(10 * time.Second)
	s := gw.Session(scenario.Identity{Subject: "repo:acme/tot", Claims: map[string]string{"run_id": "777"}})
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	ctx := func(st schemas.Statement, step, branch, thought string) schemas.Statement {
		st.Context = &schemas.StatementContext{Values: map[string]string{"purpose": "nightly review", "step": step, "branch": branch,
			"thought": thought, "traceparent": "00-" + trace + "-00f067aa0ba902b7-01"}}
		return st
	}
	s.Read(ctx(scenario.Statement("SELECT merchant, count(*) FROM transactions GROUP BY 1", "read", []string{"transactions"}, false), "0.0", "1", "declines by merchant"), 12, 0)
	s.Read(ctx(scenario.Statement("SELECT c.pan FROM cards c", "read", []string{"cards"}, true), "cards", "", "top cards by spend"), 5, 5)
	s.Read(ctx(scenario.Statement("SELECT h.name, c.exp_month FROM cards c JOIN cardholders h ON h.id = c.cardholder_id", "read", []string{"cards", "cardholders"}, true), "cards", "", "top cards by spend"), 5, 10)
	s.Hold(ctx(scenario.Statement("COPY (SELECT pan FROM cards) TO STDOUT", "copy", []string{"cards"}, true), "export.1", "", "export"), "approved", 20*time.Second)
	s.Hold(ctx(scenario.Statement("COPY cards TO STDOUT", "copy", []string{"cards"}, true), "export.2", "", "export"), "denied", 30*time.Second)
	s.Read(scenario.Statement("SELECT 1", "read", nil, false), 1, 0) // no context: not a step
	b.Advance(time.Minute)
	s.End()
	b.Advance(2 * time.Minute)
	gw.Stop()
	en.seed(b.Events, b.Approvals)

	res, err := en.builder(bucket.NewLocal(t.TempDir()), day0.Add(48*time.Hour)).Build(context.Background(), manifest.KindPackage, day0, day0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	recs := readCSV(t, res.Location, query.StepsFile)
	if len(recs)-1 != 4 {
		t.Fatalf("%d step rows, want 4 (0.0, cards, export.1, export.2):\n%v", len(recs)-1, recs)
	}
	row := func(step string) map[string]string {
		for _, r := range recs[1:] {
			m := map[string]string{}
			for i, c := range recs[0] {
				m[c] = r[i]
			}
			if m["step"] == step {
				return m
			}
		}
		t.Fatalf("no row for step %s in %v", step, recs)
		return nil
	}
	for step, want := range map[string]map[string]string{
		"0.0":      {"run": "777", "subject": "repo:acme/tot", "branch": "1", "thought": "declines by merchant", "statements": "1", "cardholder_statements": "0", "approvals": "0", "trace_id": trace, "purpose": "nightly review"},
		"cards":    {"statements": "2", "cardholder_statements": "2", "cardholder_rows": "10", "masked_values": "15", "cardholder_tables": "cardholders;cards", "blocked": "0"},
		"export.1": {"statements": "1", "cardholder_statements": "1", "approvals": "1", "blocked": "0"},
		"export.2": {"statements": "1", "blocked": "1", "approvals": "1"},
	} {
		got := row(step)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("step %s: %s = %q, want %q (row %v)", step, k, got[k], v, got)
			}
		}
	}
	if d := row("export.1")["approval_decisions"]; !strings.HasSuffix(d, " approved") {
		t.Errorf("export.1 approval decisions %q", d)
	}
	if d := row("export.2")["approval_decisions"]; !strings.HasSuffix(d, " denied") {
		t.Errorf("export.2 approval decisions %q", d)
	}
	html, err := os.ReadFile(filepath.Join(res.Location, "summary.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Statements per reasoning step", "top cards by spend", "export.2"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("summary.html lacks %q", want)
		}
	}
}
