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

// TestExitStatus: the gateway's misuses are exit status 2 with text naming the mistake (a configuration
// error never as a JSON line), printed once.
func TestExitStatus(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		run    func(stderr io.Writer) error
		code   int
		stderr string
	}{
		{"run bad log level", func(io.Writer) error { return Run(ctx, []string{"-log-level", "loud"}, "test") }, 2,
			"gateway: -log-level \"loud\": use debug, info, warn or error\n"},
		{"run missing config", func(io.Writer) error { return Run(ctx, []string{"-config", missing}, "test") }, 2,
			"gateway: configuration error: "},
		{"policy without check", func(w io.Writer) error { return Policy(nil, io.Discard, w) }, 2,
			"usage: gateway policy check [flags] FILE\n"},
		{"policy bogus", func(w io.Writer) error { return Policy([]string{"bogus"}, io.Discard, w) }, 2,
			"usage: gateway policy check [flags] FILE\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var w bytes.Buffer
			err := c.run(&w)
			if code := cli.Exit("gateway", &w, err); code != c.code || !strings.HasPrefix(w.String(), c.stderr) || strings.Count(w.String(), "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want %d, one line starting %q", code, w.String(), c.code, c.stderr)
			}
		})
	}
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "checkpoint.pem")
	var stdout bytes.Buffer
	if err := Keygen([]string{"-out", out}, &stdout); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{out, filepath.Join(dir, "checkpoint.pub.pem")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("keygen wrote no %s: %v", f, err)
		}
	}
	if !strings.HasPrefix(stdout.String(), "wrote "+out+" and ") {
		t.Errorf("stdout %q", stdout.String())
	}
	var w bytes.Buffer
	err := Keygen([]string{"-out", filepath.Join(dir, "missing", "k.pem")}, io.Discard)
	if code := cli.Exit("gateway keygen", &w, err); code != 1 || !strings.HasPrefix(w.String(), "gateway keygen: ") {
		t.Errorf("keygen into a missing directory: exit %d, stderr %q; want 1, \"gateway keygen: …\"", code, w.String())
	}
}
