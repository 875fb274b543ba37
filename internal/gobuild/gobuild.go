// Package gobuild finds the module root and builds pangate's own binaries for tests, the demo and the local
// stack: one `go build` at the module root, and Binary, which builds a package once per process to one
// stable path shared safely by concurrent test processes. It imports nothing of pangate, so any package
// (a service's test helpers included) may use it without reaching into the services (internal/imports_test.go).
package gobuild

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// ModuleRoot returns the directory holding go.mod, found by walking up from the working directory (go test
// runs each package in its own directory; go run runs where it was called).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("gobuild: no go.mod found above the working directory; run from inside the pangate module")
		}
		dir = parent
	}
}

// Build runs `go build -o dir/ pkgs...` at the module root: one go build for several binaries (each named
// after its package's last element, e.g. ./gateway → dir/gateway).
func Build(dir string, pkgs ...string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("go", append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("gobuild: go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}

type built struct {
	once sync.Once
	path string
	err  error
}

var (
	binMu sync.Mutex
	bins  = map[string]*built{}
)

// Binary builds pkg (e.g. "./gateway", "./deploy/issuer") once per process and returns the binary's path;
// later calls, from any goroutine, return the same path. The binary is $TMPDIR/pangate-bin/<pkg>/<name>,
// built beside it and replaced by an atomic rename: test processes running at the same time share it safely
// (each execs a whole binary, old or new, built from the same checkout), and /tmp does not fill up with a
// copy per test binary.
func Binary(pkg string) (string, error) {
	binMu.Lock()
	b := bins[pkg]
	if b == nil {
		b = &built{}
		bins[pkg] = b
	}
	binMu.Unlock()
	b.once.Do(func() { b.path, b.err = buildShared(pkg) })
	return b.path, b.err
}

func buildShared(pkg string) (string, error) {
	dir := filepath.Join(os.TempDir(), "pangate-bin", strings.NewReplacer("/", "_", ".", "_").Replace(pkg))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := Build(tmp, pkg); err != nil {
		return "", err
	}
	name := filepath.Base(pkg)
	final := filepath.Join(dir, name)
	if err := os.Rename(filepath.Join(tmp, name), final); err != nil {
		return "", fmt.Errorf("gobuild: install %s: %w", final, err)
	}
	return final, nil
}
