package reporter_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pangate/pangate/indexer/rows"
	"github.com/pangate/pangate/indexer/store"
	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/schemas"
)

// BenchmarkPackage30Days measures one evidence package over 30 days of events (PANGATE_BENCH_EVENTS,
// default 1,000,000). The store is seeded with the indexer's own mapping and writer (indexer/rows,
// indexer/store), the same rows the indexer writes, without the round trip through Kafka, so that millions
// of events can be seeded within a session:
//
//	PANGATE_BENCH_EVENTS=1000000 go test ./integration/reporter -run '^$' -bench Package30Days -benchtime 1x -timeout 30m
func BenchmarkPackage30Days(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("PANGATE_BENCH_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("PANGATE_BENCH_EVENTS=%q: %v", s, err)
		}
		n = v
	}
	en := newEnvWith(b, false)
	// A fixed key, so a kept database's checkpoints verify on a rerun.
	en.key = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	en.pub = en.key.Public().(ed25519.PublicKey)
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 30)
	if db := os.Getenv("PANGATE_BENCH_DB"); db != "" {
		// Reuse a database a previous run kept (PANGATE_KEEP_DB=1): seeding millions takes minutes.
		en.useDatabase(db)
	} else {
		seedStart := time.Now()
		seeded := seedDirect(b, en, from, to, n)
		b.Logf("seeded %d events (30 days) into %s in %s", seeded, en.db, time.Since(seedStart).Round(time.Second))
	}
	bl := en.builder(bucket.NewLocal(b.TempDir()), to.Add(time.Hour))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		res, err := bl.Build(context.Background(), manifest.KindPackage, from, to)
		if err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		b.ReportMetric(float64(res.Events)/el.Seconds(), "events/s")
		b.Logf("package of %d events: %s, integrity ok=%v (%d sessions, %d failures, %d warnings), %d exceptions, %d files",
			res.Events, el.Round(time.Millisecond), res.Integrity.OK, res.Integrity.Sessions, res.Integrity.Failures, res.Integrity.Warnings,
			res.Exceptions, len(res.Manifest.Files))
		for _, st := range res.Stages {
			if st.Elapsed > 500*time.Millisecond {
				b.Logf("  %-50s %s", st.Stage, st.Elapsed.Round(time.Millisecond))
			}
		}
		if !res.Integrity.OK {
			b.Fatalf("integrity failed on a generated store: %s", findingsText(res.Integrity))
		}
	}
}

// seedDirect builds about n events over [from, to) and writes them with the indexer's rows and store.
func seedDirect(b testing.TB, en *env, from, to time.Time, n int) int {
	const perSession = 50
	sessions := n / perSession
	if sessions < 1 {
		sessions = 1
	}
	step := to.Sub(from) / time.Duration(sessions+1)
	sb := scenario.New(from)
	sb.Prefix = "b"
	g1 := sb.Gateway("gw-1", en.key, time.Minute)
	g2 := sb.Gateway("gw-2", en.key, time.Minute)
	mapper := rows.NewMapper()
	mapper.Validate = nil // the scenario is validated by its own unit test; JSON Schema per record would dominate seeding
	w := store.NewWriter(en.ch)
	var offset int64
	total := 0
	flush := func() {
		evs, appr := sb.Drain()
		var rs []rows.Row
		for _, set := range []struct {
			topic string
			evs   []schemas.Event
		}{{en.prefix + schemas.TopicAudit, evs}, {en.prefix + schemas.TopicApprovals, appr}} {
			for _, e := range set.evs {
				raw, err := schemas.Marshal(e)
				if err != nil {
					b.Fatal(err)
				}
				offset++
				t, _ := e.Timestamp()
				rs = append(rs, mapper.Map(rows.Record{Topic: set.topic, Partition: 0, Offset: offset, Key: []byte(e.Session), Value: raw, Timestamp: t})...)
			}
		}
		total += len(evs) + len(appr)
		if err := w.Write(context.Background(), rs); err != nil {
			b.Fatalf("write %d rows: %v", len(rs), err)
		}
	}
	for i := 0; i < sessions; i++ {
		g := g1
		if i%2 == 1 {
			g = g2
		}
		s := g.Session(scenario.Identity{Subject: fmt.Sprintf("repo:acme/job-%d", i%40), Human: i%97 == 0})
		for q := 0; q < perSession-5; q++ {
			switch {
			case q%3 == 0:
				s.Query(scenario.Statement("SELECT pan, name FROM cards WHERE id = $1", "read", []string{"cards"}, true), "ok", 1, nil)
			case q == 7 && i%10 == 0:
				s.Blocked(scenario.Statement("COPY cards TO STDOUT", "copy", []string{"cards"}, true), "policy_deny", nil)
			case q == 10 && i%25 == 0:
				s.Hold(scenario.Statement("ALTER TABLE payments ADD COLUMN x int", "ddl", []string{"payments"}, false), []string{"approved", "denied", "expired"}[i%3], 30*time.Second)
			default:
				s.Query(scenario.Statement("SELECT amount FROM payments WHERE day = $1", "read", []string{"payments"}, false), "ok", 20, nil)
			}
		}
		s.End()
		if i%10 == 5 {
			g.AuthFailed("mallory", "expired")
		}
		sb.Advance(step)
		if len(sb.Events) > 50000 {
			flush()
		}
	}
	g1.Stop()
	g2.Stop()
	flush()
	return total
}
