// Package indexer_test runs the real indexer binary against the local stack's Kafka broker and ClickHouse:
// ingestion, dead letters, kill -9 crashes, a ClickHouse outage, migrations, access control, retention and
// every query of the auditors' cookbook. Each test has its own topics (prefix) and its own database.
package indexer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/indexer/service"
	"github.com/pangate/pangate/indexer/store"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

var binary string

// TestMain builds the indexer binary once; tests exec it so kill -9 hits a real process.
func TestMain(m *testing.M) {
	root, err := stack.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "pangate-indexer-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "indexer")
	cmd := exec.Command("go", "build", "-o", binary, "./indexer")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build indexer: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

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
	admin := stack.ClickHouse(t) // holds ClickHouse for this test (see integration/stack)
	kc := stack.Kafka(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(2*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.UnknownTopicRetries(-1))
	en := &env{t: t, ep: ep, prefix: prefix + ".", db: db, group: stack.UniqueName(t, "idxg"), kc: kc}
	{
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db)
		cancel()
		if err != nil {
			t.Fatalf("drop database %s left by an earlier run: %v", db, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(kc)
	topics := schemas.Rename(schemas.Topics(1), en.prefix)
	if err := schemas.EnsureTopics(ctx, adm, topics); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	waitTopics(t, adm, topics)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var names []string
		for _, tc := range topics {
			names = append(names, tc.Name)
		}
		_, _ = adm.DeleteTopics(ctx, names...)
		if os.Getenv("PANGATE_KEEP_DB") == "" {
			_ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+en.db)
		}
	})
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

// waitTopics waits until every partition of the topics has a leader: right after creation (and after a
// broker restart by another test) a produce may otherwise fail with UNKNOWN_TOPIC_OR_PARTITION.
func waitTopics(t testing.TB, adm *kadm.Client, topics []schemas.TopicConfig) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for _, tc := range topics {
			d, err := adm.ListTopics(ctx, tc.Name)
			td, ok := d[tc.Name]
			if err != nil || !ok || td.Err != nil || int32(len(td.Partitions)) != tc.Partitions {
				ready = false
				break
			}
			for _, p := range td.Partitions {
				if p.Err != nil || p.Leader < 0 {
					ready = false
				}
			}
		}
		cancel()
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("topics %v have no leaders after 60s", topics)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// config is the indexer configuration of this test. The indexer ingests as the operator here: the stack's
// indexer user may only use database pangate, and every test has its own database (TestAccessControl checks
// the restricted users on database pangate).
func (en *env) config() config.Config {
	c := config.Defaults()
	c.Instance = "indexer-test"
	c.Listen = "127.0.0.1:0"
	c.Kafka.Brokers = en.ep.KafkaBrokers
	c.Kafka.TopicPrefix = en.prefix
	c.Kafka.Group = en.group
	c.Kafka.InstanceID = en.group + "-1"
	c.ClickHouse.Addrs = []string{en.ep.ClickHouseAddr}
	c.ClickHouse.Database = en.db
	c.ClickHouse.User, c.ClickHouse.Password = en.ep.ClickHouseUser, en.ep.ClickHousePassword
	c.ClickHouse.MigrateUser, c.ClickHouse.MigratePassword = en.ep.ClickHouseUser, en.ep.ClickHousePassword
	c.Batch.FlushInterval = 200 * time.Millisecond
	c.Batch.Size = 2000
	c.Retention.Disabled = true
	return c
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

// proc is a running indexer binary.
type proc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	written chan struct{} // receives (without blocking the reader) each time the indexer logs "batch written"
	addr    chan string   // receives the /metrics listen address once
}

var logMu sync.Mutex

// start execs the indexer; its log goes to a file in the test's temp dir, shown if the test fails.
func (en *env) start(extra ...string) *proc {
	en.t.Helper()
	f, err := os.CreateTemp(en.t.TempDir(), "indexer-*.log")
	if err != nil {
		en.t.Fatal(err)
	}
	cmd := exec.Command(binary)
	cmd.Env = en.environ(extra...)
	cmd.Stdout = f
	stderr, err := cmd.StderrPipe()
	if err != nil {
		en.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		en.t.Fatalf("start indexer: %v", err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), written: make(chan struct{}, 1), addr: make(chan string, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if bytes.Contains(line, []byte(`"msg":"batch written"`)) {
				select {
				case p.written <- struct{}{}:
				default:
				}
			}
			if bytes.Contains(line, []byte(`"msg":"indexer started"`)) {
				var l struct{ Listen string }
				if json.Unmarshal(line, &l) == nil {
					p.addr <- l.Listen
				}
			}
			_, _ = f.Write(append(line, '\n'))
		}
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	en.t.Cleanup(func() {
		p.kill()
		if en.t.Failed() || os.Getenv("PANGATE_TEST_SHOW_LOGS") != "" {
			logMu.Lock()
			defer logMu.Unlock()
			b, _ := os.ReadFile(f.Name())
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			en.t.Logf("indexer log %s (tail):\n%s", f.Name(), b)
		}
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits (graceful shutdown).
func (p *proc) stop(t testing.TB) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Errorf("indexer did not stop within 20s of SIGTERM")
		p.kill()
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
