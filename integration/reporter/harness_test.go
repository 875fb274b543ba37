// Package reporter_test runs the reporter against the local stack: events are produced with schemas.NewChain
// (through reporter/scenario) to the real Kafka broker on topics of the test's own prefix, the real indexer
// (indexer/service, in-process) writes them to a ClickHouse database of the test's own, and the reporter
// builds, signs, stores (versitygw over the S3 API) and verifies packages from there.
package reporter_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/indexer/service"
	"github.com/pangate/pangate/indexer/store"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/build"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/schemas"
)

// env is one test's topics, database, bucket and clients.
type env struct {
	t      testing.TB
	ep     stack.Endpoints
	prefix string
	db     string
	kc     *kgo.Client
	ch     driver.Conn // operator, default database = db
	q      *query.DB
	pub    ed25519.PublicKey
	key    ed25519.PrivateKey
}

func newEnv(t testing.TB) *env { return newEnvWith(t, true) }

// newEnvWith makes the test's database, and with kafka its topics too (the benchmark seeds ClickHouse
// directly and needs no broker).
func newEnvWith(t testing.TB, kafka bool) *env {
	t.Helper()
	ep := stack.Env(t)
	en := &env{t: t, ep: ep, prefix: stack.UniqueName(t, "rep") + ".", db: stack.UniqueName(t, "rep")}
	// Dropped with its ingest database when the test ends, unless PANGATE_KEEP_DB is set by then.
	stack.ClickHouseDatabase(t, en.db)
	if kafka {
		en.kc = stack.Kafka(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(2*time.Millisecond))
		// Three partitions a topic: quicker consumer-group assignment on the shared broker.
		stack.ServiceTopicsPartitioned(t, en.prefix, 3)
	}
	// After the broker is held: stack.Kafka waits while another package has the broker stopped
	// (integration/soundness's TestBrokerStopUnderLoad), which must not eat the migration's time.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := service.Migrate(ctx, en.indexerConfig(), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("migrate %s: %v", en.db, err)
	}
	conn, err := store.Open(store.Config{Addrs: []string{ep.ClickHouseAddr}, Database: en.db, User: ep.ClickHouseUser, Password: ep.ClickHousePassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	en.ch = conn
	en.q, err = query.New(ctx, conn, query.Config{Addr: ep.ClickHouseAddr, Database: en.db, User: ep.ClickHouseUser})
	if err != nil {
		t.Fatal(err)
	}
	en.pub, en.key, _ = ed25519.GenerateKey(nil)
	return en
}

// indexerConfig ingests as the operator: the stack's indexer user may only use database pangate.
func (en *env) indexerConfig() config.Config {
	return stack.IndexerConfig(en.t, &stack.IndexerOptions{Instance: "indexer-reporter-test", Prefix: en.prefix,
		Brokers: en.ep.KafkaBrokers, Group: en.prefix + "group", InstanceID: en.prefix + "indexer", Database: en.db,
		FlushInterval: 100 * time.Millisecond, BatchSize: 5000, LogLevel: config.Defaults().LogLevel})
}

// seed produces the audit events (key = session) and approvals records (key = approval id) to the test's
// topics, runs the real indexer until ClickHouse holds every one of them, and stops it.
func (en *env) seed(audit, approvals []schemas.Event) {
	t := en.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for _, set := range []struct {
		topic string
		evs   []schemas.Event
	}{{en.prefix + schemas.TopicAudit, audit}, {en.prefix + schemas.TopicApprovals, approvals}} {
		for _, e := range set.evs {
			b, err := schemas.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, &kgo.Record{Topic: set.topic, Key: []byte(e.Session), Value: b})
		}
	}
	if err := en.kc.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records: %v", len(recs), err)
	}
	en.ingest(len(recs))
}

// ingest runs the real indexer until ClickHouse holds every record of the test's topics (want of them;
// -1: whatever the topics hold), and stops it.
func (en *env) ingest(want int) {
	t := en.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ictx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- service.Run(ictx, en.indexerConfig(), slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	// The indexer commits offsets only after every table of a batch is written, so committed offsets at the
	// end of every topic it reads mean every typed table is complete (the events count alone is not: it is
	// written first).
	adm := kadm.NewClient(en.kc)
	topics := en.indexerConfig().Topics()
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatalf("end offsets: %v", err)
	}
	group := en.indexerConfig().Kafka.Group
	for {
		committed, err := adm.FetchOffsets(ctx, group)
		caughtUp := err == nil
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset == 0 {
				return
			}
			c, ok := committed.Lookup(o.Topic, o.Partition)
			if !ok || c.At < o.Offset {
				caughtUp = false
			}
		})
		if caughtUp {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("indexer stopped before committing every record: %v", err)
		case <-ctx.Done():
			var got, dead uint64
			_ = en.ch.QueryRow(context.Background(), "SELECT count() FROM events FINAL").Scan(&got)
			_ = en.ch.QueryRow(context.Background(), "SELECT count() FROM dead_letters").Scan(&dead)
			t.Fatalf("indexer indexed %d of %d events before the deadline (%d dead letters)", got, want, dead)
		case <-time.After(200 * time.Millisecond):
		}
	}
	var got uint64
	if err := en.ch.QueryRow(ctx, "SELECT count() FROM events FINAL").Scan(&got); err != nil || (want >= 0 && got != uint64(want)) {
		t.Fatalf("events table holds %d rows after the indexer caught up, want %d (%v)", got, want, err)
	}
	t.Logf("indexer wrote %d events to %s", got, en.db)
	stop()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		// The rows are in ClickHouse, which is all the test needs; a slow consumer-group leave must not hang it.
		t.Logf("indexer did not stop within 15s of cancel; continuing")
	}
}

// builder makes a reporter over the test's database, storing into store.
func (en *env) builder(store bucket.Store, now time.Time) *build.Builder {
	en.t.Helper()
	b, err := build.New(build.Config{Version: "test", GatewayKeys: map[string]ed25519.PublicKey{schemas.KeyID(en.pub): en.pub},
		Now: func() time.Time { return now }}, en.q, store, en.key, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		en.t.Fatal(err)
	}
	return b
}

// exec runs a statement as the operator (tampering in tests).
func (en *env) exec(sql string, args ...any) {
	en.t.Helper()
	if err := en.ch.Exec(context.Background(), sql, args...); err != nil {
		en.t.Fatalf("%s: %v", sql, err)
	}
}

// waitMutations waits until ALTER … DELETE mutations of the events table have finished.
func (en *env) waitMutations() {
	en.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n uint64
		if err := en.ch.QueryRow(context.Background(), fmt.Sprintf("SELECT count() FROM system.mutations WHERE database = '%s' AND is_done = 0", en.db)).Scan(&n); err != nil {
			en.t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			en.t.Fatalf("%d mutations still running after 30s", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var _ = manifest.KindPackage

// useDatabase points the env at an existing database (benchmark reruns).
func (en *env) useDatabase(db string) {
	en.t.Helper()
	// The fresh database newEnv made is not needed.
	en.exec("DROP DATABASE IF EXISTS " + en.db)
	conn, err := store.Open(store.Config{Addrs: []string{en.ep.ClickHouseAddr}, Database: db, User: en.ep.ClickHouseUser, Password: en.ep.ClickHousePassword})
	if err != nil {
		en.t.Fatal(err)
	}
	en.t.Cleanup(func() { conn.Close() })
	en.db, en.ch = db, conn
	readers, _ := strconv.Atoi(os.Getenv("PANGATE_BENCH_READERS")) // 0: query.DefaultReaders
	httpAddr := en.ep.ClickHouseHTTPAddr                           // raw records over HTTP, unless PANGATE_BENCH_NATIVE=1
	if os.Getenv("PANGATE_BENCH_NATIVE") == "1" {
		httpAddr = ""
	}
	en.q, err = query.New(context.Background(), conn, query.Config{Addr: en.ep.ClickHouseAddr, Database: db, User: en.ep.ClickHouseUser,
		Password: en.ep.ClickHousePassword, Readers: readers, HTTPAddr: httpAddr})
	if err != nil {
		en.t.Fatal(err)
	}
}
