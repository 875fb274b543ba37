package cookbook

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/auditors.md from the queries")

func TestAll(t *testing.T) {
	qs, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 12 {
		t.Fatalf("%d queries, the cookbook promises at least 12", len(qs))
	}
	for _, q := range qs {
		// statement_outcomes reads its tables with FINAL inside (deploy/clickhouse/migrations/0002_outcomes.sql).
		if !strings.Contains(q.SQL, "FINAL") && !strings.Contains(q.SQL, "FROM statement_outcomes") {
			t.Errorf("%s reads without FINAL: replayed rows would count twice", q.Name)
		}
		if strings.Contains(q.SQL, "FROM statements FINAL") {
			t.Errorf("%s reads statements directly: a statement recorded ahead shows outcome forwarded there; read statement_outcomes", q.Name)
		}
	}
}

func TestRender(t *testing.T) {
	q, err := parse("x", "-- title: t\n-- pci: 1\n-- param: sid\nWITH 'zzz' AS sid\nSELECT 1 WHERE s = sid")
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.Render(map[string]string{"sid": "a'b\\c"})
	if err != nil {
		t.Fatal(err)
	}
	if got != "WITH 'a\\'b\\\\c' AS sid\nSELECT 1 WHERE s = sid" {
		t.Errorf("rendered %q", got)
	}
	if _, err := q.Render(map[string]string{"nope": "x"}); err == nil {
		t.Error("unknown parameter accepted")
	}
	if _, err := parse("y", "-- title: t\n-- pci: 1\n-- param: p\nSELECT 1"); err == nil {
		t.Error("param without a WITH line accepted")
	}
}

func TestDocs(t *testing.T) {
	qs, err := All()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "auditors.md")
	want := Markdown(qs)
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./indexer/cookbook -run TestDocs -update)", err)
	}
	if string(got) != want {
		t.Fatal("docs/auditors.md is out of date with indexer/cookbook/queries: go test ./indexer/cookbook -run TestDocs -update")
	}
}

func FuzzRender(f *testing.F) {
	f.Add("abc")
	f.Add(`x' OR 1=1 --`)
	q, _ := parse("x", "-- title: t\n-- pci: 1\n-- param: sid\nWITH 'zzz' AS sid\nSELECT 1")
	f.Fuzz(func(t *testing.T, v string) {
		got, err := q.Render(map[string]string{"sid": v})
		if err != nil {
			t.Fatal(err)
		}
		// The value must stay inside one string literal: the rest of the query is unchanged.
		if !strings.HasSuffix(got, "' AS sid\nSELECT 1") || !strings.HasPrefix(got, "WITH '") {
			t.Fatalf("rendered %q", got)
		}
	})
}
