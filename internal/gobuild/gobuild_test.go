package gobuild

import (
	"os"
	"path/filepath"
	"testing"
)

// TestBinaryBuildsOncePerProcessToOnePath: the binary exists and is executable, a second call returns the
// same path, and the path is the shared one (no per-process copy in /tmp). (Build directories are not
// checked: other test processes may be building the same package at this moment.)
func TestBinaryBuildsOncePerProcessToOnePath(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("ModuleRoot %s holds no go.mod: %v", root, err)
	}
	p1, err := Binary("./deploy/issuer")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p1)
	if err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("binary %s: %v (mode %v)", p1, err, fi)
	}
	p2, err := Binary("./deploy/issuer")
	if err != nil || p2 != p1 {
		t.Fatalf("second call: %q, %v; want %q", p2, err, p1)
	}
	if want := filepath.Join(os.TempDir(), "pangate-bin", "__deploy_issuer", "issuer"); p1 != want {
		t.Fatalf("binary at %s, want the shared path %s", p1, want)
	}
}
