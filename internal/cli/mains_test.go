package cli

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestMainsOnlyWire keeps each service's main package to its one job (issue 17.1): pick the subcommand,
// call the service's cli package, map the error with this package. A main.go that imports anything else
// (a config package, a service, slog, flag) has grown logic again: move it into <service>/cli.
func TestMainsOnlyWire(t *testing.T) {
	const module = "github.com/pangate/pangate/"
	for _, svc := range []string{"gateway", "approver", "indexer", "reporter"} {
		allowed := []string{"fmt", "os", "strings", module + "internal/cli", module + svc + "/cli"}
		files, err := filepath.Glob(filepath.Join("..", "..", svc, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", svc, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			if file.Name.Name != "main" {
				continue
			}
			if base := filepath.Base(f); base != "main.go" {
				t.Errorf("%s/%s: the main package holds only main.go; move %s into %s/cli", svc, base, base, svc)
			}
			for _, imp := range file.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if !slices.Contains(allowed, p) {
					t.Errorf("%s: main imports %s: main only wires (subcommand, %s/cli, internal/cli); move the logic into %s/cli", f, p, svc, svc)
				}
			}
		}
	}
}
