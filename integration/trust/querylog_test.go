package trust

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

// TestQueryLogShowsAccessNotOtherUsersTexts is the regression test of issue 13.3's query log finding: the
// auditor and reporter read every user's query texts in system.query_log. Now the server logs into
// pangate_querylog (operator only) and they read pangate_access.queries: who ran what kind of query when,
// with literals and numbers masked. Needs a ClickHouse started with the stack's current config.xml.
func TestQueryLogShowsAccessNotOtherUsersTexts(t *testing.T) {
	ep := stack.Env(t)
	op := stack.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	marker := stack.UniqueName(t, "h8qlog")
	secret := "h8-secret-" + marker
	// The operator's query carries a secret literal and a long number: what must not leak.
	var got string
	var num uint64
	qctx := clickhouse.Context(ctx, clickhouse.WithQueryID(marker))
	if err := op.QueryRow(qctx, "SELECT '"+secret+"', toUInt64(5500000000000004)").Scan(&got, &num); err != nil {
		t.Fatalf("operator query: %v", err)
	}
	if err := op.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		t.Fatalf("flush logs: %v", err)
	}

	for _, who := range []struct{ user, pw string }{
		{stack.ClickHouseAuditor, ep.ClickHouseAuditorPassword},
		{stack.ClickHouseReporter, ep.ClickHouseReporterPassword},
	} {
		conn := stack.ClickHouseAs(t, who.user, who.pw)
		// Every way to the raw texts is closed.
		for _, q := range []string{
			"SELECT count() FROM system.query_log WHERE query LIKE '%" + secret + "%'",
			"SELECT count() FROM system.query_thread_log WHERE query LIKE '%" + secret + "%'",
			"SELECT count() FROM " + chddl.QueryLogDatabase + ".query_log WHERE query LIKE '%" + secret + "%'",
			"SELECT count() FROM merge('" + chddl.QueryLogDatabase + "', '^query') WHERE query LIKE '%" + secret + "%'",
			"SELECT count() FROM pangate_access.queries WHERE query_masked LIKE '%" + secret + "%' OR query_masked LIKE '%5500000000000004%'",
		} {
			var n uint64
			err := conn.QueryRow(ctx, q).Scan(&n)
			if err == nil && n > 0 {
				t.Errorf("%s read the operator's query text: %q found %d rows", who.user, q, n)
			} else if err != nil {
				t.Logf("%s: %s: %s", who.user, q, firstLine(err))
			}
		}
		if n := countRows(t, ctx, conn, "SELECT count() FROM system.query_log"); n > 0 {
			t.Errorf("%s reads system.query_log (%d rows): the server still logs there; restart ClickHouse with the stack's config.xml", who.user, n)
		}
		// What the evidence needs is there: who, when, what kind, masked.
		// The server logs a query's finish just after the client has its result: flush again until it is
		// there (bounded by ctx).
		var kind, masked, user string
		var err error
		for {
			err = conn.QueryRow(ctx, "SELECT query_kind, query_masked, user FROM pangate_access.queries WHERE query_id = ? AND type = 2", marker).Scan(&kind, &masked, &user)
			if err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
			if ferr := op.Exec(ctx, "SYSTEM FLUSH LOGS"); ferr != nil {
				t.Fatalf("flush logs: %v", ferr)
			}
		}
		if err != nil {
			t.Errorf("%s cannot read the operator's query in pangate_access.queries: %v", who.user, err)
			continue
		}
		if kind != "SELECT" || user != "operator" || strings.Contains(masked, secret) || strings.Contains(masked, "5500000000000004") || !strings.Contains(masked, "SELECT ?") {
			t.Errorf("%s sees kind %q user %q text %q; want SELECT by operator with literals masked", who.user, kind, user, masked)
		}
	}
}

func countRows(t *testing.T, ctx context.Context, conn driver.Conn, q string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
		return 0
	}
	return n
}
