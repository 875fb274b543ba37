package trust

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/indexer/service"
	"github.com/pangate/pangate/integration/stack"
	chddl "github.com/pangate/pangate/internal/auditstore"
)

// hostile is what an attacker holding the indexer's password sends with every statement: ClickHouse 18.16
// applies settings sent with a query without the SET check, so a profile's allow_ddl=0 alone does not hold.
func hostile(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"allow_ddl": 1, "readonly": 0}))
}

// migratePangate applies the migrations and the ingest tables to database pangate, the audit database the
// stack's indexer user writes (through pangate_ingest).
func migratePangate(t *testing.T, ctx context.Context) {
	t.Helper()
	ep := stack.Env(t)
	stack.ClickHouse(t)
	cfg := config.Defaults()
	cfg.ClickHouse.Addrs = []string{ep.ClickHouseAddr}
	cfg.ClickHouse.Database = "pangate"
	cfg.ClickHouse.MigrateUser, cfg.ClickHouse.MigratePassword = ep.ClickHouseUser, ep.ClickHousePassword
	if _, err := service.Migrate(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("migrate database pangate: %v", err)
	}
}

func insertDeadLetter(ctx context.Context, conn driver.Conn, topic, reason string) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO dead_letters (kafka_time, kafka_time_us, kafka_topic, kafka_partition, kafka_offset, kafka_key, value, stage, reason, event_id, event_type, ingested_us)")
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	if err := b.Append(now, uint64(now.UnixMicro()), topic, int32(0), int64(0), "", "trust test", "parse", reason, "", "", uint64(0)); err != nil {
		return err
	}
	return b.Send()
}

// TestIndexerCannotRewriteAuditStore is the regression test of issue 13.3: the indexer user sent
// allow_ddl=1 with its query and dropped, deleted and truncated audit tables. Now it inserts into
// pangate_ingest (Null tables whose views write pangate) and every statement that could remove or change a
// stored row is refused, with allow_ddl=1 and readonly=0 sent by the client.
func TestIndexerCannotRewriteAuditStore(t *testing.T) {
	ep := stack.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	migratePangate(t, ctx)
	op := stack.ClickHouse(t)
	indexer := stack.ClickHouseAs(t, stack.ClickHouseIndexer, ep.ClickHouseIndexerPassword)
	marker := stack.UniqueName(t, "h8trust")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = op.Exec(ctx, "ALTER TABLE pangate.dead_letters DELETE WHERE kafka_topic = ?", marker)
	})
	count := func() uint64 {
		t.Helper()
		var n uint64
		if err := op.QueryRow(ctx, "SELECT count() FROM pangate.dead_letters WHERE kafka_topic = ? AND reason = 'original'", marker).Scan(&n); err != nil {
			t.Fatalf("count marker rows as operator: %v", err)
		}
		return n
	}

	// The indexer's one job still works, with the hostile settings too.
	if err := insertDeadLetter(hostile(ctx), indexer, marker, "original"); err != nil {
		t.Fatalf("indexer insert through pangate_ingest: %v", err)
	}
	if n := count(); n != 1 {
		t.Fatalf("after one insert pangate.dead_letters has %d marker rows, want 1", n)
	}

	// The settings do arrive: with them the indexer may run DDL in its own ingest database (Memory table,
	// dropped again). Without allow_ddl=1 this CREATE is refused, so the refusals below are not an artefact
	// of settings the server never saw.
	scratch := "pangate_ingest." + marker + "_scratch"
	if err := indexer.Exec(ctx, "CREATE TABLE "+scratch+" (a UInt8) ENGINE = Memory"); err == nil || !strings.Contains(err.Error(), "DDL queries are prohibited") {
		t.Fatalf("indexer CREATE without allow_ddl=1: got %v, want the profile's DDL refusal", err)
	}
	if err := indexer.Exec(hostile(ctx), "CREATE TABLE "+scratch+" (a UInt8) ENGINE = Memory"); err != nil {
		t.Fatalf("indexer CREATE in its ingest database with allow_ddl=1: %v (the client's settings did not reach the server?)", err)
	}
	if err := indexer.Exec(hostile(ctx), "DROP TABLE "+scratch); err != nil {
		t.Errorf("drop %s: %v", scratch, err)
	}

	view := "pangate_ingest.dead_letters" + chddl.ViewSuffix
	for _, c := range []struct{ query, refusal string }{
		{"DROP TABLE pangate.dead_letters", "Access denied to database pangate"},
		{"DROP TABLE pangate.events", "Access denied to database pangate"},
		{"DROP DATABASE pangate", "Access denied to database pangate"},
		{"DETACH TABLE pangate.events", "Access denied to database pangate"},
		{"TRUNCATE TABLE pangate.dead_letters", "Access denied to database pangate"},
		{"ALTER TABLE pangate.dead_letters DELETE WHERE kafka_topic = '" + marker + "'", "Access denied to database pangate"},
		{"ALTER TABLE pangate.dead_letters UPDATE reason = 'edited' WHERE kafka_topic = '" + marker + "'", "Access denied to database pangate"},
		{"ALTER TABLE pangate.dead_letters DROP PARTITION " + time.Now().UTC().Format("200601"), "Access denied to database pangate"},
		{"ALTER TABLE pangate.dead_letters DETACH PARTITION " + time.Now().UTC().Format("200601"), "Access denied to database pangate"},
		{"ALTER TABLE pangate.events ADD COLUMN evil String", "Access denied to database pangate"},
		{"OPTIMIZE TABLE pangate.dead_letters FINAL", "Access denied to database pangate"},
		{"RENAME TABLE pangate.events TO pangate_ingest.stolen", "Access denied to database pangate"},
		{"CREATE TABLE pangate.evil (a UInt8) ENGINE = Memory", "Access denied to database pangate"},
		{"CREATE TABLE pangate_ingest.evil AS pangate.events", "Access denied to database pangate"},
		{"SELECT count() FROM pangate.events", "Access denied to database pangate"},
		// Through the view that writes the audit table: it refuses to act on its TO table.
		{"ALTER TABLE " + view + " DELETE WHERE 1", "targets existing table"},
		{"ALTER TABLE " + view + " DROP PARTITION " + time.Now().UTC().Format("200601"), "targets existing table"},
		{"OPTIMIZE TABLE " + view + " FINAL", "targets existing table"},
		// The ingest table itself holds nothing to delete.
		{"ALTER TABLE pangate_ingest.dead_letters DELETE WHERE 1", "not supported"},
	} {
		err := indexer.Exec(hostile(ctx), c.query)
		switch {
		case err == nil:
			t.Errorf("indexer with allow_ddl=1, readonly=0 ran %q", c.query)
		case !strings.Contains(err.Error(), c.refusal):
			t.Errorf("indexer %q: refused with %q, want %q", c.query, firstLine(err), c.refusal)
		default:
			t.Logf("indexer: %s: %s", c.query, firstLine(err))
		}
	}
	// Truncating the view is accepted and does nothing: it has no inner table.
	_ = indexer.Exec(hostile(ctx), "TRUNCATE TABLE "+view)

	if n := count(); n != 1 {
		t.Errorf("after the attempts pangate.dead_letters has %d original marker rows, want 1", n)
	}
	var n uint64
	if err := op.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = 'pangate' AND name IN ('events', 'dead_letters')").Scan(&n); err != nil || n != 2 {
		t.Errorf("pangate.events and pangate.dead_letters: %d of 2 present (%v)", n, err)
	}
	if err := op.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = 'pangate' AND table = 'events' AND name = 'evil'").Scan(&n); err != nil || n != 0 {
		t.Errorf("pangate.events gained a column: %d %v", n, err)
	}

	// Still inserting afterwards.
	if err := insertDeadLetter(ctx, indexer, marker, "original"); err != nil {
		t.Fatalf("indexer insert after the attempts: %v", err)
	}
	if n := count(); n != 2 {
		t.Errorf("after a second insert pangate.dead_letters has %d marker rows, want 2", n)
	}
}

// TestIngestFailsWithoutAuditTable checks that an insert into an ingest table whose audit table is missing
// fails instead of being acknowledged and lost (a Buffer table would drop the block with only a log line).
func TestIngestFailsWithoutAuditTable(t *testing.T) {
	op := stack.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := stack.ClickHouseDatabase(t, stack.UniqueName(t, "h8audit"))
	if err := op.Exec(ctx, "CREATE TABLE "+db+".t (a UInt32, b String DEFAULT 'dflt') ENGINE = MergeTree ORDER BY a"); err != nil {
		t.Fatal(err)
	}
	if err := chddl.EnsureIngest(ctx, op, db, []string{"t"}); err != nil {
		t.Fatalf("ensure ingest: %v", err)
	}
	ing := chddl.IngestDatabase(db)
	insert := func(cols string, vals ...any) error {
		b, err := op.PrepareBatch(ctx, "INSERT INTO "+ing+".t ("+cols+")")
		if err != nil {
			return err
		}
		if err := b.Append(vals...); err != nil {
			return err
		}
		return b.Send()
	}
	if err := insert("a", uint32(1)); err != nil {
		t.Fatalf("insert through %s.t: %v", ing, err)
	}
	var b string
	if err := op.QueryRow(ctx, "SELECT b FROM "+db+".t WHERE a = 1").Scan(&b); err != nil || b != "dflt" {
		t.Errorf("row through the view: b = %q (%v), want the audit table's default", b, err)
	}
	// A migration adds a column: EnsureIngest adds it to the ingest table and the view carries it.
	if err := op.Exec(ctx, "ALTER TABLE "+db+".t ADD COLUMN c UInt8"); err != nil {
		t.Fatal(err)
	}
	if err := chddl.EnsureIngest(ctx, op, db, []string{"t"}); err != nil {
		t.Fatalf("ensure ingest after a new column: %v", err)
	}
	if err := insert("a, c", uint32(2), uint8(7)); err != nil {
		t.Fatalf("insert with the new column: %v", err)
	}
	var c uint8
	if err := op.QueryRow(ctx, "SELECT c FROM "+db+".t WHERE a = 2").Scan(&c); err != nil || c != 7 {
		t.Errorf("new column through the view: %d (%v), want 7", c, err)
	}
	if err := op.Exec(ctx, "DROP TABLE "+db+".t"); err != nil {
		t.Fatal(err)
	}
	if err := insert("a", uint32(3)); err == nil {
		t.Error("insert into the ingest table succeeded with its audit table dropped: the row is lost")
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
