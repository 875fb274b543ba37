package kubernetes

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The command lines each service's main accepts, kept by hand next to the test (running `go run ./gateway
// -h` per test would build every service: far too slow for CI). TestKnownFlagsMatchMain keeps this table
// honest: it parses each main package's source and fails if a subcommand or flag listed here is no longer
// defined there, so a renamed flag breaks this test rather than a rollout.
//
// Sources, read from each main.go and its cli package:
//
//	gateway run -config FILE [-log-level LEVEL]        (gateway/main.go: "run" is required)
//	approver [serve] -config FILE                      (approver/main.go: "serve" is the default)
//	indexer -config FILE [-migrate-only]               (indexer/main.go: no subcommand)
//	reporter …                                         (see reporterCommands in configs_test.go)
type command struct {
	// Subcommands the binary accepts as its first argument; "" means the first argument is a flag.
	subcommands []string
	// subcommandOptional: the binary runs its default subcommand when the first argument is a flag.
	subcommandOptional bool
	// flags maps each flag to whether it takes a value (false: boolean).
	flags map[string]bool
}

var knownCommands = map[string]command{
	"gateway":  {subcommands: []string{"run"}, flags: map[string]bool{"config": true, "log-level": true}},
	"approver": {subcommands: []string{"serve"}, subcommandOptional: true, flags: map[string]bool{"config": true}},
	"indexer":  {flags: map[string]bool{"config": true, "migrate-only": false}},
	"reporter": reporterCommand,
}

// flagValue returns the value of -name (or --name, -name=v) in args, "" if absent.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		k, v, hasEq := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if k != name {
			continue
		}
		if hasEq {
			return v
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// checkArgs parses args as the service's main would: an optional subcommand, then flags.
func checkArgs(t *testing.T, where, service string, args []string) {
	t.Helper()
	cmd, ok := knownCommands[service]
	if !ok {
		t.Errorf("%s: no known command line for service %q", where, service)
		return
	}
	rest := args
	if len(cmd.subcommands) > 0 {
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			if !contains(cmd.subcommands, rest[0]) {
				t.Errorf("%s: %s has no subcommand %q (known: %v)", where, service, rest[0], cmd.subcommands)
			}
			rest = rest[1:]
		} else if !cmd.subcommandOptional {
			t.Errorf("%s: %s needs a subcommand first (%v), args are %q", where, service, cmd.subcommands, args)
		}
	}
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			t.Errorf("%s: argument %q is not a flag; %s takes no positional arguments here", where, a, service)
			continue
		}
		k, _, hasEq := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takesValue, known := cmd.flags[k]
		if !known {
			t.Errorf("%s: %s does not accept -%s (known: %v)", where, service, k, keys(cmd.flags))
			continue
		}
		if takesValue && !hasEq {
			if i+1 >= len(rest) || strings.HasPrefix(rest[i+1], "-") {
				t.Errorf("%s: -%s needs a value", where, k)
				continue
			}
			i++
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// mainDefinitions parses the non-test Go files of the service's main package and its cli package and
// returns the flag names they define (first string argument of X.String/Bool/Int/Duration/Var… calls on
// the flag package or a FlagSet) and every string literal used as a switch case (its subcommands).
func mainDefinitions(t *testing.T, service string) (flags, cases map[string]bool) {
	t.Helper()
	flags, cases = map[string]bool{}, map[string]bool{}
	// main picks the subcommand; the subcommands and their flags live in <service>/cli.
	files, err := filepath.Glob(filepath.Join("..", "..", service, "*.go"))
	sub, _ := filepath.Glob(filepath.Join("..", "..", service, "cli", "*.go"))
	files = append(files, sub...)
	if err != nil || len(files) == 0 {
		t.Errorf("service %s: no Go files (%v)", service, err)
		return
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if file.Name.Name != "main" && file.Name.Name != "cli" {
			continue
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || len(n.Args) == 0 {
					return true
				}
				switch sel.Sel.Name {
				case "String", "Bool", "Int", "Int64", "Uint", "Uint64", "Float64", "Duration", "Func", "BoolFunc", "TextVar":
					if s, ok := stringLit(n.Args[0]); ok {
						flags[s] = true
					}
				case "StringVar", "BoolVar", "IntVar", "Int64Var", "UintVar", "Uint64Var", "Float64Var", "DurationVar", "Var":
					if len(n.Args) > 1 {
						if s, ok := stringLit(n.Args[1]); ok {
							flags[s] = true
						}
					}
				}
			case *ast.CaseClause:
				for _, e := range n.List {
					if s, ok := stringLit(e); ok {
						cases[s] = true
					}
				}
			}
			return true
		})
	}
	return flags, cases
}

func stringLit(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}

func TestKnownFlagsMatchMain(t *testing.T) {
	for _, s := range services {
		cmd := knownCommands[s]
		flags, cases := mainDefinitions(t, s)
		for f := range cmd.flags {
			if !flags[f] {
				t.Errorf("%s/main.go defines no flag %q, but knownCommands lists it: update the table and the manifests", s, f)
			}
		}
		for _, sub := range cmd.subcommands {
			if !cases[sub] {
				t.Errorf("%s/main.go has no subcommand %q, but knownCommands lists it", s, sub)
			}
		}
	}
}

func TestContainerArgs(t *testing.T) {
	m := loadManifests(t)
	for _, w := range m.workloads() {
		for _, c := range w.Pod.Spec.Containers {
			checkArgs(t, w.Owner.String(), w.Owner.Metadata.Labels["app.kubernetes.io/name"], c.Args)
		}
	}
}

// FuzzFlagValue: reading -name from any argument list never panics and returns either "" or text that
// occurs in the arguments.
func FuzzFlagValue(f *testing.F) {
	f.Add("run\x00-config\x00/etc/pangate/gateway.yaml", "config")
	f.Add("-config=/x\x00-migrate-only", "config")
	f.Add("--config", "config")
	f.Add("-config=", "config")
	f.Fuzz(func(t *testing.T, joined, name string) {
		args := strings.Split(joined, "\x00")
		v := flagValue(args, name)
		if v != "" && !strings.Contains(joined, v) {
			t.Fatalf("flagValue(%q, %q) = %q, not in the arguments", args, name, v)
		}
	})
}
