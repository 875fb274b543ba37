package indexer_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/indexer/service"
	"github.com/pangate/pangate/integration/stack"
)

// TestAccessControl checks the stack's ClickHouse users against the schema in database pangate (the only
// database the auditor and reporter may use): the indexer user inserts through pangate_ingest, cannot read
// pangate and cannot DROP, ALTER or CREATE (PCI DSS 10.3.2); auditor and reporter read but cannot insert or change anything.
func TestAccessControl(t *testing.T) {
	t.Parallel()
	ep := stack.Env(t)
	op := stack.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := config.Defaults()
	cfg.ClickHouse.Addrs = []string{ep.ClickHouseAddr}
	cfg.ClickHouse.Database = "pangate"
	cfg.ClickHouse.MigrateUser, cfg.ClickHouse.MigratePassword = ep.ClickHouseUser, ep.ClickHousePassword
	if _, err := service.Migrate(ctx, cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil))); err != nil {
		t.Fatalf("migrate database pangate: %v", err)
	}
	marker := stack.UniqueName(t, "acl")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = op.Exec(ctx, "ALTER TABLE pangate.dead_letters DELETE WHERE kafka_topic = ?", marker)
	})
	insert := func(conn driver.Conn) error {
		b, err := conn.PrepareBatch(ctx, "INSERT INTO dead_letters (kafka_time, kafka_time_us, kafka_topic, kafka_partition, kafka_offset, kafka_key, value, stage, reason, event_id, event_type, ingested_us)")
		if err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Second)
		if err := b.Append(now, uint64(now.UnixMicro()), marker, int32(0), int64(0), "", "access test", "parse", "access test", "", "", uint64(0)); err != nil {
			return err
		}
		return b.Send()
	}
	denied := []string{
		"DROP TABLE events",
		"ALTER TABLE events DROP PARTITION 197001",
		"ALTER TABLE events ADD COLUMN evil String",
		"CREATE TABLE evil (x String) ENGINE = Memory",
		"TRUNCATE TABLE events",
		"RENAME TABLE events TO events_old",
	}

	indexer := stack.ClickHouseAs(t, stack.ClickHouseIndexer, ep.ClickHouseIndexerPassword)
	if err := insert(indexer); err != nil {
		t.Errorf("indexer cannot insert: %v", err)
	}
	// The indexer writes pangate_ingest (views carry the rows into pangate) and cannot read pangate at all;
	// integration/trust tries every rewrite with allow_ddl=1 sent by the client.
	var n uint64
	if err := op.QueryRow(ctx, "SELECT count() FROM pangate.dead_letters FINAL WHERE kafka_topic = ?", marker).Scan(&n); err != nil || n != 1 {
		t.Errorf("row inserted by the indexer: %d rows in pangate.dead_letters, %v", n, err)
	}
	if err := indexer.QueryRow(ctx, "SELECT count() FROM pangate.dead_letters").Scan(&n); err == nil {
		t.Error("indexer read pangate.dead_letters; it may use pangate_ingest only")
	}
	for _, q := range denied {
		if err := indexer.Exec(ctx, q); err == nil {
			t.Errorf("indexer user ran %q", q)
		} else {
			t.Logf("indexer: %s: refused: %s", q, firstLine(err))
		}
	}
	for _, who := range []struct{ user, pw string }{
		{stack.ClickHouseAuditor, ep.ClickHouseAuditorPassword},
		{stack.ClickHouseReporter, ep.ClickHouseReporterPassword},
	} {
		conn := stack.ClickHouseAs(t, who.user, who.pw)
		if err := insert(conn); err == nil {
			t.Errorf("%s inserted into dead_letters", who.user)
		} else {
			t.Logf("%s: INSERT refused: %s", who.user, firstLine(err))
		}
		for _, q := range denied {
			if err := conn.Exec(ctx, q); err == nil {
				t.Errorf("%s ran %q", who.user, q)
			}
		}
		if err := conn.QueryRow(ctx, "SELECT count() FROM events FINAL").Scan(&n); err != nil {
			t.Errorf("%s cannot read events: %v", who.user, err)
		}
	}
	// The tables are intact.
	if err := op.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = 'pangate' AND table = 'events' AND name = 'evil'").Scan(&n); err != nil || n != 0 {
		t.Errorf("events gained a column: %d %v", n, err)
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
