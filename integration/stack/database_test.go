package stack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/internal/auditstore"
	reporterconfig "github.com/pangate/pangate/reporter/config"
)

// TestClickHouseDatabaseDropsIngestToo is the regression test of the <db>_ingest databases the integration
// harnesses left behind: ClickHouseDatabase drops what an earlier run left of the database and of its
// ingest database, creates the database, and drops both when the test ends.
func TestClickHouseDatabaseDropsIngestToo(t *testing.T) {
	ch := ClickHouse(t)
	name := UniqueName(t, "h2db")
	ingest := auditstore.IngestDatabase(name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exists := func(db string) bool {
		t.Helper()
		var n uint64
		if err := ch.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = ?", db).Scan(&n); err != nil {
			t.Fatalf("system.databases: %v", err)
		}
		return n == 1
	}
	// Left by an "earlier run": an ingest database with a table in it.
	for _, q := range []string{"CREATE DATABASE " + ingest, "CREATE TABLE " + ingest + ".t (a UInt8) ENGINE = Null"} {
		if err := ch.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() { _ = ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ingest) })
	t.Run("test", func(t *testing.T) {
		t.Setenv("PANGATE_KEEP_DB", "")
		if got := ClickHouseDatabase(t, name); got != name {
			t.Fatalf("ClickHouseDatabase returned %q, want %q", got, name)
		}
		if exists(ingest) {
			t.Errorf("%s left by an earlier run still exists after ClickHouseDatabase", ingest)
		}
		if !exists(name) {
			t.Errorf("ClickHouseDatabase did not create %s", name)
		}
		// What the indexer does beside the database it writes.
		if err := ch.Exec(ctx, "CREATE DATABASE "+ingest); err != nil {
			t.Fatal(err)
		}
	})
	for _, db := range []string{name, ingest} {
		if exists(db) {
			t.Errorf("%s still exists after the test that made it ended", db)
		}
	}
}

// TestRunReporterExitStatus: RunReporter returns the reporter's exit status and output, and the ambient
// PANGATE_REPORTER_ variables do not reach it (only the written config does): a bogus log level in the
// environment would be the first configuration error otherwise.
func TestRunReporterExitStatus(t *testing.T) {
	t.Setenv("PANGATE_REPORTER_LOG_LEVEL", "bogus-h2")
	cfg := reporterconfig.Defaults()
	cfg.Instance = "stack-run-reporter"
	r := RunReporter(t, ReporterOptions{}, cfg, "generate", "-kind", "daily_review", "-from", "2026-01-01")
	if r.Code != 2 {
		t.Fatalf("exit %d, want 2 (configuration error):\n%s", r.Code, r.Output())
	}
	if !strings.Contains(r.Stderr, "kafka.brokers") || strings.Contains(r.Stderr, "bogus-h2") {
		t.Fatalf("stderr does not name the written config's problem (kafka.brokers) alone:\n%s", r.Stderr)
	}
	if r := RunReporter(t, ReporterOptions{}, cfg, "generate", "-h"); r.Code != 0 {
		t.Fatalf("generate -h: exit %d, want 0:\n%s", r.Code, r.Output())
	}
}
