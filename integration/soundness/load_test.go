package soundness_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// Faults under load (issue 14, Faults and Tests): pgbench's TPC-B-like writes and its select-only reads,
// plus a pgx loop that knows what each of its statements was answered, run through a gateway while the
// stack's Kafka broker is stopped and started again (stack.StopKafka/StartKafka: the cross-process service
// lock keeps other test packages off the broker meanwhile) and, in pipelined mode, while the gateway is
// killed with SIGKILL. Then PostgreSQL's statement log of every backend of the gateway's sessions is
// compared with the audit events:
//   - strict: every statement PostgreSQL ran has its query.executed; every COMMIT it ran is recorded; no
//     client was told 58000 ("not run") for a statement PostgreSQL ran;
//   - pipelined, after a kill -9: per session at most one statement PostgreSQL ran is missing from the
//     events, and it is a read (never a write or a COMMIT).
//
// pgbench 15 aborts a client on any error but serialization failures and deadlocks (--max-tries retries
// only those), so pgbench runs in short rounds, started again until the outage is over; the pgx loop
// reconnects after a refusal and is what the 58000 check relies on.

// loadTables creates the fixture's pgbench-like tables (scale: 10,000 accounts, 10 tellers, 1 branch) and
// returns their prefix: <p>_accounts, <p>_tellers, <p>_branches, <p>_history.
func loadTables(t *testing.T, f *fixture) string {
	p := f.name("pb")
	f.exec(t,
		fmt.Sprintf("CREATE TABLE %s_branches (bid int PRIMARY KEY, bbalance int NOT NULL, filler char(88))", p),
		fmt.Sprintf("CREATE TABLE %s_tellers (tid int PRIMARY KEY, bid int, tbalance int NOT NULL, filler char(84))", p),
		fmt.Sprintf("CREATE TABLE %s_accounts (aid int PRIMARY KEY, bid int, abalance int NOT NULL, filler char(84))", p),
		fmt.Sprintf("CREATE TABLE %s_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22))", p),
		fmt.Sprintf("INSERT INTO %s_branches VALUES (1, 0, '')", p),
		fmt.Sprintf("INSERT INTO %s_tellers SELECT g, 1, 0, '' FROM generate_series(1, 10) g", p),
		fmt.Sprintf("INSERT INTO %s_accounts SELECT g, 1, 0, '' FROM generate_series(1, 10000) g", p),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %[1]s_branches, %[1]s_tellers, %[1]s_accounts, %[1]s_history TO %[2]s", p, f.Role),
	)
	return p
}

// pgbenchScripts writes pgbench's built-in TPC-B-like and select-only scripts over the prefixed tables.
func pgbenchScripts(t *testing.T, p string) (tpcb, selectOnly string) {
	dir := t.TempDir()
	tpcb, selectOnly = filepath.Join(dir, "tpcb.sql"), filepath.Join(dir, "select.sql")
	tb := fmt.Sprintf(`\set aid random(1, 10000)
\set bid 1
\set tid random(1, 10)
\set delta random(-5000, 5000)
BEGIN;
UPDATE %[1]s_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM %[1]s_accounts WHERE aid = :aid;
UPDATE %[1]s_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE %[1]s_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO %[1]s_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
END;
`, p)
	sb := fmt.Sprintf("\\set aid random(1, 10000)\nSELECT abalance FROM %s_accounts WHERE aid = :aid;\n", p)
	for path, s := range map[string]string{tpcb: tb, selectOnly: sb} {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return tpcb, selectOnly
}

// sent is one statement of the pgx loop with what the client was told.
type sent struct {
	SQL    string
	Result string // ok, pgerror <code>, refused (pangate's 58000/42501), lost (no answer: connection gone)
}

// loopConn is one connection of the pgx loop.
type loopConn struct {
	PID  int
	Tag  string
	Sent []sent
}

// loadRun drives the load and collects what the checks need.
type loadRun struct {
	t       *testing.T
	g       *gw
	f       *fixture
	prefix  string
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []*loopConn
	pids    map[int]string // backend pid -> JIT role, from pg_stat_activity
	bench   []string       // pgbench outputs
	benchTx int64
	uniq    atomic.Int64
}

func startLoad(t *testing.T, g *gw, f *fixture, prefix string) *loadRun {
	l := &loadRun{t: t, g: g, f: f, prefix: prefix, stop: make(chan struct{}), pids: map[int]string{}}
	tpcb, sel := pgbenchScripts(t, prefix)
	l.wg.Add(5)
	go l.pgbench(tpcb, 4, 40)
	go l.pgbench(sel, 2, 100)
	go l.pgxLoop()
	go l.pgxLoop()
	go l.watchBackends()
	// A test that fails (t.Fatal, e.g. StopKafka that cannot take the broker) stops its load before the
	// gateway and the token issuer the load uses go away.
	t.Cleanup(l.finish)
	return l
}

// finish stops the load and waits for it.
func (l *loadRun) finish() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

func (l *loadRun) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

var benchTxRE = regexp.MustCompile(`number of transactions actually processed: (\d+)`)

// pgbench runs rounds of pgbench -c clients -T 3 -R rate until the load stops (a round ends early when
// its clients were aborted by errors). The rate keeps a shared 2-core machine usable while StopKafka waits
// for the broker's other users.
func (l *loadRun) pgbench(script string, clients, rate int) {
	defer l.wg.Done()
	for !l.stopped() {
		cmd := exec.Command("pgbench", "-n", "-M", "simple", "-c", strconv.Itoa(clients), "-T", "3", "-R", strconv.Itoa(rate), "-f", script,
			fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=%s sslmode=require", l.g.Port, l.f.Role, database))
		cmd.Env = append(os.Environ(), "PGPASSWORD="+l.g.token("h2-pgbench"), "PGCONNECT_TIMEOUT=10")
		out, _ := cmd.CombinedOutput()
		l.mu.Lock()
		l.bench = append(l.bench, string(out))
		if m := benchTxRE.FindStringSubmatch(string(out)); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			l.benchTx += n
		}
		l.mu.Unlock()
		if !strings.Contains(string(out), "number of transactions actually processed") {
			time.Sleep(300 * time.Millisecond) // the gateway refused the sessions (outage)
		}
	}
}

// watchBackends records the backend pid of every JIT-role session in h2_sound while the load runs.
func (l *loadRun) watchBackends() {
	defer l.wg.Done()
	c, err := pgx.Connect(context.Background(), soundDB(l.t))
	if err != nil {
		l.t.Errorf("watch pg_stat_activity: %v", err)
		return
	}
	defer c.Close(context.Background())
	for {
		rows, err := c.Query(context.Background(), `SELECT pid, usename FROM pg_stat_activity WHERE datname = $1 AND usename LIKE 'pangate_jit_%'`, database)
		if err != nil {
			l.t.Logf("watch pg_stat_activity: %v", err)
		} else {
			for rows.Next() {
				var pid int
				var role string
				if rows.Scan(&pid, &role) == nil {
					l.mu.Lock()
					l.pids[pid] = role
					l.mu.Unlock()
				}
			}
			rows.Close()
		}
		if l.stopped() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pgxLoop runs TPC-B-like transactions through the gateway, every statement with a unique literal, and
// keeps what each was answered. After a refusal or a lost connection it starts a new connection.
func (l *loadRun) pgxLoop() {
	defer l.wg.Done()
	ctx := context.Background()
	for !l.stopped() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := pgx.Connect(cctx, l.g.dsn(l.f.Role))
		cancel()
		if err != nil {
			time.Sleep(300 * time.Millisecond)
			continue
		}
		lc := &loopConn{Tag: newTag()}
		if err := c.QueryRow(ctx, fmt.Sprintf("SELECT pg_backend_pid(), '%s'", lc.Tag), pgx.QueryExecModeSimpleProtocol).Scan(&lc.PID, new(string)); err != nil {
			_ = c.Close(ctx)
			time.Sleep(300 * time.Millisecond)
			continue
		}
		l.mu.Lock()
		l.conns = append(l.conns, lc)
		l.mu.Unlock()
		l.pgxConn(c, lc)
		_ = c.Close(ctx)
	}
}

func (l *loadRun) pgxConn(c *pgx.Conn, lc *loopConn) {
	p := l.prefix
	for !l.stopped() {
		aid, tid, u := 1+rand.IntN(10000), 1+rand.IntN(10), l.uniq.Add(1)
		tx := []string{
			"BEGIN",
			fmt.Sprintf("UPDATE %s_accounts SET abalance = abalance + %d WHERE aid = %d", p, u, aid),
			fmt.Sprintf("SELECT abalance, %d FROM %s_accounts WHERE aid = %d", u, p, aid),
			fmt.Sprintf("UPDATE %s_tellers SET tbalance = tbalance + %d WHERE tid = %d", p, u, tid),
			fmt.Sprintf("UPDATE %s_branches SET bbalance = bbalance + %d WHERE bid = 1", p, u),
			fmt.Sprintf("INSERT INTO %s_history (tid, bid, aid, delta, mtime) VALUES (%d, 1, %d, %d, CURRENT_TIMESTAMP)", p, tid, aid, u),
			"COMMIT",
		}
		for _, q := range tx {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := c.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol)
			cancel()
			res := "ok"
			var pe *pgconn.PgError
			switch {
			case errors.As(err, &pe) && strings.Contains(pe.Message, "result was withheld"):
				// A read that ran while Kafka refused its record: the gateway says so (it is recorded as
				// withheld once Kafka is back), unlike a refusal of a statement that did not run.
				res = "withheld"
			case errors.As(err, &pe) && refusedByGateway(&msg{Code: pe.Code, Message: pe.Message}):
				res = "refused"
			case errors.As(err, &pe) && pe.Severity != "FATAL":
				res = "pgerror " + pe.Code
			case err != nil:
				res = "lost"
			}
			l.mu.Lock()
			lc.Sent = append(lc.Sent, sent{SQL: q, Result: res})
			l.mu.Unlock()
			switch {
			case res == "ok":
			case strings.HasPrefix(res, "pgerror"):
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := c.Exec(ctx, "ROLLBACK", pgx.QueryExecModeSimpleProtocol)
				cancel()
				r := "ok"
				if err != nil {
					r = "lost"
				}
				l.mu.Lock()
				lc.Sent = append(lc.Sent, sent{SQL: "ROLLBACK", Result: r})
				l.mu.Unlock()
				if err != nil {
					return
				}
			default:
				return // refused or lost: the connection is left (a new one starts)
			}
			if l.stopped() && q == "COMMIT" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// topicSessions reads the gateway's whole audit topic, once the gateway has stopped writing (stopped or
// killed): every partition up to its end offset. It returns the events by session, in log order.
func topicSessions(t *testing.T, g *gw) map[string][]schemas.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := stack.KafkaAdmin(t).ListEndOffsets(ctx, g.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", g.Topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	cl := stack.Kafka(t, kgo.ConsumeTopics(g.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	by := map[string][]schemas.Event{}
	for len(want) > 0 && ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
			e, err := schemas.Parse(r.Value)
			if err != nil {
				t.Errorf("audit record is not an event: %v", err)
				return
			}
			by[e.Session] = append(by[e.Session], e)
		})
		pcancel()
	}
	if len(want) > 0 {
		t.Fatalf("the audit topic %s was not read to its end within 60s (partitions left: %v)", g.Topic, want)
	}
	return by
}

// sessionOf maps backend pids to the sessions of the topic: through the JIT role (session.started) for
// the pids seen in pg_stat_activity, through the tag for the pgx loop's connections.
func (l *loadRun) sessionOf(by map[string][]schemas.Event) map[int]string {
	roleSession := map[string]string{}
	tagSession := map[string]string{}
	for s, evs := range by {
		for _, e := range evs {
			switch e.Type {
			case schemas.TypeSessionStarted:
				var d schemas.SessionStarted
				if e.Decode(&d) == nil {
					roleSession[d.Role] = s
				}
			case schemas.TypeQueryExecuted:
				if i := strings.Index(string(e.Data), "h2tag-"); i >= 0 && len(e.Data) >= i+18 {
					tagSession[string(e.Data[i:i+18])] = s
				}
			}
		}
	}
	out := map[int]string{}
	for pid, role := range l.pids {
		if s, ok := roleSession[role]; ok {
			out[pid] = s
		}
	}
	for _, c := range l.conns {
		if s, ok := tagSession[c.Tag]; ok {
			out[c.PID] = s
		}
	}
	return out
}

// stmtText is a statement's text as compared: whitespace collapsed, case folded, no final semicolon.
func stmtText(s string) string {
	return squash(strings.TrimSuffix(strings.TrimSpace(s), ";"))
}

// missing is a statement PostgreSQL ran that no query.executed of its session records.
type missing struct {
	PID  int
	SQL  string
	Kind string
}

// compareLoad matches, per backend, PostgreSQL's log with the session's query.executed events (exact text:
// the load's statements carry literals), and returns what PostgreSQL ran with no event. It also reports a
// statement recorded as executed and as refused with 58000 (told "not run" although it ran).
func (l *loadRun) compareLoad(logs map[int][]logEntry, by map[string][]schemas.Event, sessionOf map[int]string) (miss []missing, stats loadStats) {
	t := l.t
	for pid, entries := range logs {
		s, ok := sessionOf[pid]
		if !ok {
			// A short-lived backend (a pgbench client aborted during the outage) may end before
			// pg_stat_activity is sampled: attribute it by its statements' texts, which carry random literals.
			s, ok = sessionByText(entries, by, l.prefix)
		}
		if !ok {
			for _, e := range entries {
				if strings.Contains(e.Text, l.prefix) {
					role, seen := l.pids[pid]
					t.Errorf("backend %d ran %q on the load's tables but belongs to no session of the gateway's topic (seen in pg_stat_activity: %v, role %q)", pid, e.Text, seen, role)
					break
				}
			}
			continue
		}
		stats.Backends++
		type ev struct {
			sql  string
			used bool
		}
		var evs []ev
		executedIdx := map[int64]string{}
		for _, e := range by[s] {
			if e.Type != schemas.TypeQueryExecuted && e.Type != schemas.TypeQueryBlocked {
				continue
			}
			var q schemas.QueryExecuted
			if err := e.Decode(&q); err != nil {
				t.Fatal(err)
			}
			if e.Type == schemas.TypeQueryBlocked {
				var b schemas.QueryBlocked
				_ = e.Decode(&b)
				if b.SQLState == "58000" {
					stats.Refused++
				}
				if sql, ok := executedIdx[q.Statement.Index]; ok && !strings.Contains(b.Message, "withheld") {
					t.Errorf("backend %d: %q (statement %d of session %s) has a query.executed and a query.blocked %s (%s): the client was told it was not run, but it was forwarded",
						pid, sql, q.Statement.Index, s, b.SQLState, b.Message)
				}
				continue
			}
			executedIdx[q.Statement.Index] = q.Statement.SQL
			evs = append(evs, ev{sql: stmtText(q.Statement.SQL)})
		}
		next := 0
		for _, le := range entries {
			pieces := []string{le.Text}
			if ps, err := pg_query.SplitWithScanner(le.Text, true); err == nil && len(ps) > 0 {
				pieces = ps
			}
			for _, piece := range pieces {
				stats.Ran++
				want := stmtText(piece)
				if want == "commit" || want == "end" {
					stats.Commits++
				}
				idx := -1
				for pass := 0; pass < 2 && idx < 0; pass++ {
					from := next
					if pass == 1 {
						from = 0
					}
					for i := from; i < len(evs); i++ {
						if !evs[i].used && evs[i].sql == want {
							idx = i
							break
						}
					}
				}
				if idx < 0 {
					kind := "unparseable"
					if cl := classify.Classify(piece); len(cl) == 1 {
						kind = string(cl[0].Kind)
					}
					miss = append(miss, missing{PID: pid, SQL: piece, Kind: kind})
					continue
				}
				evs[idx].used = true
				next = idx + 1
			}
		}
	}
	return miss, stats
}

type loadStats struct {
	Backends, Ran, Commits, Refused int
}

// checkLoopAnswers checks the pgx loop's connections: PostgreSQL ran exactly what the client was answered
// for, in order; a statement the client was told was refused (58000) is not in the log.
func (l *loadRun) checkLoopAnswers(logs map[int][]logEntry) (refused int) {
	t := l.t
	for _, c := range l.conns {
		var ran []string
		for _, le := range logs[c.PID] {
			ran = append(ran, stmtText(le.Text))
		}
		// The first logged statement is the tag query; the client's list starts after it.
		if len(ran) > 0 && strings.Contains(ran[0], strings.ToLower(c.Tag)) {
			ran = ran[1:]
		}
		for i, s := range c.Sent {
			if s.Result == "refused" {
				refused++
			}
			if i >= len(ran) {
				if s.Result == "ok" || strings.HasPrefix(s.Result, "pgerror") {
					t.Errorf("pgx backend %d: the client was answered %s for %q, but PostgreSQL's log ends before it", c.PID, s.Result, s.SQL)
				}
				continue
			}
			if ran[i] != stmtText(s.SQL) {
				t.Errorf("pgx backend %d: statement %d of the client was %q (%s), PostgreSQL ran %q", c.PID, i, s.SQL, s.Result, ran[i])
				break
			}
			if s.Result == "refused" {
				t.Errorf("pgx backend %d: the client was told %q was not run (pangate's 58000), but PostgreSQL ran it", c.PID, s.SQL)
			}
		}
		if len(ran) > len(c.Sent) {
			t.Errorf("pgx backend %d: PostgreSQL ran %d statements after the last one the client sent: %q", c.PID, len(ran)-len(c.Sent), ran[len(c.Sent):])
		}
	}
	return refused
}

// readLog reads PostgreSQL's log since offset, by backend.
func readLog(t *testing.T, f *fixture, offset int64) map[int][]logEntry {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	var text string
	if err := f.Admin.QueryRow(context.Background(), "SELECT pg_read_file($1, $2, greatest((pg_stat_file($1)).size - $2, 0))", pgLogPath(t), offset).Scan(&text); err != nil {
		t.Fatalf("read PostgreSQL's log %s as superuser: %v", pgLogPath(t), err)
	}
	return parseLogAll(text)
}

// dropLeftJIT drops the JIT roles a killed gateway left (members of the fixture's role), after ending
// their backends; registered after newFixture, it runs before the fixture's own cleanup.
func dropLeftJIT(t *testing.T, f *fixture) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		rows, err := f.Admin.Query(ctx, `SELECT r.rolname FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid
			WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = $1) AND r.rolname LIKE 'pangate_jit_%'`, f.Role)
		if err != nil {
			return
		}
		var roles []string
		for rows.Next() {
			var r string
			if rows.Scan(&r) == nil {
				roles = append(roles, r)
			}
		}
		rows.Close()
		for _, r := range roles {
			_, _ = f.Admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", r)
			_, _ = f.Admin.Exec(ctx, fmt.Sprintf("DROP OWNED BY %q", r))
			_, _ = f.Admin.Exec(ctx, fmt.Sprintf("DROP ROLE IF EXISTS %q", r))
		}
	})
}

func (l *loadRun) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	aborted, audit := 0, 0
	for _, o := range l.bench {
		aborted += strings.Count(o, "aborted in command")
		audit += strings.Count(o, "pangate: the audit log")
	}
	stmts := 0
	for _, c := range l.conns {
		stmts += len(c.Sent)
	}
	return fmt.Sprintf("pgbench: %d rounds, %d transactions, %d clients aborted (%d by pangate's audit refusals); pgx loop: %d connections, %d statements",
		len(l.bench), l.benchTx, aborted, audit, len(l.conns), stmts)
}

// TestBrokerStopUnderLoad stops and starts Kafka under pgbench and pgx load, first through a strict
// gateway, then through a pipelined one that is also killed with SIGKILL, and compares PostgreSQL's log
// with the events after each. Both phases are one test so that the broker is taken from its other users
// (other test packages) once: the second StopKafka of the same test does not wait again.
//
// Not tested (not implemented in the gateway, issue 14.4): that the reaper records a read lost in a
// pipelined gateway's crash as an event naming the last acknowledged seq, and that the integrity report
// shows it.
func TestBrokerStopUnderLoad(t *testing.T) {
	f := newFixture(t)
	dropLeftJIT(t, f)
	prefix := loadTables(t, f)

	// Strict: nothing PostgreSQL ran is unrecorded, and no client was told 58000 for what ran.
	g := startGateway(t, f, gwOpts{})
	off := logOffset(t, f)
	l := startLoad(t, g, f, prefix)
	time.Sleep(2 * time.Second)
	asked := time.Now()
	stack.StopKafka(t)
	t.Logf("strict: Kafka stopped %.1fs after the request (the stack waits for the broker's other users)", time.Since(asked).Seconds())
	time.Sleep(2 * time.Second)
	stack.StartKafka(t)
	time.Sleep(3 * time.Second) // sessions resume
	l.finish()
	t.Log("strict: " + l.summary())
	g.Stop() // its sessions end and are recorded
	by := topicSessions(t, g)
	t.Logf("strict: %d sessions in the audit topic, %d backends seen", len(by), len(l.pids))
	logs := readLog(t, f, off)
	miss, st := l.compareLoad(logs, by, l.sessionOf(by))
	refused := l.checkLoopAnswers(logs)
	t.Logf("strict: compared %d backends: PostgreSQL ran %d statements (%d COMMIT/END); %d ran without a query.executed; %d query.blocked 58000 events; the pgx loop was refused %d statements",
		st.Backends, st.Ran, st.Commits, len(miss), st.Refused, refused)
	for _, m := range miss {
		what := "a " + m.Kind
		if c := stmtText(m.SQL); c == "commit" || c == "end" {
			what = "a COMMIT"
		}
		t.Errorf("strict: PostgreSQL ran %s with no query.executed event (backend %d): %q", what, m.PID, m.SQL)
	}
	if st.Backends == 0 || st.Commits == 0 {
		t.Errorf("strict: no load was compared (%d backends, %d commits): %s", st.Backends, st.Commits, l.summary())
	}

	// Pipelined, then a gateway crash: each session may lose at most one read, never a write or a COMMIT.
	g = startGateway(t, f, gwOpts{reads: "pipelined"})
	off = logOffset(t, f)
	l = startLoad(t, g, f, prefix)
	time.Sleep(2 * time.Second)
	stack.StopKafka(t) // the test holds the broker exclusively already: no wait
	time.Sleep(2 * time.Second)
	stack.StartKafka(t)
	time.Sleep(3 * time.Second)
	if err := g.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9 the gateway: %v", err)
	}
	<-g.exited
	l.finish()
	t.Log("pipelined: " + l.summary())
	by = topicSessions(t, g)
	t.Logf("pipelined: %d sessions in the audit topic, %d backends seen", len(by), len(l.pids))
	logs = readLog(t, f, off)
	miss, st = l.compareLoad(logs, by, l.sessionOf(by))
	refused = l.checkLoopAnswers(logs) // a released read is not refused afterwards either
	perPID := map[int][]missing{}
	for _, m := range miss {
		perPID[m.PID] = append(perPID[m.PID], m)
	}
	lostReads := 0
	for pid, ms := range perPID {
		for _, m := range ms {
			if m.Kind != "read" {
				t.Errorf("pipelined: PostgreSQL ran a %s with no query.executed event (backend %d): %q; only a read may be lost", m.Kind, pid, m.SQL)
			}
		}
		if len(ms) > 1 {
			var texts []string
			for _, m := range ms {
				texts = append(texts, m.SQL)
			}
			t.Errorf("pipelined: backend %d ran %d statements with no query.executed event; at most one read may be lost: %q", pid, len(ms), texts)
		} else if ms[0].Kind == "read" {
			lostReads++
		}
	}
	t.Logf("pipelined: compared %d backends: PostgreSQL ran %d statements (%d COMMIT/END); %d sessions lost one read; %d statements missing in all; the pgx loop was refused %d statements",
		st.Backends, st.Ran, st.Commits, lostReads, len(miss), refused)
	if st.Backends == 0 || st.Commits == 0 {
		t.Errorf("pipelined: no load was compared (%d backends, %d commits): %s", st.Backends, st.Commits, l.summary())
	}
}

// sessionByText finds the session whose query.executed events hold most of the backend's statements on
// the load's tables (their literals are random, so another session holding them is chance); it needs at
// least two of them, or the only one the backend ran.
func sessionByText(entries []logEntry, by map[string][]schemas.Event, prefix string) (string, bool) {
	want := map[string]bool{}
	for _, e := range entries {
		if strings.Contains(e.Text, prefix) {
			want[stmtText(e.Text)] = true
		}
	}
	if len(want) == 0 {
		return "", false
	}
	best, bestN := "", 0
	for s, evs := range by {
		n := 0
		for _, e := range evs {
			if e.Type != schemas.TypeQueryExecuted {
				continue
			}
			var q schemas.QueryExecuted
			if e.Decode(&q) == nil && want[stmtText(q.Statement.SQL)] {
				n++
			}
		}
		if n > bestN {
			best, bestN = s, n
		}
	}
	if bestN >= 2 || (bestN == 1 && len(want) == 1) {
		return best, true
	}
	return "", false
}
