package kafkacluster_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/deploy/kafkaacl"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/kafka"
	"github.com/pangate/pangate/schemas"
)

// TestBrokerKillsUnderLoad runs pgbench's TPC-B-like script through two gateways, each on the cluster
// profile over TLS + SCRAM, while first a broker that leads no audit partition we watch is killed with
// SIGKILL and restarted, then the leader of audit partition 0, then two of the three brokers at once (no
// event can be acknowledged: statements wait and are refused, never run unrecorded; records whose answer
// was lost are sent again). Afterwards, with the gateways stopped:
//   - every statement PostgreSQL ran for a gateway session has its query.executed event in the topic
//     (PostgreSQL's statement log against the events: nothing ran unrecorded, docs/invariants.md 1);
//   - an event id appears twice only as the same record sent again, and every session's chain (one event
//     per id) verifies with seq from 0 without gaps or forks, ending in session.ended (nothing lost,
//     docs/invariants.md 3);
//   - every gateway run's checkpoints verify against its public key.
func TestBrokerKillsUnderLoad(t *testing.T) {
	c := clusterEnv(t)
	f := newFixture(t)
	adm := kadm.NewClient(c.client(t, kafkaacl.Admin))
	topic := schemas.TopicAudit
	t.Cleanup(func() { restartCluster(t) }) // whatever happened, leave three brokers running
	waitFullISR(t, adm)
	start := offsets(t, adm, topic)
	run := stack.UniqueName(t, "kc")
	ch := stack.ClickHouse(t) // holds ClickHouse for this test (integration/stack)
	db := stack.ClickHouseDatabase(t, run)
	startIndexer(t, c, run+"-ix", db)
	gws := []*stack.Gateway{startGateway(t, c, f, run+"-gw1"), startGateway(t, c, f, run+"-gw2")}
	off := logOffset(t, f)
	l := startLoad(t, f, gws)
	began := time.Now()

	time.Sleep(3 * time.Second)
	leader := leaderOf(t, adm, topic, 0)
	victim := 1
	for victim == leader {
		victim++
	}
	killNode(t, c, victim)
	t.Logf("killed broker %d (not the leader of %s/0, broker %d) at %.1fs", victim, topic, leader, time.Since(began).Seconds())
	time.Sleep(5 * time.Second)
	restartCluster(t)
	isr := waitFullISR(t, adm)
	t.Logf("broker %d back and every partition's ISR full %.1fs later (at %.1fs)", victim, isr.Seconds(), time.Since(began).Seconds())

	leader = leaderOf(t, adm, topic, 0)
	killNode(t, c, leader)
	t.Logf("killed broker %d, the leader of %s/0, at %.1fs", leader, topic, time.Since(began).Seconds())
	// A new leader is elected once broker.session.timeout.ms (6 s) has passed; on a loaded 2-core machine the
	// controller may take longer to notice, so wait for it (bounded) while the load goes on.
	killed := time.Now()
	now, err := currentLeader(adm, topic, 0)
	for (err != nil || now == leader) && time.Since(killed) < 45*time.Second {
		time.Sleep(500 * time.Millisecond)
		now, err = currentLeader(adm, topic, 0)
	}
	if err != nil || now == leader {
		t.Errorf("%s/0 has no new leader %s after its leader, broker %d, was killed (%v)", topic, time.Since(killed).Round(time.Second), leader, err)
	} else {
		t.Logf("%s/0 is led by broker %d %.1fs after broker %d was killed", topic, now, time.Since(killed).Seconds(), leader)
		time.Sleep(3 * time.Second) // the load runs against the new leader for a while
	}
	restartCluster(t)
	isr = waitFullISR(t, adm)
	t.Logf("broker %d back and every partition's ISR full %.1fs later (at %.1fs)", leader, isr.Seconds(), time.Since(began).Seconds())

	// Two of three brokers down (the controller quorum too): no event can be acknowledged, so statements
	// wait for their events and are refused (58000) after the ack timeout, never run unrecorded (the log
	// comparison below); a record whose answer was lost is sent again as it was, so no session's chain
	// forks (checkChains). This phase found the fork: a record kgo reported failed had been written.
	time.Sleep(3 * time.Second)
	refusedBefore := l.bench.AuditRefusals()
	leader = leaderOf(t, adm, topic, 0)
	other := 1
	for other == leader {
		other++
	}
	killNode(t, c, leader)
	killNode(t, c, other)
	t.Logf("killed brokers %d and %d at %.1fs", leader, other, time.Since(began).Seconds())
	time.Sleep(10 * time.Second)
	restartCluster(t)
	isr = waitFullISR(t, adm)
	t.Logf("brokers back and every partition's ISR full %.1fs later (at %.1fs); pgbench clients refused by pangate's audit check meanwhile: %d",
		isr.Seconds(), time.Since(began).Seconds(), l.bench.AuditRefusals()-refusedBefore)
	time.Sleep(3 * time.Second)
	l.finish()
	for _, g := range gws {
		g.Stop()
	}
	t.Logf("load: %s, %.1fs", l.summary(), time.Since(began).Seconds())

	instances := map[string]bool{}
	for _, g := range gws {
		instances[g.Instance] = true
	}
	// A record Kafka did not acknowledge is sent again as it was (audit.Session): the topic may hold an event
	// twice, identical (same id, same hash), and readers keep one per id (docs/invariants.md, invariant 6).
	// Two different events at one seq of a session would be a fork: checkChains finds it.
	raw := readRange(t, c, topic, start, offsets(t, adm, topic), instances)
	by, dups := map[string][]schemas.Event{}, 0
	seen := map[string]string{}
	var evs []schemas.Event
	for _, e := range raw {
		if h, ok := seen[e.ID]; ok {
			dups++
			if h != e.Hash {
				t.Errorf("event %s (%s, session %s seq %d) is in the topic twice with different contents", e.ID, e.Type, e.Session, e.Seq)
			}
			continue
		}
		seen[e.ID] = e.Hash
		evs = append(evs, e)
		by[e.Session] = append(by[e.Session], e)
	}
	checkChains(t, by, gws)
	checkIndexed(t, ch, db, evs)
	logs := readLog(t, f, off)
	cmp := compare(t, l, logs, by, f.Tables)
	t.Logf("%d events of %d sessions read back, %d records sent again after a lost acknowledgement; PostgreSQL ran %d statements on %d gateway backends, %d without a query.executed; %d statements refused (58000), %d of them after their query.executed (late note)",
		len(evs), len(by), dups, cmp.Ran, cmp.Backends, len(cmp.Missing), cmp.Refused, cmp.LateRefused)
	if cmp.Ran == 0 || cmp.Backends < 2 {
		t.Errorf("no load was compared (%d statements, %d backends): %s", cmp.Ran, cmp.Backends, l.summary())
	}
}

// checkIndexed waits until ClickHouse holds every event read from the topic and then requires, as
// auditors count (events FINAL), each exactly once and nothing else of the gateways.
func checkIndexed(t *testing.T, ch driver.Conn, db string, evs []schemas.Event) {
	t.Helper()
	want := map[string]bool{}
	instances := map[string]bool{}
	for _, e := range evs {
		want[e.ID] = true
		instances[e.Gateway.Instance] = true
	}
	var list []string
	for i := range instances {
		list = append(list, "'"+i+"'")
	}
	where := " WHERE source_instance IN (" + strings.Join(list, ",") + ")"
	count := func(q string) uint64 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var n uint64
		if err := ch.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	began := time.Now()
	var got uint64
	for time.Since(began) < 2*time.Minute {
		if got = count("SELECT count() FROM " + db + ".events FINAL" + where); got >= uint64(len(want)) {
			break
		}
		time.Sleep(time.Second)
	}
	if got != uint64(len(want)) {
		t.Errorf("ClickHouse %s.events FINAL holds %d events of the gateways, the topic %d", db, got, len(want))
	}
	if n := count("SELECT count(DISTINCT event_id) FROM " + db + ".events FINAL" + where); n != uint64(len(want)) {
		t.Errorf("ClickHouse %s.events FINAL holds %d distinct event ids of the gateways, the topic %d", db, n, len(want))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rows, err := ch.Query(ctx, "SELECT event_id FROM "+db+".events FINAL"+where)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if !want[id] {
			t.Errorf("ClickHouse holds event %s, which the topic does not", id)
		}
	}
	raw := count("SELECT count() FROM " + db + ".events" + where)
	t.Logf("ClickHouse: %d events FINAL (%d raw rows) after %.1fs", got, raw, time.Since(began).Seconds())
}

// checkChains verifies every session's chain (seq 0.. without gaps, prev/hash) and that each client
// session ended, and each gateway run's checkpoints against its key.
func checkChains(t *testing.T, by map[string][]schemas.Event, gws []*stack.Gateway) {
	t.Helper()
	keys := map[string]string{}
	for _, g := range gws {
		keys[g.Instance] = g.PubKey
	}
	for s, evs := range by {
		for _, err := range schemas.CheckSession(evs) {
			t.Errorf("session %s: %v", s, err)
		}
		first, last := evs[0], evs[len(evs)-1]
		if first.Type == schemas.TypeSessionStarted || first.Type == schemas.TypeAuthSucceeded {
			if last.Type != schemas.TypeSessionEnded {
				t.Errorf("session %s (%s) ends with %s seq %d, not session.ended: events after it are lost", s, first.Gateway.Instance, last.Type, last.Seq)
			}
		}
		var cps []schemas.Checkpoint
		for _, e := range evs {
			if e.Type == schemas.TypeGatewayCheckpoint {
				var cp schemas.Checkpoint
				if err := e.Decode(&cp); err != nil {
					t.Fatalf("checkpoint %s: %v", e.ID, err)
				}
				cps = append(cps, cp)
			}
		}
		if len(cps) == 0 {
			continue
		}
		b, err := os.ReadFile(keys[first.Gateway.Instance])
		if err != nil {
			t.Fatalf("public key of %s: %v", first.Gateway.Instance, err)
		}
		pub, err := schemas.ParsePublicKey(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas.VerifyCheckpoints(cps, pub); err != nil {
			t.Errorf("checkpoints of run %s (%s): %v", s, first.Gateway.Instance, err)
		}
	}
}

// compare matches PostgreSQL's log with the events (stack.CompareStatementLog: per backend, every statement
// it ran has a query.executed of its session) and reports every statement that ran without one.
func compare(t *testing.T, l *loadRun, logs map[int][]logEntry, by map[string][]schemas.Event, tables string) stack.LogComparison {
	t.Helper()
	roleSession := stack.SessionsByRole(by)
	sessionOf := map[int]string{}
	l.mu.Lock()
	for pid, role := range l.pids {
		if s, ok := roleSession[role]; ok {
			sessionOf[pid] = s
		}
	}
	l.mu.Unlock()
	c := stack.CompareStatementLog(t, logs, by, sessionOf, tables)
	for _, m := range c.Missing {
		t.Errorf("PostgreSQL ran %q (backend %d, session %s) with no query.executed event", m.SQL, m.PID, m.Session)
	}
	return c
}

// offsets returns the end offset of each partition of topic.
func offsets(t *testing.T, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// After a restart a partition may still be electing its leader: the services' retry (internal/kafka).
	ends, err := kafka.ListOffsets(ctx, adm.ListEndOffsets, topic, 45*time.Second)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// readRange reads topic from start to end (per partition) as the admin and returns the events written by
// the given gateway instances, in log order per partition.
func readRange(t *testing.T, c *cluster, topic string, start, end map[int32]int64, instances map[string]bool) []schemas.Event {
	t.Helper()
	parts := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	for p, e := range end {
		if e > start[p] {
			parts[p] = kgo.NewOffset().At(start[p])
			left[p] = e
		}
	}
	if len(parts) == 0 {
		t.Fatalf("nothing was written to %s", topic)
	}
	cl := c.client(t, kafkaacl.Admin, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out []schemas.Event
	for len(left) > 0 && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; !ok || r.Offset >= end {
				return
			}
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
			e, err := schemas.Parse(r.Value)
			if err != nil {
				return // not an event (another test's probe); the gateways' records always parse
			}
			if instances[e.Gateway.Instance] {
				out = append(out, e)
			}
		})
	}
	if len(left) > 0 {
		t.Fatalf("%s was not read to its end within 90s (partitions left: %v)", topic, left)
	}
	return out
}

// leaderOf is the broker leading topic's partition p.
func leaderOf(t *testing.T, adm *kadm.Client, topic string, p int32) int {
	t.Helper()
	l, err := currentLeader(adm, topic, p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// currentLeader is the broker leading topic/p, or an error while it has none (an election) or metadata
// cannot be read.
func currentLeader(adm *kadm.Client, topic string, p int32) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %v", topic, err)
	}
	pd, ok := td[topic].Partitions[p]
	if !ok || pd.Leader < 1 {
		return 0, fmt.Errorf("%s/%d has no leader: %+v", topic, p, td[topic])
	}
	return int(pd.Leader), nil
}

// waitFullISR waits until every partition of pangate's topics has all three replicas in sync, and
// returns how long that took.
func waitFullISR(t *testing.T, adm *kadm.Client) time.Duration {
	t.Helper()
	began := time.Now()
	var last string
	for time.Since(began) < 2*time.Minute {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		td, err := adm.ListTopics(ctx, schemas.TopicAudit, schemas.TopicApprovals)
		cancel()
		short := 0
		if err != nil {
			last = err.Error()
			short = 1
		}
		for _, d := range td {
			for _, p := range d.Partitions {
				if len(p.ISR) < 3 || p.Leader < 1 {
					short++
					last = fmt.Sprintf("%s/%d leader %d ISR %v", d.Topic, p.Partition, p.Leader, p.ISR)
				}
			}
		}
		if short == 0 && len(td) == 2 {
			return time.Since(began)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("the cluster's partitions did not get three in-sync replicas within 2 minutes (last: %s)", last)
	return 0
}

// killNode sends SIGKILL to broker n of the profile, after checking the pid file names a process running
// that node's configuration, and waits for it to be gone.
func killNode(t *testing.T, c *cluster, n int) {
	t.Helper()
	pidFile, conf := c.vals[fmt.Sprintf("PANGATE_CLUSTER_KAFKA_NODE%d_PID_FILE", n)], c.vals[fmt.Sprintf("PANGATE_CLUSTER_KAFKA_NODE%d_CONF", n)]
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file of broker %d (%q from cluster.env): %v; restart the profile with: %s", n, pidFile, err, startCluster)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("pid file %s holds %q", pidFile, b)
	}
	alive := func() bool {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(cmdline), conf) {
			return false
		}
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return !regexp.MustCompile(`\) Z `).Match(st)
	}
	if !alive() {
		t.Fatalf("pid %d of %s is not broker %d (its command line does not name %s)", pid, pidFile, n, conf)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 broker %d (pid %d): %v", n, pid, err)
	}
	for i := 0; i < 200 && alive(); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if alive() {
		t.Fatalf("broker %d (pid %d) still runs 10s after SIGKILL", n, pid)
	}
}

// restartCluster runs the profile's idempotent up: it starts the brokers that are not running and waits
// until all three answer.
func restartCluster(t *testing.T) {
	t.Helper()
	root, err := stack.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./deploy/local", "kafkacluster", "up")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restart the cluster profile (go run ./deploy/local kafkacluster up): %v\n%s", err, out)
	}
}

// loadRun is pgbench through each gateway, in rounds, and the backend pids of the gateways' JIT roles.
type loadRun struct {
	t     *testing.T
	f     *fixture
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
	mu    sync.Mutex
	pids  map[int]string // backend pid -> JIT role
	bench stack.Pgbench
}

// startLoad runs rounds of pgbench -c 2 -R 20 (TPC-B-like) through each gateway.
func startLoad(t *testing.T, f *fixture, gws []*stack.Gateway) *loadRun {
	l := &loadRun{t: t, f: f, stop: make(chan struct{}), pids: map[int]string{}}
	script, _ := stack.PgbenchScripts(t, f.Tables)
	for _, g := range gws {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.bench.Rounds(l.stop, stack.PgbenchRound{Script: script, Clients: 2, Rate: 20,
				Conninfo: fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=%s sslmode=require", g.Port, f.Role, database),
				Password: func() string { return g.Token("kafkacluster-pgbench") }})
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		stack.WatchJITBackends(t, f.dsn, database, f.Role, l.stop, func(pid int, role string) {
			l.mu.Lock()
			l.pids[pid] = role
			l.mu.Unlock()
		})
	}()
	t.Cleanup(l.finish)
	return l
}

func (l *loadRun) finish() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

func (l *loadRun) summary() string { return l.bench.Summary() }
