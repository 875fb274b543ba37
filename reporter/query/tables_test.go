package query

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pangate/pangate/internal/auditstore"
)

// TestSQLNamesAuditStoreTables: every table the reporter's SQL reads (FROM or JOIN a name) is one the
// audit-store schema declares (internal/auditstore: the indexer's tables and the query-log access table)
// or a ClickHouse system table, so a table renamed or dropped there cannot leave a query here behind.
func TestSQLNamesAuditStoreTables(t *testing.T) {
	known := auditstore.Names(auditstore.All)
	known = append(known, auditstore.QueryLogAccessTable)
	from := regexp.MustCompile(`\b(?:FROM|JOIN)\s+([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatalf("%s: %v", fset.Position(lit.Pos()), err)
			}
			for _, m := range from.FindAllStringSubmatch(s, -1) {
				name := m[1]
				seen[name] = true
				if strings.HasPrefix(name, "system.") || slices.Contains(known, name) {
					continue
				}
				t.Errorf("%s: SQL reads %s, which internal/auditstore does not declare (tables %v)", fset.Position(lit.Pos()), name, known)
			}
			return true
		})
	}
	// The scan must see the reporter's main tables, or the pattern has stopped matching its SQL.
	for _, want := range []string{auditstore.Events.Name, auditstore.Statements.Name} {
		if !seen[want] {
			t.Errorf("no SQL literal reads %s: the scan found %v", want, seen)
		}
	}
}
