package internal_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestServicesDoNotImportEachOther checks the module's import graph (issue 17.2): a service — gateway,
// approver, indexer, reporter — imports shared packages (internal/…, schemas) and never another service
// or deploy/. knownCrossImports lists pairs still to be moved into shared packages (none since issue 17.2);
// a new cross import fails here, and so does a listed one once it is gone (remove it from the list then).
func TestServicesDoNotImportEachOther(t *testing.T) {
	const module = "github.com/pangate/pangate/"
	knownCrossImports := []string{} // none left: a service needs something of another? move it into internal/ or schemas
	services := []string{"gateway", "approver", "indexer", "reporter"}
	var found []string
	for _, svc := range services {
		out, err := exec.Command("go", "list", "-deps", "../"+svc+"/...").CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", svc, err, out)
		}
		seen := map[string]bool{}
		for _, p := range strings.Fields(string(out)) {
			rel, ok := strings.CutPrefix(p, module)
			if !ok {
				continue
			}
			top, _, _ := strings.Cut(rel, "/")
			if top == svc || !(slices.Contains(services, top) || top == "deploy") {
				continue
			}
			parts := strings.SplitN(rel, "/", 3)
			key := svc + " -> " + strings.Join(parts[:min(2, len(parts))], "/")
			if !seen[key] {
				seen[key] = true
				found = append(found, key)
			}
		}
	}
	for _, f := range found {
		if !slices.Contains(knownCrossImports, f) {
			t.Errorf("service imports another service or deploy/: %s (move what it needs into internal/ or schemas)", f)
		}
	}
	for _, k := range knownCrossImports {
		if !slices.Contains(found, k) {
			t.Errorf("listed cross import %q no longer exists: remove it from knownCrossImports", k)
		}
	}
}
