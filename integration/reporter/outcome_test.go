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
	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/reporter/verify"
)

// TestExportOutcomesInEvidence: query.completed events, produced through Kafka and the real indexer, give
// the package each statement's outcome: an export of card numbers whose masked count (18) is lower than its
// rows (20) is a cardholder_unmasked exception with those numbers, a fully masked export is not, a read
// that masked fewer values than rows is, and a lookup by a masked card number that returned no card number
// is not (issue 15.6); failures show with their SQLSTATE, skipped statements as not run, and bound
// parameters (masked) appear in the population and the transcript.
func TestExportOutcomesInEvidence(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	b := scenario.New(t0)
	b.Prefix = en.prefix
	gw := b.Gateway("gw-1", en.key, time.Minute)
	b.Advance(10 * time.Second)
	s1 := gw.Session(scenario.Identity{Subject: "repo:acme/export"})
	lookup := scenario.Statement("SELECT id FROM cards WHERE pan = $1", "read", []string{"cards"}, true)
	lookup.Params = []string{"411111******1111"}
	lookup.Protocol = "extended"
	s1.Read(lookup, 1, 0)
	short, _ := s1.Export("COPY (SELECT id, pan FROM cards) TO STDOUT", 20, 18, nil)
	full, _ := s1.Export("COPY cards TO STDOUT", 5, 5, nil)
	s1.Query(scenario.Statement("UPDATE cards SET note = 'x'", "write", []string{"cards"}, true), "error", 0, nil)
	s1.Query(scenario.Statement("ALTER TABLE cards ADD COLUMN y int", "ddl", []string{"cards"}, true), "skipped", 0, nil)
	b.Advance(30 * time.Second)
	s1.End()
	s2 := gw.Session(scenario.Identity{Subject: "repo:acme/report"})
	partial := s2.Read(scenario.Statement("SELECT id, pan FROM cards", "read", []string{"cards"}, true), 3, 1)
	s2.End()
	b.Advance(2 * time.Minute)
	gw.Stop()
	en.seed(b.Events, b.Approvals)

	res, err := en.builder(bucket.NewLocal(t.TempDir()), day0.Add(48*time.Hour)).Build(context.Background(), manifest.KindPackage, day0, day0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	dir := res.Location
	if r := verify.Package(dir, en.pub, ""); !r.OK() {
		t.Fatalf("package does not verify: %v", r.Err())
	}

	ex := readCSV(t, dir, "exceptions.csv")
	unmasked := map[string]string{}
	cats, ids, details := col(t, ex, "category"), col(t, ex, "event_id"), col(t, ex, "detail")
	for i, c := range cats {
		if c == "cardholder_unmasked" {
			unmasked[ids[i]] = details[i]
		}
	}
	if len(unmasked) != 2 {
		t.Errorf("cardholder_unmasked exceptions %v, want the short export and the partly masked read", unmasked)
	}
	if d, ok := unmasked[short.ID]; !ok || !strings.Contains(d, "export COPY (SELECT id, pan FROM cards) TO STDOUT: 20 rows, masked pan=18") {
		t.Errorf("export with 18 of 20 masked: exception %q (present %v)", d, ok)
	}
	if d, ok := unmasked[partial.ID]; !ok || !strings.Contains(d, "3 rows, masked pan=1") {
		t.Errorf("read with 1 of 3 masked: exception %q (present %v)", d, ok)
	}
	if _, ok := unmasked[full.ID]; ok {
		t.Errorf("a fully masked export is flagged")
	}

	pop := readCSV(t, dir, "populations/10.2.1.1-cardholder-data-access.csv")
	rows := map[string]map[string]string{}
	for i := range pop[1:] {
		r := map[string]string{}
		for j, c := range pop[0] {
			r[c] = pop[i+1][j]
		}
		rows[r["sql"]] = r
	}
	checks := []struct{ sql, col, want string }{
		{"SELECT id FROM cards WHERE pan = $1", "params", "411111******1111"},
		{"SELECT id FROM cards WHERE pan = $1", "outcome", "ok"},
		{"COPY (SELECT id, pan FROM cards) TO STDOUT", "outcome", "ok"},
		{"COPY (SELECT id, pan FROM cards) TO STDOUT", "rows", "20"},
		{"COPY (SELECT id, pan FROM cards) TO STDOUT", "masked_total", "18"},
		{"COPY (SELECT id, pan FROM cards) TO STDOUT", "masked", "pan=18"},
		{"COPY (SELECT id, pan FROM cards) TO STDOUT", "command_tag", "COPY 20"},
		{"UPDATE cards SET note = 'x'", "outcome", "error"},
		{"UPDATE cards SET note = 'x'", "result", "failed, SQLSTATE 42501"},
		{"ALTER TABLE cards ADD COLUMN y int", "outcome", "skipped"},
		{"ALTER TABLE cards ADD COLUMN y int", "result", "not run (skipped: an earlier statement of its batch failed or the session ended)"},
	}
	for _, c := range checks {
		r, ok := rows[c.sql]
		if !ok {
			t.Errorf("10.2.1.1 lacks %s", c.sql)
			continue
		}
		if r[c.col] != c.want {
			t.Errorf("10.2.1.1 %s: %s = %q, want %q", c.sql, c.col, r[c.col], c.want)
		}
	}
	if len(rows) != 6 {
		t.Errorf("10.2.1.1 has %d statements, want 6 (completions are outcomes, not statements)", len(pop)-1)
	}
	ddl := readCSV(t, dir, "populations/10.2.1.7-object-changes.csv")
	if got := strings.Join(col(t, ddl, "outcome"), ","); got != "skipped" {
		t.Errorf("10.2.1.7 outcomes %s, want skipped", got)
	}

	tr, err := os.ReadFile(filepath.Join(dir, "transcripts", s1.ID+".txt"))
	if err != nil {
		t.Fatalf("no transcript of the session with the export exception: %v", err)
	}
	for _, want := range []string{"parameters (masked): $1=411111******1111", "outcome of statement #1 [copy]", "ok, COPY 20, 20 rows",
		"masked 18 value(s) in pan", "FAILED, SQLSTATE 42501", "NOT RUN (skipped"} {
		if !strings.Contains(string(tr), want) {
			t.Errorf("transcript lacks %q:\n%s", want, tr)
		}
	}
	scanForPAN(t, dir)
}
