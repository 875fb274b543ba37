// Package demo runs the README's first command, `go tool task demo`, in its non-interactive mode (--ci),
// which checks every figure it prints against ClickHouse and what the workload received, and looks for
// full card numbers in everything the job saw and in every audit record.
package demo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/integration/stack"
)

func TestDemoEndToEnd(t *testing.T) {
	// Hold PostgreSQL and ClickHouse as a user, so tests that stop a service wait for this one.
	stack.Postgres(t)
	stack.ClickHouse(t)
	root, err := stack.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./deploy/demo", "--ci", "--no-stack-up", "--transactions", "20000", "--dir", filepath.Join(t.TempDir(), "demo"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CI=true")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// go run's child keeps the output pipe open if go itself is killed at the deadline.
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"1 approved, 1 denied",
		"approved by alice@acme.example",
		"denied by bob@acme.example",
		"--ci: every printed figure matches ClickHouse",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
