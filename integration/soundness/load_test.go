package soundness_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/kafka"
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
	f.exec(t, stack.PgbenchTables(p, f.Role)...)
	return p
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
	t      *testing.T
	g      *gw
	f      *fixture
	prefix string
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []*loopConn
	pids   map[int]string // backend pid -> JIT role, from pg_stat_activity
	bench  stack.Pgbench
	uniq   atomic.Int64
}

func startLoad(t *testing.T, g *gw, f *fixture, prefix string) *loadRun {
	l := &loadRun{t: t, g: g, f: f, prefix: prefix, stop: make(chan struct{}), pids: map[int]string{}}
	tpcb, sel := stack.PgbenchScripts(t, prefix)
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=%s sslmode=require", g.Port, f.Role, database)
	token := func() string { return g.token("h2-pgbench") }
	l.wg.Add(5)
	// The rates keep a shared 2-core machine usable while StopKafka waits for the broker's other users.
	go func() {
		defer l.wg.Done()
		l.bench.Rounds(l.stop, stack.PgbenchRound{Script: tpcb, Clients: 4, Rate: 40, Conninfo: conninfo, Password: token})
	}()
	go func() {
		defer l.wg.Done()
		l.bench.Rounds(l.stop, stack.PgbenchRound{Script: sel, Clients: 2, Rate: 100, Conninfo: conninfo, Password: token})
	}()
	go l.pgxLoop()
	go l.pgxLoop()
	go func() {
		defer l.wg.Done()
		stack.WatchJITBackends(t, soundDB(t), database, f.Role, l.stop, func(pid int, role string) {
			l.mu.Lock()
			l.pids[pid] = role
			l.mu.Unlock()
		})
	}()
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
	// Right after the broker restarts a partition may still be electing its leader: retry (the services'
	// own retry, internal/kafka).
	adm := stack.KafkaAdmin(t)
	ends, err := kafka.ListOffsets(ctx, adm.ListEndOffsets, g.Topic, 45*time.Second)
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
func stmtText(s string) string { return stack.StatementText(s) }

// missing is a statement PostgreSQL ran that no query.executed of its session records.
type missing = stack.StatementMiss

// compareLoad compares PostgreSQL's log with the events (stack.CompareStatementLog) over the load's tables.
func (l *loadRun) compareLoad(logs map[int][]logEntry, by map[string][]schemas.Event, sessionOf map[int]string) ([]missing, stack.LogComparison) {
	c := stack.CompareStatementLog(l.t, logs, by, sessionOf, l.prefix)
	return c.Missing, c
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
	return stack.ReadPGLog(t, f.Admin, offset)
}

// dropLeftJIT drops the JIT roles a killed gateway left (members of the fixture's role), after ending
// their backends; registered after newFixture, it runs before the fixture's own cleanup.
func dropLeftJIT(t *testing.T, f *fixture) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stack.DropJITMembers(ctx, f.Admin, f.Role)
	})
}

func (l *loadRun) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	stmts := 0
	for _, c := range l.conns {
		stmts += len(c.Sent)
	}
	return fmt.Sprintf("%s; pgx loop: %d connections, %d statements", l.bench.Summary(), len(l.conns), stmts)
}

// TestBrokerStopUnderLoad stops and starts Kafka under pgbench and pgx load, first through a strict
// gateway, then through a pipelined one that is also killed with SIGKILL, and compares PostgreSQL's log
// with the events after each. Both phases are one test so that the broker is taken from its other users
// (other test packages) once: the second StopKafka of the same test does not wait again.
//
// That the reaper records each session a pipelined gateway's crash cut off (session.reaped naming its last
// acknowledged seq) and that the integrity report shows it is TestPipelinedCrashRecordedByReaper (no broker
// stop there, so it does not take Kafka from the other packages).
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
	t.Logf("strict: compared %d backends: PostgreSQL ran %d statements (%d COMMIT/END); %d ran without a query.executed; %d query.blocked 58000 events (%d of them late notes for a refused statement); the pgx loop was refused %d statements",
		st.Backends, st.Ran, st.Commits, len(miss), st.Refused, st.LateRefused, refused)
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
	t.Logf("pipelined: compared %d backends: PostgreSQL ran %d statements (%d COMMIT/END); %d sessions lost one read; %d statements missing in all; %d late notes for a refused statement; the pgx loop was refused %d statements",
		st.Backends, st.Ran, st.Commits, lostReads, len(miss), st.LateRefused, refused)
	if st.Backends == 0 || st.Commits == 0 {
		t.Errorf("pipelined: no load was compared (%d backends, %d commits): %s", st.Backends, st.Commits, l.summary())
	}
}
