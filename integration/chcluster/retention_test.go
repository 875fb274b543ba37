package chcluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/indexer/rows"
	"github.com/pangate/pangate/indexer/service"
	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/schemas"
)

// TestRetentionOnCluster: with clickhouse.cluster set, the indexer's retention job drops the months older
// than the kept 12 from the *_local tables on one replica of every shard, and replication carries the drop
// to the other replicas. Checked on each of the four servers (system.parts):
// the old month is gone from every replica of every shard and table, the recent month is still there;
// through the Distributed tables no old event is left and every recent one is; each drop is a
// retention.dropped event naming its *_local table, the events form one chain that the indexer ingests,
// and a second run finds nothing to do.
func TestRetentionOnCluster(t *testing.T) {
	en := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	now := time.Now().UTC()
	old := now.AddDate(0, -14, 0)
	ob := scenario.New(old)
	ob.Prefix = en.prefix + "old-"
	workload(ob, ob.Gateway("gw-old", en.key, time.Minute), 40)
	nb := scenario.New(now.Add(-10 * time.Minute))
	nb.Prefix = en.prefix + "new-"
	workload(nb, nb.Gateway("gw-new", en.key, time.Minute), 40)

	ictx, stopIndexer := context.WithCancel(ctx)
	indexer := &run{done: make(chan struct{})}
	go func() {
		defer close(indexer.done)
		indexer.err = service.Run(ictx, en.indexerConfig(), slog.New(slog.DiscardHandler))
	}()
	defer func() {
		stopIndexer()
		<-indexer.done
	}()
	en.produce(ctx, append(en.records(ob.Events, ob.Approvals), en.records(nb.Events, nb.Approvals)...))
	en.caughtUp(ctx, indexer)
	en.ch = en.c.open(t, joinAddrs(en.c.addrs()), en.db)
	en.replicasAgree(ctx)

	oldPart := fmt.Sprintf("%04d%02d", old.Year(), int(old.Month()))
	newPart := fmt.Sprintf("%04d%02d", now.Year(), int(now.Month()))
	cutoff := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -12, 0)
	oldEvents := en.count(ctx, en.ch, fmt.Sprintf("SELECT count() FROM events FINAL WHERE time < toDateTime(%d)", cutoff.Unix()))
	recent := en.count(ctx, en.ch, fmt.Sprintf("SELECT count() FROM events FINAL WHERE time >= toDateTime(%d) AND event_type != 'retention.dropped'", cutoff.Unix()))
	if oldEvents == 0 || recent == 0 {
		t.Fatalf("before retention: %d old and %d recent events; the test needs both", oldEvents, recent)
	}
	// partitionsOn counts the active parts of the test's *_local tables in partition p on one server.
	partitionsOn := func(n node, p string) map[string]uint64 {
		conn := en.c.open(t, n.addr, "default")
		rs, err := conn.Query(ctx, "SELECT table, count() FROM system.parts WHERE database = ? AND partition = ? AND active AND endsWith(table, '_local') GROUP BY table", en.db, p)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		out := map[string]uint64{}
		for rs.Next() {
			var table string
			var c uint64
			if err := rs.Scan(&table, &c); err != nil {
				t.Fatal(err)
			}
			out[table] = c
		}
		return out
	}
	for _, n := range en.c.nodes {
		if len(partitionsOn(n, oldPart)) == 0 {
			t.Fatalf("%s holds no part of %s before retention", n.name, oldPart)
		}
	}

	cfg := en.indexerConfig()
	cfg.Retention.Disabled = false
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a cluster configuration with retention on: %v", err)
	}
	job, closeJob, err := service.NewRetention(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeJob()
	began := time.Now()
	dropped, err := job.Once(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("retention dropped %s from %d tables on every shard in %s", oldPart, len(dropped), time.Since(began).Round(100*time.Millisecond))

	tables := map[string]bool{}
	for _, e := range dropped {
		var d schemas.RetentionDropped
		if err := e.Decode(&d); err != nil {
			t.Fatal(err)
		}
		if len(d.Partitions) != 1 || d.Partitions[0] != oldPart || d.KeepMonths != 12 || !strings.HasSuffix(d.Table, "_local") {
			t.Errorf("dropped %+v, want %s of a *_local table, keeping 12 months", d, oldPart)
		}
		tables[d.Table] = true
	}
	// The replica the drop ran on loses the parts at once; its shard's other replica when it applies the
	// drop from the replication log.
	for _, n := range en.c.nodes {
		left := partitionsOn(n, oldPart)
		for deadline := time.Now().Add(time.Minute); len(left) > 0 && time.Now().Before(deadline); left = partitionsOn(n, oldPart) {
			time.Sleep(200 * time.Millisecond)
		}
		for _, tb := range rows.Partitioned {
			if got := left[tb.Name+"_local"]; got != 0 {
				t.Errorf("%s: %s_local still has %d parts of %s a minute after the drop", n.name, tb.Name, got, oldPart)
			}
		}
	}
	for _, tb := range []string{"events", "sessions", "session_ends", "statements", "statement_tables"} {
		if !tables[tb+"_local"] {
			t.Errorf("no retention.dropped for %s_local (got %v)", tb, tables)
		}
	}
	for _, n := range en.c.nodes {
		if got := partitionsOn(n, newPart); got["events_local"] == 0 {
			t.Errorf("%s lost the recent month %s of events_local: %v", n.name, newPart, got)
		}
	}
	if n := en.count(ctx, en.ch, fmt.Sprintf("SELECT count() FROM events FINAL WHERE time < toDateTime(%d)", cutoff.Unix())); n != 0 {
		t.Errorf("%d events older than %s remain (were %d)", n, cutoff, oldEvents)
	}
	if n := en.count(ctx, en.ch, fmt.Sprintf("SELECT count() FROM events FINAL WHERE time >= toDateTime(%d) AND event_type != 'retention.dropped'", cutoff.Unix())); n != recent {
		t.Errorf("%d recent events after retention, %d before", n, recent)
	}
	if err := schemas.VerifySession(dropped); err != nil {
		t.Errorf("retention events do not form one chain: %v", err)
	}
	again, err := job.Once(ctx, now)
	if err != nil || len(again) != 0 {
		t.Errorf("second run dropped %v (%v)", again, err)
	}
	// The drops are audit events too: the indexer ingests them from the operations topic.
	q := fmt.Sprintf("SELECT count() FROM lifecycle FINAL WHERE event_type = 'retention.dropped' AND has(partitions, '%s')", oldPart)
	for en.count(ctx, en.ch, q) < uint64(len(dropped)) {
		select {
		case <-indexer.done:
			t.Fatalf("indexer stopped: %v", indexer.err)
		case <-ctx.Done():
			t.Fatalf("%d retention.dropped events in lifecycle, want %d: %v", en.count(context.Background(), en.ch, q), len(dropped), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
