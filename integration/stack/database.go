package stack

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/pangate/pangate/internal/auditstore"
)

// ClickHouseDatabase creates ClickHouse database name as the stack's operator, after dropping what an
// earlier run left of it, and drops it when the test ends, unless PANGATE_KEEP_DB is set then (a benchmark
// keeps a seeded database that way). With it go the ingest database the indexer creates beside the one it
// writes (auditstore.IngestDatabase: <name>_ingest, docs/deploy.md): tests that dropped only name left
// one <name>_ingest a run behind. It returns name. The test holds ClickHouse (see the package doc) until
// it ends.
func ClickHouseDatabase(t testing.TB, name string) string {
	t.Helper()
	ch := ClickHouse(t)
	drop := func(ctx context.Context) error {
		for _, db := range []string{auditstore.IngestDatabase(name), name} {
			if err := ch.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := drop(ctx); err != nil {
		t.Fatalf("stack: drop ClickHouse database %s (and %s) left by an earlier run: %v", name, auditstore.IngestDatabase(name), err)
	}
	if err := ch.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("stack: create ClickHouse database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if os.Getenv("PANGATE_KEEP_DB") != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := drop(ctx); err != nil {
			t.Logf("stack: drop ClickHouse database %s at cleanup: %v (drop it by hand)", name, err)
		}
	})
	return name
}
