package cookbook

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pangate/pangate/internal/auditstore"
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
	views := finalViews(t)
	for _, q := range qs {
		// The views read their tables with FINAL inside (internal/auditstore/migrations/0002_outcomes.sql,
		// 0003_views.sql).
		viaView := false
		for v := range views {
			viaView = viaView || strings.Contains(q.SQL, "FROM "+v+"\n") || strings.Contains(q.SQL, "FROM "+v+" ")
		}
		if !strings.Contains(q.SQL, "FINAL") && !viaView {
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

// finalViews returns the views of the embedded migrations, each checked to read every table it names with
// FINAL (a view the cookbook reads through must not count a replayed event twice).
func finalViews(t *testing.T) map[string]bool {
	t.Helper()
	files, err := fs.Glob(auditstore.Migrations, "migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations embedded (%v)", err)
	}
	viewRE := regexp.MustCompile(`(?m)^CREATE VIEW IF NOT EXISTS (\w+) AS\s*$`)
	fromRE := regexp.MustCompile(`\bFROM (\w+)( FINAL)?`)
	views := map[string]bool{}
	for _, f := range files {
		b, err := auditstore.Migrations.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range strings.Split(string(b), ";\n") {
			m := viewRE.FindStringSubmatch(stmt)
			if m == nil {
				continue
			}
			views[m[1]] = true
			for _, fm := range fromRE.FindAllStringSubmatch(stripComments(stmt), -1) {
				if fm[2] == "" && !views[fm[1]] {
					t.Errorf("view %s reads %s without FINAL", m[1], fm[1])
				}
			}
		}
	}
	for _, v := range []string{"statement_outcomes", "statement_identities", "approval_decisions"} {
		if !views[v] {
			t.Errorf("view %s is missing from the migrations", v)
		}
	}
	return views
}

func stripComments(sql string) string {
	var b strings.Builder
	for _, l := range strings.Split(sql, "\n") {
		if i := strings.Index(l, "--"); i >= 0 {
			l = l[:i]
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}
