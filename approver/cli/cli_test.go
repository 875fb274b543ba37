package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pangate/pangate/internal/cli"
)

// TestUsageErrors: every misuse of a subcommand is exit status 2 with a message naming the mistake, found
// before any service is dialled.
func TestUsageErrors(t *testing.T) {
	t.Setenv(configEnv, "")
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("nonsense_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		run  func() error
		want string
	}{
		{"unknown command", func() error { return UnknownCommand("bogus") }, `unknown command "bogus"`},
		{"serve bad flag", func() error { return Serve(ctx, []string{"-bogus"}, "test") }, "-bogus"},
		{"serve argument", func() error { return Serve(ctx, []string{"extra"}, "test") }, `unexpected argument "extra"`},
		{"serve missing config", func() error { return Serve(ctx, []string{"-config", missing}, "test") }, "missing.yaml"},
		{"serve bad config", func() error { return Serve(ctx, []string{"-config", bad}, "test") }, "nonsense_key"},
		{"decide without id", func() error { return Decide(ctx, []string{"-approve"}, "test", io.Discard) }, "-id"},
		{"decide both", func() error {
			return Decide(ctx, []string{"-id", "a", "-approve", "-deny"}, "test", io.Discard)
		}, "exactly one of -approve or -deny"},
		{"decide bad config", func() error {
			return Decide(ctx, []string{"-config", bad, "-id", "a", "-deny"}, "test", io.Discard)
		}, "nonsense_key"},
		{"keygen argument", func() error { return Keygen([]string{"extra"}, io.Discard) }, `unexpected argument "extra"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var w bytes.Buffer
			if code := cli.Exit("approver", &w, c.run()); code != 2 || !strings.Contains(w.String(), c.want) {
				t.Errorf("exit %d, printed %q; want 2 and %q", code, w.String(), c.want)
			}
		})
	}
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "decision.pem")
	var stdout bytes.Buffer
	if err := Keygen([]string{"-out", out}, &stdout); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{out, filepath.Join(dir, "decision.pub.pem")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("keygen wrote no %s: %v", f, err)
		}
	}
	if !strings.HasPrefix(stdout.String(), "wrote "+out+" and ") {
		t.Errorf("stdout %q", stdout.String())
	}
	err := Keygen([]string{"-out", filepath.Join(dir, "missing", "k.pem")}, io.Discard)
	if code := cli.Code(err); code != 1 {
		t.Errorf("keygen into a missing directory: %v, exit %d, want 1", err, code)
	}
}
