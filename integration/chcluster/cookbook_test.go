package chcluster_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pangate/pangate/indexer/cookbook"
	"github.com/pangate/pangate/indexer/service"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/reporter/scenario"
)

// TestCookbookMatchesSingleNode: the same records, ingested by two indexers (one with clickhouse.cluster into
// the replicated profile, one into the single-node stack), give the same answer to every query of the
// auditors' cookbook (indexer/cookbook, docs/auditors.md), run unchanged against the Distributed tables and
// their views. A second migration of the cluster database finds every version recorded (read back through
// the Distributed schema_migrations) and applies nothing.
func TestCookbookMatchesSingleNode(t *testing.T) {
	en := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Yesterday's and today's events, so the queries about "yesterday" and "today" have rows.
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(-15 * time.Hour)
	b := scenario.New(start)
	b.Prefix = en.prefix
	workload(b, b.Gateway("gw-cookbook", en.key, time.Minute), 150)
	recs := en.records(b.Events, b.Approvals)

	single := stack.ClickHouseDatabase(t, stack.UniqueName(t, "chs"))
	ep := stack.Env(t)
	singleCfg := en.indexerConfig()
	singleCfg.Instance = "indexer-chcluster-single"
	singleCfg.Kafka.Group, singleCfg.Kafka.InstanceID = en.prefix+"single", en.prefix+"single-indexer"
	singleCfg.ClickHouse.Addrs, singleCfg.ClickHouse.Cluster, singleCfg.ClickHouse.Database = []string{ep.ClickHouseAddr}, "", single
	singleCfg.ClickHouse.User, singleCfg.ClickHouse.Password = ep.ClickHouseUser, ep.ClickHousePassword
	singleCfg.ClickHouse.MigrateUser, singleCfg.ClickHouse.MigratePassword = ep.ClickHouseUser, ep.ClickHousePassword

	ictx, stop := context.WithCancel(ctx)
	var runs []*run
	for _, cfg := range []struct {
		name string
		run  func() error
	}{
		{"cluster", func() error {
			return service.Run(ictx, en.indexerConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		}},
		{"single", func() error { return service.Run(ictx, singleCfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }},
	} {
		r := &run{done: make(chan struct{})}
		runs = append(runs, r)
		go func() {
			defer close(r.done)
			r.err = cfg.run()
		}()
	}
	defer func() {
		stop()
		for _, r := range runs {
			select {
			case <-r.done:
			case <-time.After(15 * time.Second):
			}
		}
	}()
	en.produce(ctx, recs)
	en.groupCaughtUp(ctx, en.prefix+"group", runs[0])
	en.groupCaughtUp(ctx, en.prefix+"single", runs[1])
	stop()

	clusterConn := en.c.open(t, strings.Join(en.c.addrs(), ","), en.db)
	singleConn := openSingle(t, ep.ClickHouseAddr, single, ep.ClickHouseUser, ep.ClickHousePassword)

	qs, err := cookbook.All()
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]map[string]string{
		"02_session_statements":  {"session_id": b.Events[len(b.Events)/2].Session},
		"07_statements_on_table": {"target_table": "payments"},
	}
	withRows := 0
	for _, q := range qs {
		sql, err := q.Render(params[q.Name])
		if err != nil {
			t.Fatal(err)
		}
		want := rowsOf(t, ctx, singleConn, sql)
		got := rowsOf(t, ctx, clusterConn, sql)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("cookbook %s: the cluster answers\n%s\nthe single node\n%s", q.Name, strings.Join(got, "\n"), strings.Join(want, "\n"))
			continue
		}
		if len(want) > 0 {
			withRows++
		}
	}
	t.Logf("%d cookbook queries give the same answer on the cluster and the single node, %d of them with rows", len(qs), withRows)
	if withRows < len(qs)/2 {
		t.Fatalf("only %d of %d cookbook queries returned rows: the scenario does not exercise them", withRows, len(qs))
	}

	res, err := service.Migrate(ctx, en.indexerConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("second migration of the cluster database: %v", err)
	}
	if len(res.Applied) != 0 || res.From == 0 || res.From != res.To {
		t.Fatalf("second migration of the cluster database: %+v, want every version recorded and nothing applied", res)
	}
}

func openSingle(t *testing.T, addr, db, user, password string) driver.Conn {
	t.Helper()
	c := cluster{user: user, password: password}
	return c.open(t, addr, db)
}

// rowsOf runs sql and returns its rows printed with fmt, sorted (rows that tie in a query's ORDER BY may
// come back in any order from the shards).
func rowsOf(t *testing.T, ctx context.Context, conn driver.Conn, sql string) []string {
	t.Helper()
	rs, err := conn.Query(ctx, sql)
	if err != nil {
		t.Fatalf("query failed: %v\n%s", err, sql)
	}
	defer rs.Close()
	cols := rs.ColumnTypes()
	var out []string
	for rs.Next() {
		vals := make([]any, len(cols))
		for i, c := range cols {
			vals[i] = reflect.New(c.ScanType()).Interface()
		}
		if err := rs.Scan(vals...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, c := range cols {
			fmt.Fprintf(&b, "%s=%v ", c.Name(), reflect.ValueOf(vals[i]).Elem().Interface())
		}
		out = append(out, b.String())
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
