// Package chcluster_test runs the indexer and the reporter against the replicated ClickHouse profile of the
// local stack (go tool task up:chcluster: cluster pangate, two shards of two replicas, one ZooKeeper), with
// the indexer's clickhouse.cluster setting, and kills one ClickHouse replica with SIGKILL mid-ingestion.
// Events are produced with reporter/scenario (chained, signed, schemas' canonical encoding) to topics of the
// test's own on the single local broker; the database is the test's own, created ON CLUSTER by the
// indexer's migration path (internal/auditstore/cluster.Load).
package chcluster_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/indexer/store"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/build"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/reporter/verify"
	"github.com/pangate/pangate/schemas"
)

// startCommand starts the profile this package needs.
const startCommand = "go tool task up:chcluster"

// node is one ClickHouse server of the profile, as .stack/chcluster.env describes it.
type node struct {
	name, addr, shard, pidFile, config string
}

// cluster is the profile's endpoints.
type cluster struct {
	name, user, password string
	nodes                []node
}

func (c cluster) addrs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.addr)
	}
	return out
}

// loadCluster reads .stack/chcluster.env and checks that every server answers; a missing profile fails the
// test with the command that starts it.
func loadCluster(t *testing.T) cluster {
	t.Helper()
	root, err := stack.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, ".stack", "chcluster.env")
	kv, err := readEnv(file)
	if err != nil {
		t.Fatalf("chcluster: %v: the replicated ClickHouse profile has never been started; start it with: %s", err, startCommand)
	}
	c := cluster{name: kv["PANGATE_CHCLUSTER_NAME"], user: kv["PANGATE_CHCLUSTER_USER"], password: kv["PANGATE_CHCLUSTER_PASSWORD"]}
	for _, r := range []string{"S1R1", "S1R2", "S2R1", "S2R2"} {
		p := "PANGATE_CHCLUSTER_" + r
		c.nodes = append(c.nodes, node{name: strings.ToLower(r), addr: kv[p+"_ADDR"], shard: kv[p+"_SHARD"], pidFile: kv[p+"_PID_FILE"], config: kv[p+"_CONFIG"]})
	}
	for _, n := range c.nodes {
		if n.addr == "" || c.name == "" {
			t.Fatalf("chcluster: %s lacks node %s or the cluster name; restart the profile with: %s", file, n.name, startCommand)
		}
		conn := c.open(t, n.addr, "default")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := conn.Ping(ctx)
		cancel()
		if err != nil {
			t.Fatalf("chcluster: ClickHouse %s at %s is not reachable: %v; start the profile with: %s", n.name, n.addr, err, startCommand)
		}
	}
	return c
}

func readEnv(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && !strings.HasPrefix(k, "#") {
			kv[k] = v
		}
	}
	return kv, sc.Err()
}

// open connects to one server (or to several, failing over) as the operator.
func (c cluster) open(t *testing.T, addr, database string) driver.Conn {
	t.Helper()
	conn, err := store.Open(store.Config{Addrs: strings.Split(addr, ","), Database: database, User: c.user, Password: c.password,
		DialTimeout: 2 * time.Second, ReadTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// kill sends SIGKILL to the server's process (its pid file, checked against /proc so that a reused pid
// is never signalled) and waits until it is gone.
func kill(t *testing.T, n node) {
	t.Helper()
	b, err := os.ReadFile(n.pidFile)
	if err != nil {
		t.Fatalf("chcluster: pid of %s: %v", n.name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("chcluster: pid file %s holds %q", n.pidFile, b)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(n.config)) {
		t.Fatalf("chcluster: process %d is not ClickHouse %s (%s): %v", pid, n.name, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}), err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("chcluster: kill -9 %d (%s): %v", pid, n.name, err)
	}
	for i := 0; i < 200; i++ {
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err != nil || bytes.Contains(st, []byte(") Z ")) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("chcluster: %s (pid %d) still alive 10s after SIGKILL", n.name, pid)
}

// restart brings stopped servers back with the stack's own tool, which starts only what does not answer.
func restart(t *testing.T) {
	t.Helper()
	root, err := stack.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "run", "./deploy/local", "up", "chcluster")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PANGATE_STACK_QUIET=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chcluster: go run ./deploy/local up chcluster: %v\n%s", err, out)
	}
}

// env is the test's topics, database and clients.
type env struct {
	t      *testing.T
	c      cluster
	prefix string
	db     string
	kc     *kgo.Client
	adm    *kadm.Client
	ch     driver.Conn // operator on every node (fails over), default database db
	pub    ed25519.PublicKey
	key    ed25519.PrivateKey
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := loadCluster(t)
	en := &env{t: t, c: c, prefix: stack.UniqueName(t, "chc") + ".", db: stack.UniqueName(t, "chc")}
	en.kc = stack.Kafka(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(2*time.Millisecond))
	en.adm = kadm.NewClient(en.kc)
	stack.ServiceTopicsPartitioned(t, en.prefix, 3) // three partitions: quicker group assignment
	t.Cleanup(func() {
		if os.Getenv("PANGATE_KEEP_DB") != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// The ingest views first (they write the Distributed tables), then the audit database everywhere.
		for _, n := range c.nodes {
			conn := c.open(t, n.addr, "default")
			_ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+en.db+"_ingest")
		}
		conn := c.open(t, c.nodes[0].addr, "default")
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+en.db+" ON CLUSTER "+c.name); err != nil {
			t.Logf("drop %s on cluster: %v", en.db, err)
		}
	})
	en.pub, en.key, _ = ed25519.GenerateKey(nil)
	return en
}

// indexerConfig: the cluster setting, every server's address, and the operator as the writing user (the
// profile's indexer user may use only pangate_ingest; the test's database is its own).
func (en *env) indexerConfig() config.Config {
	c := config.Defaults()
	c.Instance = "indexer-chcluster-test"
	c.Listen = "127.0.0.1:0"
	c.Kafka.Brokers = stack.Env(en.t).KafkaBrokers
	c.Kafka.TopicPrefix = en.prefix
	c.Kafka.Group = en.prefix + "group"
	c.Kafka.InstanceID = en.prefix + "indexer"
	c.ClickHouse.Addrs = en.c.addrs()
	c.ClickHouse.Cluster = en.c.name
	c.ClickHouse.Database = en.db
	c.ClickHouse.User, c.ClickHouse.Password = en.c.user, en.c.password
	c.ClickHouse.MigrateUser, c.ClickHouse.MigratePassword = en.c.user, en.c.password
	c.Batch.FlushInterval = 100 * time.Millisecond
	c.Batch.Size = 1000
	c.Retention.Disabled = true
	return c
}

// records encodes events as the producers write them: audit events keyed by session, approvals by id.
func (en *env) records(audit, approvals []schemas.Event) []*kgo.Record {
	var recs []*kgo.Record
	for _, set := range []struct {
		topic string
		evs   []schemas.Event
	}{{en.prefix + schemas.TopicAudit, audit}, {en.prefix + schemas.TopicApprovals, approvals}} {
		for _, e := range set.evs {
			b, err := schemas.Marshal(e)
			if err != nil {
				en.t.Fatal(err)
			}
			recs = append(recs, &kgo.Record{Topic: set.topic, Key: []byte(e.Session), Value: b})
		}
	}
	return recs
}

func (en *env) produce(ctx context.Context, recs []*kgo.Record) {
	en.t.Helper()
	if err := en.kc.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		en.t.Fatalf("produce %d records: %v", len(recs), err)
	}
}

// run is the in-process indexer: done closes when service.Run returned err.
type run struct {
	done chan struct{}
	err  error
}

// caughtUp waits until the indexer's group has committed every record of the test's topics: it commits only
// after every table of a batch was written (through the Distributed tables, synchronously).
func (en *env) caughtUp(ctx context.Context, indexer *run) {
	en.groupCaughtUp(ctx, en.prefix+"group", indexer)
}

func (en *env) groupCaughtUp(ctx context.Context, group string, indexer *run) {
	en.t.Helper()
	topics := []string{en.prefix + schemas.TopicAudit, en.prefix + schemas.TopicApprovals}
	for {
		ends, err := en.adm.ListEndOffsets(ctx, topics...)
		done := err == nil
		if done {
			committed, err := en.adm.FetchOffsets(ctx, group)
			done = err == nil
			ends.Each(func(o kadm.ListedOffset) {
				if o.Offset == 0 {
					return
				}
				if c, ok := committed.Lookup(o.Topic, o.Partition); !ok || c.At < o.Offset {
					done = false
				}
			})
		}
		if done {
			return
		}
		select {
		case <-indexer.done:
			en.t.Fatalf("indexer (group %s) stopped before committing every record: %v", group, indexer.err)
		case <-ctx.Done():
			en.t.Fatalf("indexer did not commit every record in time: %v", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (en *env) count(ctx context.Context, conn driver.Conn, sql string) uint64 {
	en.t.Helper()
	var n uint64
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		en.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// replicasAgree waits until every replica's replication queue is empty and both replicas of each shard
// hold the same rows (count with FINAL of every *_local table), and returns the events per shard.
func (en *env) replicasAgree(ctx context.Context) map[string]uint64 {
	en.t.Helper()
	var tables []string
	// FINAL only where the engine collapses replays (ReplicatedMergeTree refuses it).
	rs, err := en.ch.Query(ctx, "SELECT name, engine FROM system.tables WHERE database = ? AND engine LIKE 'Replicated%'", en.db)
	if err != nil {
		en.t.Fatal(err)
	}
	for rs.Next() {
		var name, engine string
		if err := rs.Scan(&name, &engine); err != nil {
			en.t.Fatal(err)
		}
		if strings.Contains(engine, "Replacing") {
			name += " FINAL"
		}
		tables = append(tables, name)
	}
	rs.Close()
	sort.Strings(tables)
	if len(tables) < 10 {
		en.t.Fatalf("database %s has %d Replicated tables (%v): the cluster migrations did not run", en.db, len(tables), tables)
	}
	conns := map[string]driver.Conn{}
	for _, n := range en.c.nodes {
		conns[n.name] = en.c.open(en.t, n.addr, en.db)
	}
	var last string
	for {
		perNode := map[string]string{}
		events := map[string]uint64{}
		queued := uint64(0)
		for _, n := range en.c.nodes {
			conn := conns[n.name]
			queued += en.count(ctx, conn, "SELECT toUInt64(sum(queue_size)) FROM system.replicas WHERE database = currentDatabase()")
			var b strings.Builder
			for _, tb := range tables {
				fmt.Fprintf(&b, "%s=%d ", tb, en.count(ctx, conn, "SELECT count() FROM "+tb))
			}
			perNode[n.name] = b.String()
			events[n.shard] = en.count(ctx, conn, "SELECT count() FROM events_local FINAL")
		}
		agree := queued == 0 && perNode["s1r1"] == perNode["s1r2"] && perNode["s2r1"] == perNode["s2r2"]
		if agree {
			return events
		}
		last = fmt.Sprintf("queued %d; per node %v", queued, perNode)
		select {
		case <-ctx.Done():
			en.t.Fatalf("replicas of a shard do not agree in time: %s", last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// pkg builds the evidence package of [from, to) into a store of its own, through the Distributed tables
// (the reporter's code unchanged), reading from addr.
func (en *env) pkg(ctx context.Context, addr string, from, to time.Time) *build.Result {
	en.t.Helper()
	conn := en.c.open(en.t, addr, en.db)
	q, err := query.New(ctx, conn, query.Config{Addr: addr, Database: en.db, User: en.c.user})
	if err != nil {
		en.t.Fatal(err)
	}
	b, err := build.New(build.Config{Version: "test", GatewayKeys: map[string]ed25519.PublicKey{schemas.KeyID(en.pub): en.pub},
		Now: func() time.Time { return to.Add(24 * time.Hour) }}, q, bucket.NewLocal(en.t.TempDir()), en.key, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		en.t.Fatal(err)
	}
	res, err := b.Build(ctx, manifest.KindPackage, from, to)
	if err != nil {
		en.t.Fatalf("build package of %s: %v", from.Format(time.DateOnly), err)
	}
	if r := verify.Package(res.Location, en.pub, ""); !r.OK() {
		en.t.Fatalf("package of %s does not verify: %v", from.Format(time.DateOnly), r.Err())
	}
	if !res.Integrity.OK {
		en.t.Fatalf("package of %s: integrity check failed: %+v", from.Format(time.DateOnly), res.Integrity)
	}
	return res
}

// populations is what auditors sample: each population file's content hash and row count, and the
// package's counts.
func populations(m *manifest.Manifest) map[string]string {
	out := map[string]string{}
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "populations/") {
			out[f.Path] = fmt.Sprintf("%s rows=%d", f.SHA256, f.Rows)
		}
	}
	for k, v := range m.Counts {
		out["count:"+k] = strconv.FormatInt(v, 10)
	}
	return out
}
