package chcluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/indexer/service"
	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/schemas"
)

var (
	periodFrom = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) // the period both packages cover
	periodTo   = periodFrom.Add(24 * time.Hour)
)

// workload is one gateway run of sessions: cardholder reads, writes recorded ahead with their outcomes,
// every 25th session a held DDL (approved, denied or expired), every 40th a blocked COPY, failed logins.
func workload(b *scenario.Builder, gw *scenario.Gateway, sessions int) {
	decisions := []string{"approved", "denied", "expired"}
	for i := 0; i < sessions; i++ {
		s := gw.Session(scenario.Identity{Subject: fmt.Sprintf("repo:acme/etl-%d", i%7), Human: i%5 == 0})
		s.Query(scenario.Statement("SELECT pan FROM cards WHERE id = $1", "read", []string{"cards"}, true), "ok", 1, nil)
		s.Query(scenario.Statement("SELECT 1", "read", nil, false), "ok", 1, nil)
		s.Query(scenario.Statement("UPDATE payments SET state = $1 WHERE id = $2", "write", []string{"payments"}, false), []string{"ok", "ok", "error", "skipped"}[i%4], 1, nil)
		if i%25 == 0 {
			s.Hold(scenario.Statement("ALTER TABLE cards ADD COLUMN note text", "ddl", []string{"cards"}, true), decisions[(i/25)%3], 20*time.Second)
		}
		if i%40 == 0 {
			s.Blocked(scenario.Statement("COPY cards TO STDOUT", "copy", []string{"cards"}, true), "policy_deny", nil)
		}
		b.Advance(7 * time.Second)
		s.End()
		if i%100 == 0 {
			gw.AuthFailed("mallory", "expired")
		}
	}
	b.Advance(2 * time.Minute)
	gw.Stop()
}

func ids(sets ...[]schemas.Event) map[string]bool {
	out := map[string]bool{}
	for _, set := range sets {
		for _, e := range set {
			out[e.ID] = true
		}
	}
	return out
}

// TestReplicaKilledMidIngestion: the indexer ingests into the cluster through the Distributed tables while
// one replica (the first address, where the indexer's connections and the Distributed inserts of its shard
// land, and which holds shard 1 of the period's events) is killed with SIGKILL and brought back. The
// indexer retries the batches the kill broke (the same Kafka records again: replays the tables must
// collapse). Afterwards nothing is lost and nothing duplicated for auditors (count with FINAL = distinct
// event ids = every id produced), the replicas of each shard hold the same rows, the day ingested during
// the fault verifies (chains, checkpoints: no event missing or doubled), and the evidence package of the
// period, built before the fault, is identical in every population and count to the ones built after it,
// read from the killed server (which prefers its own replica of shard 1) and from another.
//
// A producer's replay of a record at a new offset is not part of it: the reporter rightly reports that as a
// reordered or duplicated event (integrity, not exactly-once, is then at stake).
func TestReplicaKilledMidIngestion(t *testing.T) {
	began := time.Now()
	en := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	victim := en.c.nodes[0]

	// The period: one gateway run on the day the packages cover.
	pb := scenario.New(periodFrom.Add(9 * time.Hour))
	pb.Prefix = en.prefix
	workload(pb, pb.Gateway("gw-period", en.key, time.Minute), 300)
	periodRecs := en.records(pb.Events, pb.Approvals)
	// The load during the fault: the next day.
	lb := scenario.New(periodTo.Add(9 * time.Hour))
	lb.Prefix = en.prefix + "load-"
	workload(lb, lb.Gateway("gw-load", en.key, time.Minute), 2500)
	loadRecs := en.records(lb.Events, lb.Approvals)
	want := ids(pb.Events, pb.Approvals, lb.Events, lb.Approvals)
	t.Logf("period: %d records; load: %d records; %d distinct event ids", len(periodRecs), len(loadRecs), len(want))

	ictx, stopIndexer := context.WithCancel(ctx)
	failedWrites := &countWarnings{msg: "clickhouse write failed; retrying"}
	indexer := &run{done: make(chan struct{})}
	go func() {
		defer close(indexer.done)
		indexer.err = service.Run(ictx, en.indexerConfig(), slog.New(failedWrites))
	}()
	defer func() {
		stopIndexer()
		select {
		case <-indexer.done:
		case <-time.After(15 * time.Second):
			t.Logf("indexer did not stop within 15s of cancel")
		}
	}()

	en.produce(ctx, periodRecs)
	en.caughtUp(ctx, indexer)
	en.ch = en.c.open(t, joinAddrs(en.c.addrs()), en.db)
	en.replicasAgree(ctx)
	before := en.pkg(ctx, victim.addr, periodFrom, periodTo)
	if before.Events == 0 || len(populations(before.Manifest)) < 5 {
		t.Fatalf("package before the fault holds %d events and populations %v", before.Events, populations(before.Manifest))
	}
	setup := time.Since(began)

	// The fault: produce the load in chunks; kill the victim a third of the way in, bring it back two thirds
	// of the way in.
	faultBegan := time.Now()
	const chunks = 30
	var killedAt, restartedAt uint64
	for i := 0; i < chunks; i++ {
		var part []*kgo.Record
		part = append(part, loadRecs[i*len(loadRecs)/chunks:(i+1)*len(loadRecs)/chunks]...)
		en.produce(ctx, part)
		switch i {
		case chunks / 3:
			// Mid-ingestion: some of the load is written, more is on its way.
			other := en.c.open(t, en.c.nodes[2].addr, en.db)
			for en.count(ctx, other, "SELECT count() FROM events") <= uint64(len(periodRecs)) {
				select {
				case <-ctx.Done():
					t.Fatalf("the indexer wrote none of the load before the kill: %v", ctx.Err())
				case <-time.After(20 * time.Millisecond):
				}
			}
			kill(t, victim)
			killedAt = en.count(ctx, other, "SELECT count() FROM events")
			t.Logf("killed %s (pid file %s) after chunk %d: %d raw event rows through Distributed", victim.name, victim.pidFile, i, killedAt)
		case 2 * chunks / 3:
			restart(t)
			restartedAt = en.count(ctx, en.c.open(t, en.c.nodes[2].addr, en.db), "SELECT count() FROM events")
			t.Logf("restarted %s after chunk %d: %d raw event rows", victim.name, i, restartedAt)
		}
		time.Sleep(150 * time.Millisecond)
	}
	en.caughtUp(ctx, indexer)
	perShard := en.replicasAgree(ctx)
	faultTime := time.Since(faultBegan)

	// Nothing lost, nothing duplicated for auditors, through the Distributed tables.
	final := en.count(ctx, en.ch, "SELECT count() FROM events FINAL")
	distinct := en.count(ctx, en.ch, "SELECT uniqExact(event_id) FROM events")
	raw := en.count(ctx, en.ch, "SELECT count() FROM events")
	t.Logf("events: %d with FINAL, %d distinct ids, %d raw rows (retried batches not merged yet), per shard %v; the indexer retried %d failed writes",
		final, distinct, raw, perShard, failedWrites.n.Load())
	if final != uint64(len(want)) || distinct != uint64(len(want)) {
		t.Fatalf("after the fault: %d events with FINAL and %d distinct event ids, want %d (every id produced, once)", final, distinct, len(want))
	}
	if perShard["01"]+perShard["02"] != final || perShard["01"] == 0 || perShard["02"] == 0 {
		t.Fatalf("events per shard %v do not add up to %d over both shards", perShard, final)
	}
	if killedAt <= uint64(len(periodRecs)) || killedAt >= raw || restartedAt >= raw {
		t.Fatalf("the replica was not killed mid-ingestion: %d rows at the kill, %d at the restart, %d at the end", killedAt, restartedAt, raw)
	}
	if raw < uint64(len(want)) {
		t.Fatalf("%d raw rows, fewer than the %d ids produced", raw, len(want))
	}
	if dead := en.count(ctx, en.ch, "SELECT count() FROM dead_letters"); dead != 0 {
		t.Fatalf("%d dead letters: every produced record is valid", dead)
	}

	// The day of the fault verifies: every chain whole, every checkpoint's heads present, no copy of an
	// event (the indexer's retried batches) counted twice.
	load := en.pkg(ctx, en.c.nodes[1].addr, periodTo, periodTo.Add(24*time.Hour))
	t.Logf("package of the fault's day: %d events, integrity ok", load.Events)

	// The period's package, built after the fault, from the restarted server and from another, is the same.
	for _, n := range []node{victim, en.c.nodes[3]} {
		after := en.pkg(ctx, n.addr, periodFrom, periodTo)
		if a, b := populations(before.Manifest), populations(after.Manifest); !reflect.DeepEqual(a, b) {
			for k := range a {
				if a[k] != b[k] {
					t.Errorf("%s: before the fault %s, after (read from %s) %s", k, a[k], n.name, b[k])
				}
			}
			for k := range b {
				if _, ok := a[k]; !ok {
					t.Errorf("%s only after the fault: %s", k, b[k])
				}
			}
			t.FailNow()
		}
		if after.Events != before.Events {
			t.Fatalf("package events: %d before the fault, %d after (read from %s)", before.Events, after.Events, n.name)
		}
	}
	t.Logf("timing: setup+first package %s, fault phase (produce, kill, restart, catch up, replicas agree) %s, total %s",
		setup.Round(100*time.Millisecond), faultTime.Round(100*time.Millisecond), time.Since(began).Round(100*time.Millisecond))
}

// countWarnings is a slog handler that counts the records with message msg.
type countWarnings struct {
	msg string
	n   atomic.Int64
}

func (c *countWarnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (c *countWarnings) Handle(_ context.Context, r slog.Record) error {
	if r.Message == c.msg {
		c.n.Add(1)
	}
	return nil
}
func (c *countWarnings) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countWarnings) WithGroup(string) slog.Handler      { return c }

func joinAddrs(a []string) string {
	out := ""
	for i, s := range a {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}
