package foundation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pangate/pangate/integration/stack"
	chddl "github.com/pangate/pangate/internal/auditstore"
)

// chTable creates a MergeTree table in database pangate (the only one the
// restricted users may use) with a unique name, dropped at cleanup.
func chTable(t *testing.T, op driver.Conn) string {
	t.Helper()
	table := "pangate." + stack.UniqueName(t, "events")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := op.Exec(ctx, `CREATE TABLE `+table+` (
		id UInt64, session String, ts DateTime, tags Array(String)
	) ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (session, id)`)
	if err != nil {
		t.Fatalf("create table as operator: %v", err)
	}
	// The indexer writes through pangate_ingest (internal/auditstore/ingest.go).
	name := strings.TrimPrefix(table, "pangate.")
	if err := chddl.EnsureIngest(ctx, op, "pangate", []string{name}); err != nil {
		t.Fatalf("ingest table for %s: %v", table, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = op.Exec(ctx, "DROP TABLE IF EXISTS pangate_ingest."+name+chddl.ViewSuffix)
		_ = op.Exec(ctx, "DROP TABLE IF EXISTS pangate_ingest."+name)
		_ = op.Exec(ctx, "DROP TABLE IF EXISTS "+table)
	})
	return table
}

func count(t *testing.T, conn driver.Conn, table string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func insert(ctx context.Context, conn driver.Conn, table string, ids ...uint64) error {
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" (id, session, ts, tags)")
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := batch.Append(id, "s1", time.Unix(1_790_000_000+int64(id), 0).UTC(), []string{"a", "b"}); err != nil {
			return err
		}
	}
	return batch.Send()
}

// TestClickHouseRowsAndUsers creates a table as the operator, inserts as the
// indexer, reads as the auditor and reporter, and checks the users' limits:
// auditor and reporter cannot insert, the indexer cannot run DDL, and none of
// them can read outside its databases (the indexer writes through
// pangate_ingest and cannot read pangate).
func TestClickHouseRowsAndUsers(t *testing.T) {
	env := stack.Env(t)
	op := stack.ClickHouse(t)
	table := chTable(t, op)
	indexer := stack.ClickHouseAs(t, stack.ClickHouseIndexer, env.ClickHouseIndexerPassword)
	auditor := stack.ClickHouseAs(t, stack.ClickHouseAuditor, env.ClickHouseAuditorPassword)
	reporter := stack.ClickHouseAs(t, stack.ClickHouseReporter, env.ClickHouseReporterPassword)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ingest := "pangate_ingest." + strings.TrimPrefix(table, "pangate.")
	if err := insert(ctx, indexer, ingest, 1, 2, 3); err != nil {
		t.Fatalf("insert as indexer: %v", err)
	}
	rows, err := auditor.Query(ctx, "SELECT id, session, ts, tags FROM "+table+" ORDER BY id")
	if err != nil {
		t.Fatalf("select as auditor: %v", err)
	}
	var ids []uint64
	for rows.Next() {
		var (
			id      uint64
			session string
			ts      time.Time
			tags    []string
		)
		if err := rows.Scan(&id, &session, &ts, &tags); err != nil {
			t.Fatalf("scan: %v", err)
		}
		if session != "s1" || ts.Unix() != 1_790_000_000+int64(id) || strings.Join(tags, ",") != "a,b" {
			t.Errorf("row %d = %q %v %v", id, session, ts, tags)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	rows.Close()
	if len(ids) != 3 || ids[0] != 1 || ids[2] != 3 {
		t.Fatalf("auditor read ids %v, want [1 2 3]", ids)
	}
	if n := count(t, reporter, table); n != 3 {
		t.Errorf("reporter counts %d rows, want 3", n)
	}

	for name, conn := range map[string]driver.Conn{"auditor": auditor, "reporter": reporter} {
		if err := insert(ctx, conn, table, 99); err == nil {
			t.Errorf("%s inserted a row; readonly users must not", name)
		}
		if err := conn.Exec(ctx, "DROP TABLE "+table); err == nil {
			t.Errorf("%s dropped the table; readonly users must not", name)
		}
	}
	if err := indexer.Exec(ctx, "DROP TABLE "+table); err == nil {
		t.Fatal("indexer dropped the table; it must not run DDL")
	}
	if err := indexer.Exec(ctx, "ALTER TABLE "+table+" DELETE WHERE id = 1"); err == nil {
		t.Error("indexer ran ALTER ... DELETE; it must not run DDL")
	}
	if err := indexer.Exec(ctx, "CREATE TABLE "+table+"x (a UInt8) ENGINE = Memory"); err == nil {
		t.Error("indexer created a table; it must not run DDL")
	}
	if n := count(t, op, table); n != 3 {
		t.Errorf("after the refused writes the table has %d rows, want 3", n)
	}

	// Outside database pangate: a table in default is invisible to them.
	other := "default." + stack.UniqueName(t, "other")
	if err := op.Exec(ctx, "CREATE TABLE "+other+" (a UInt8) ENGINE = Memory"); err != nil {
		t.Fatalf("create %s: %v", other, err)
	}
	t.Cleanup(func() { _ = op.Exec(context.Background(), "DROP TABLE IF EXISTS "+other) })
	if n := count(t, op, table); n != 3 {
		t.Fatalf("operator counts %d rows after the indexer's insert, want 3", n)
	}
	for name, conn := range map[string]driver.Conn{"indexer": indexer, "auditor": auditor, "reporter": reporter} {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+other).Scan(&n); err == nil {
			t.Errorf("%s read %s; it may use database pangate only", name, other)
		}
	}
}

// TestClickHouseRefusesBadPasswords checks that a wrong password and the
// passwordless default user are refused.
func TestClickHouseRefusesBadPasswords(t *testing.T) {
	env := stack.Env(t)
	stack.ClickHouse(t) // the server is up, so a refusal below is about the credentials
	for _, auth := range []clickhouse.Auth{
		{Username: env.ClickHouseUser, Password: env.ClickHousePassword + "x"},
		{Username: stack.ClickHouseIndexer, Password: env.ClickHouseAuditorPassword, Database: "pangate"},
		{Username: "default"},
	} {
		conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{env.ClickHouseAddr}, Auth: auth, DialTimeout: 5 * time.Second})
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = conn.Ping(ctx)
		cancel()
		conn.Close()
		if err == nil {
			t.Errorf("user %q with a wrong password was let in", auth.Username)
		}
	}
}
