package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestServicesIgnoreStackEnv: with the local stack's .stack/env exported, the demo's approver read the
// ambient PANGATE_KAFKA_BROKERS and joined the stack's Kafka instead of the demo's (issue 15). A process
// the demo starts gets no PANGATE_ variable but those the demo passes it.
func TestServicesIgnoreStackEnv(t *testing.T) {
	envBin, err := exec.LookPath("env")
	if err != nil {
		t.Fatalf("the env command is needed: %v", err)
	}
	t.Setenv("PANGATE_KAFKA_BROKERS", "127.0.0.1:19092")                // as in .stack/env
	t.Setenv("PANGATE_APPROVER_KAFKA_BROKERS", "127.0.0.1:19092")       // a stray service variable
	t.Setenv("PANGATE_APPROVER_SLACK_SIGNING_SECRET", "ambient-secret") // overridden below
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := start(dir, "env", envBin, []string{"PANGATE_APPROVER_SLACK_SIGNING_SECRET=demo-secret"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
		if err := p.ExitErr(); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("env did not exit")
	}
	b, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "PANGATE_") {
			got = append(got, line)
		}
	}
	if want := []string{"PANGATE_APPROVER_SLACK_SIGNING_SECRET=demo-secret"}; !slices.Equal(got, want) {
		t.Fatalf("the started process saw %q, want only %q", got, want)
	}
	if !strings.Contains(string(b), "PATH=") {
		t.Fatal("the started process lost PATH")
	}
	if env := commandEnv(t.Context(), envBin, nil).Env; slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PANGATE_") }) {
		t.Fatalf("commandEnv passes the ambient PANGATE_ variables: %q", env)
	}
}
