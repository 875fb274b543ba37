package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pangate/pangate/internal/cli"
)

// TestUsageErrors: the indexer's misuses are exit status 2, printed once as text (the flag package's own
// message for a bad flag), before ClickHouse or Kafka is dialled.
func TestUsageErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	for _, c := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"-bogus"}, ""},
		{[]string{"extra"}, "indexer: unexpected argument \"extra\" (the indexer takes only flags; see -h)\n"},
		{[]string{"-config", missing}, "indexer: "},
	} {
		var w bytes.Buffer
		err := Run(context.Background(), "indexer", c.args)
		if code := cli.Exit("indexer", &w, err, ConfigErrors...); code != 2 || !strings.HasPrefix(w.String(), c.stderr) || (c.stderr == "") != (w.Len() == 0) {
			t.Errorf("%q: exit %d, stderr %q; want 2, %q", c.args, code, w.String(), c.stderr)
		}
	}
}
