package indexer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	chddl "github.com/pangate/pangate/internal/auditstore"
	"github.com/pangate/pangate/internal/auditstore/migrate"
)

// TestMigrations: applying twice changes nothing, a lost version record is repaired without errors (every
// statement is idempotent), and a database at a newer version is refused.
func TestMigrations(t *testing.T) {
	t.Parallel()
	en := newEnv(t) // applied once already
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms, err := migrate.Load(chddl.Migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	latest := ms[len(ms)-1].Version
	tables := en.count("SELECT count() FROM system.tables WHERE database = currentDatabase()")
	res, err := migrate.Apply(ctx, en.ch, ms)
	if err != nil || len(res.Applied) != 0 || res.To != latest {
		t.Fatalf("second apply: %+v %v", res, err)
	}
	if n := en.count("SELECT count() FROM schema_migrations"); n != uint64(len(ms)) {
		t.Errorf("schema_migrations rows %d, want %d", n, len(ms))
	}
	// As if the indexer crashed after the DDL but before recording the version.
	if err := en.ch.Exec(ctx, "TRUNCATE TABLE schema_migrations"); err != nil {
		t.Fatal(err)
	}
	if res, err = migrate.Apply(ctx, en.ch, ms); err != nil || res.From != 0 || res.To != latest {
		t.Fatalf("re-apply over existing tables: %+v %v", res, err)
	}
	if n := en.count("SELECT count() FROM system.tables WHERE database = currentDatabase()"); n != tables {
		t.Errorf("tables %d after re-apply, want %d", n, tables)
	}
	// A newer indexer migrated this database: refuse, change nothing.
	b, err := en.ch.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(latest+1, "9999_future.sql", "x", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Apply(ctx, en.ch, ms); !errors.Is(err, migrate.ErrNewerSchema) {
		t.Fatalf("apply on a newer schema: %v, want ErrNewerSchema", err)
	}
	// And the binary refuses to start on it.
	p := en.start()
	select {
	case <-p.Done():
		if code := p.Cmd.ProcessState.ExitCode(); code == 0 {
			t.Errorf("indexer exited 0 on a newer schema")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("indexer kept running on a database at a newer schema version")
	}
}
