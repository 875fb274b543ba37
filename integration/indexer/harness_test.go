// Package indexer_test runs the real indexer binary against the local stack's Kafka broker and ClickHouse:
// ingestion, dead letters, kill -9 crashes, a ClickHouse outage, migrations, access control, retention and
// every query of the auditors' cookbook. Each test has its own topics (prefix) and its own database.
package indexer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/indexer/service"
	"github.com/pangate/pangate/indexer/store"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/launch"
	"github.com/pangate/pangate/schemas"
)

// env is one test's topics, database and clients.
type env struct {
	t      testing.TB
	ep     stack.Endpoints
	prefix string // topic prefix, ends with "."
	db     string // ClickHouse database
	group  string
	kc     *kgo.Client // producer
	ch     driver.Conn // operator, default database = db (after migrate)
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvNamed(t, stack.UniqueName(t, "idx"), stack.UniqueName(t, "idx"))
}

// newEnvNamed is newEnv with a chosen topic prefix (without the trailing ".") and database, for tests that
// own fixed names. The database is dropped first, so a previous run's rows never count.
func newEnvNamed(t testing.TB, prefix, db string) *env {
	t.Helper()
	ep := stack.Env(t)
	_ = stack.ClickHouse(t) // holds ClickHouse for this test (see integration/stack)
	kc := stack.Kafka(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(2*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.UnknownTopicRetries(-1))
	en := &env{t: t, ep: ep, prefix: prefix + ".", db: db, group: stack.UniqueName(t, "idxg"), kc: kc}
	// The database (dropped first, so a previous run's rows never count; dropped with its ingest database
	// when the test ends unless PANGATE_KEEP_DB is set) and the topics of the prefix.
	stack.ClickHouseDatabase(t, db)
	stack.ServiceTopics(t, en.prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := service.Migrate(ctx, en.config(), slog.New(slog.NewTextHandler(testWriter{t}, nil))); err != nil {
		t.Fatalf("migrate %s: %v", en.db, err)
	}
	conn, err := store.Open(store.Config{Addrs: []string{ep.ClickHouseAddr}, Database: en.db, User: ep.ClickHouseUser,
		Password: ep.ClickHousePassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	en.ch = conn
	return en
}

// config is the indexer configuration of this test. The indexer ingests as the operator here: the stack's
// indexer user may only use database pangate, and every test has its own database (TestAccessControl checks
// the restricted users on database pangate).
func (en *env) config() config.Config {
	return stack.IndexerConfig(en.t, &stack.IndexerOptions{Instance: "indexer-test", Prefix: en.prefix,
		Brokers: en.ep.KafkaBrokers, Group: en.group, InstanceID: en.group + "-1", Database: en.db,
		FlushInterval: 200 * time.Millisecond, BatchSize: 2000, LogLevel: config.Defaults().LogLevel})
}

// environ renders config() as PANGATE_INDEXER_* variables for the binary, then extra "K=V" pairs.
func (en *env) environ(extra ...string) []string {
	c := en.config()
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PANGATE_INDEXER_") {
			out = append(out, kv)
		}
	}
	out = append(out,
		"PANGATE_INDEXER_INSTANCE="+c.Instance,
		"PANGATE_INDEXER_LISTEN="+c.Listen,
		"PANGATE_INDEXER_KAFKA_BROKERS="+strings.Join(c.Kafka.Brokers, ","),
		"PANGATE_INDEXER_TOPIC_PREFIX="+c.Kafka.TopicPrefix,
		"PANGATE_INDEXER_GROUP="+c.Kafka.Group,
		"PANGATE_INDEXER_INSTANCE_ID="+c.Kafka.InstanceID,
		"PANGATE_INDEXER_CLICKHOUSE_ADDRS="+strings.Join(c.ClickHouse.Addrs, ","),
		"PANGATE_INDEXER_DATABASE="+c.ClickHouse.Database,
		"PANGATE_INDEXER_CLICKHOUSE_USER="+c.ClickHouse.User,
		"PANGATE_INDEXER_CLICKHOUSE_PASSWORD="+c.ClickHouse.Password,
		"PANGATE_INDEXER_MIGRATE_USER="+c.ClickHouse.MigrateUser,
		"PANGATE_INDEXER_MIGRATE_PASSWORD="+c.ClickHouse.MigratePassword,
		"PANGATE_INDEXER_FLUSH_INTERVAL="+c.Batch.FlushInterval.String(),
		fmt.Sprintf("PANGATE_INDEXER_BATCH_SIZE=%d", c.Batch.Size),
		"PANGATE_INDEXER_RETENTION_DISABLED=true",
		"PANGATE_INDEXER_LOG_LEVEL=debug",
	)
	return append(out, extra...)
}

// proc is a running indexer binary, configured by environment variables (environ).
type proc struct {
	*launch.Proc
	written chan struct{} // receives (without blocking the reader) each time the indexer logs "batch written"
	addr    chan string   // receives the /metrics listen address once
}

// start execs the indexer; its log goes to a file in the test's temp dir, its tail shown if the test fails.
func (en *env) start(extra ...string) *proc {
	en.t.Helper()
	p := &proc{written: make(chan struct{}, 1), addr: make(chan string, 1)}
	lp, err := launch.Start(launch.Spec{Name: "indexer", Bin: stack.Binary(en.t, "./indexer"), Env: en.environ(extra...),
		LogFile: filepath.Join(en.t.TempDir(), "indexer.log"),
		OnLine: func(line string) {
			if strings.Contains(line, `"msg":"batch written"`) {
				select {
				case p.written <- struct{}{}:
				default:
				}
			}
			if strings.Contains(line, `"msg":"indexer started"`) {
				var l struct{ Listen string }
				if json.Unmarshal([]byte(line), &l) == nil {
					select {
					case p.addr <- l.Listen:
					default:
					}
				}
			}
		}})
	if err != nil {
		en.t.Fatalf("start indexer: %v", err)
	}
	p.Proc = lp
	en.t.Cleanup(func() {
		p.kill()
		if en.t.Failed() || os.Getenv("PANGATE_TEST_SHOW_LOGS") != "" {
			en.t.Logf("indexer log %s (tail):\n%s", lp.Spec.LogFile, lp.Tail(60))
		}
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() { p.Kill() }

// stop sends SIGTERM and waits (graceful shutdown).
func (p *proc) stop(t testing.TB) {
	if p.Alive() && !p.Stop(20*time.Second) {
		t.Errorf("indexer did not stop within 20s of SIGTERM")
	}
}

// produce writes events to topic and fails the test unless Kafka acknowledged all of them.
func (en *env) produce(topic string, evs ...schemas.Event) {
	en.t.Helper()
	recs := make([]*kgo.Record, len(evs))
	for i, e := range evs {
		b, err := schemas.Marshal(e)
		if err != nil {
			en.t.Fatal(err)
		}
		recs[i] = &kgo.Record{Topic: en.prefix + topic, Key: []byte(e.Session), Value: b}
	}
	en.produceRaw(recs...)
}

func (en *env) produceRaw(recs ...*kgo.Record) {
	en.t.Helper()
	if err := en.tryProduce(recs...); err != nil {
		en.t.Fatalf("produce: %v", err)
	}
}

// tryProduce writes recs, retrying for up to a minute (another package's test may restart the broker; a
// record written twice is the same event id, which the indexer deduplicates). Safe in any goroutine.
func (en *env) tryProduce(recs ...*kgo.Record) error {
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := en.kc.ProduceSync(ctx, recs...).FirstErr()
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// encode marshals events into records for topic (without the prefix).
func (en *env) encode(topic string, evs ...schemas.Event) []*kgo.Record {
	recs := make([]*kgo.Record, len(evs))
	for i, e := range evs {
		b, err := schemas.Marshal(e)
		if err != nil {
			panic(err) // events built by the tests always encode
		}
		recs[i] = &kgo.Record{Topic: en.prefix + topic, Key: []byte(e.Session), Value: b}
	}
	return recs
}

// count runs a query returning one UInt64.
func (en *env) count(query string, args ...any) uint64 {
	en.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n uint64
	if err := en.ch.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		en.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitCount polls query until it returns want, failing after timeout with the last value.
func (en *env) waitCount(timeout time.Duration, want uint64, query string, args ...any) {
	en.t.Helper()
	deadline := time.Now().Add(timeout)
	var got uint64
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := en.ch.QueryRow(ctx, query, args...).Scan(&got)
		cancel()
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			en.t.Fatalf("after %s: %s = %d (err %v), want %d", timeout, query, got, err, want)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

var src = schemas.Source{Instance: "gw-test", Version: "0.0.0-test"}

// session builds the events of one session: started, n statements (every third on cardholder data), ended.
func session(n int, at time.Time) []schemas.Event {
	c := schemas.NewChain(schemas.NewID(), src)
	c.Now = func() time.Time { return at }
	next := func(typ string, d any) schemas.Event {
		e, err := c.Next(typ, d)
		if err != nil {
			panic(err)
		}
		return e
	}
	evs := []schemas.Event{next(schemas.TypeSessionStarted, schemas.SessionStarted{
		Identity: schemas.Identity{Issuer: "https://issuer.test", Subject: "repo:acme/job"}, Client: schemas.Client{Addr: "127.0.0.1:5000"},
		Target: "payments", Database: "payments", RequestedRole: "app", Role: "jit_1", Granted: []string{"app"}, MaskShape: "first6last4"})}
	for i := 0; i < n; i++ {
		evs = append(evs, next(schemas.TypeQueryExecuted, schemas.QueryExecuted{
			Statement: schemas.Statement{SQL: "SELECT 1", Fingerprint: "fp", Kind: "read", Tables: []string{"cards"},
				Cardholder: i%3 == 0, Protocol: "simple", Index: int64(i)},
			Role: "jit_1", Outcome: "ok", Rows: 1, DurationUS: int64(rand.IntN(1000)), MaskShape: "first6last4"}))
	}
	return append(evs, next(schemas.TypeSessionEnded, schemas.SessionEnded{Reason: "client_terminate", Statements: int64(n)}))
}
