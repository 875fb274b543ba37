package query_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/pangate/pangate/indexer/seed"
	"github.com/pangate/pangate/indexer/service"
	"github.com/pangate/pangate/indexer/store"
	"github.com/pangate/pangate/integration/stack"
	. "github.com/pangate/pangate/reporter/query"
)

// TestPopulationsOverHTTPMatchNative: every population and the exceptions of a seeded store (indexer/seed:
// the indexer's own row mapping) read in RowBinary over clickhouse.http_addr give the rows, cell for cell,
// the native protocol gives (issue 16: the CSVs must not change with the transport).
func TestPopulationsOverHTTPMatchNative(t *testing.T) {
	ep := stack.Env(t)
	db := stack.ClickHouseDatabase(t, stack.UniqueName(t, "pkgstream"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	icfg := stack.IndexerConfig(t, &stack.IndexerOptions{Prefix: db + ".", Brokers: ep.KafkaBrokers, Database: db})
	if _, err := service.Migrate(ctx, icfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("migrate %s: %v", db, err)
	}
	conn, err := store.Open(store.Config{Addrs: []string{ep.ClickHouseAddr}, Database: db, User: ep.ClickHouseUser, Password: ep.ClickHousePassword, ReadTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	_, key, _ := ed25519.GenerateKey(nil)
	if _, err := seed.Run(ctx, conn, db, seed.Config{Events: 40000, From: from, Days: 2, Key: key, Prefix: db + "-"}, nil); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Addr: ep.ClickHouseAddr, Database: db, User: ep.ClickHouseUser, Password: ep.ClickHousePassword}
	native := NewUnchecked(conn, cfg)
	cfg.HTTPAddr = httpAddr(t)
	overHTTP := NewUnchecked(conn, cfg)
	per := Period{From: from, To: from.AddDate(0, 0, 2)}
	sqls := map[string]string{"exceptions.csv": ExceptionsSQL}
	for _, p := range Populations {
		if !p.Optional { // the query log copy is the operator's stack's, not the test database's
			sqls[p.File] = p.SQL
		}
	}
	nonEmpty := 0
	for name, tmpl := range sqls {
		sql := per.Render(tmpl)
		if h, err := ReadsOverHTTP(overHTTP, sql); err != nil || !h {
			t.Errorf("%s: not read over HTTP (%v): a column type the RowBinary reader does not render", name, err)
			continue
		}
		want, err := collect(t, native, sql)
		if err != nil {
			t.Fatalf("%s natively: %v", name, err)
		}
		got, err := collect(t, overHTTP, sql)
		if err != nil {
			t.Fatalf("%s over HTTP: %v", name, err)
		}
		if !slices.Equal(got.Columns, want.Columns) || len(got.Rows) != len(want.Rows) {
			t.Fatalf("%s over HTTP: columns %v, %d rows; natively %v, %d rows", name, got.Columns, len(got.Rows), want.Columns, len(want.Rows))
		}
		for i := range want.Rows {
			if !slices.Equal(got.Rows[i], want.Rows[i]) {
				t.Fatalf("%s row %d over HTTP:\n%q\nnatively:\n%q", name, i, got.Rows[i], want.Rows[i])
			}
		}
		if len(want.Rows) > 0 {
			nonEmpty++
		}
	}
	t.Logf("%d of %d results compared with rows", nonEmpty, len(sqls))
	// The seeded store fills most populations; a comparison of empty results proves nothing.
	if nonEmpty < len(sqls)/2 {
		t.Fatalf("only %d of %d results had rows: the seed no longer fills the populations", nonEmpty, len(sqls))
	}
}
