package soundness_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// faultyKafka is a private in-process broker for one gateway, used only as a fault injector: while
// refusing is set, every produce request is answered with INVALID_RECORD, so no event is acknowledged.
// PostgreSQL stays the real one. (Stopping the stack's shared broker would stall every other package.)
type faultyKafka struct {
	c        *kfake.Cluster
	refusing atomic.Bool
}

func newFaultyKafka(t *testing.T) *faultyKafka {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	k := &faultyKafka{c: c}
	c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !k.refusing.Load() {
			return nil, nil, false
		}
		req := r.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.Version = req.Version
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.InvalidRecord.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return k
}

// TestSideEffectReadsRecordedAhead (issue 11, root cause 4): a SELECT is not a read when it calls
// something with side effects (sequences, large objects, advisory locks, a user's volatile function —
// directly, through attribute notation, through a view, inside COPY or a cursor). With Kafka refusing
// every event, the client gets 58000 "not run"; then PostgreSQL must show no side effect, because such
// statements are recorded ahead (and refused) rather than run before their event is acknowledged.
func TestSideEffectReadsRecordedAhead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k := newFaultyKafka(t)
	g := startGateway(t, f, gwOpts{brokers: k.c.ListenAddrs()})
	seq, ins, typ, attr, view := f.name("seq"), f.name("ins"), f.name("row"), f.name("fx"), f.name("view")
	f.exec(t,
		fmt.Sprintf("CREATE SEQUENCE %s", seq),
		fmt.Sprintf("CREATE FUNCTION %s() RETURNS int LANGUAGE sql VOLATILE AS $f$ INSERT INTO %s (n) VALUES (1) RETURNING n $f$", ins, f.Log),
		fmt.Sprintf("CREATE TABLE %s (a int)", typ),
		fmt.Sprintf("INSERT INTO %s VALUES (1)", typ),
		fmt.Sprintf("CREATE FUNCTION %s(%s) RETURNS int LANGUAGE sql VOLATILE AS $f$ INSERT INTO %s (n) VALUES ($1.a) RETURNING n $f$", attr, typ, f.Log),
		fmt.Sprintf("CREATE VIEW %s AS SELECT %s() AS x", view, ins),
		fmt.Sprintf("GRANT USAGE, SELECT, UPDATE ON SEQUENCE %s TO %s", seq, f.Role),
		fmt.Sprintf("GRANT SELECT ON %s, %s TO %s", typ, view, f.Role),
	)
	logRows := func(t *testing.T) int64 { return f.int(t, "SELECT count(*) FROM "+f.Log) }
	los := func(t *testing.T) int64 { return f.int(t, "SELECT count(*) FROM pg_largeobject_metadata") }
	type sidefx struct {
		name   string
		before []string                          // run with Kafka accepting
		stmt   string                            // run with Kafka refusing
		after  []string                          // run with Kafka accepting again, before the check
		effect func(t *testing.T, w *wire) int64 // the side effect's size now
	}
	cases := []sidefx{
		{name: "Nextval", stmt: fmt.Sprintf("SELECT nextval('%s')", seq),
			effect: func(t *testing.T, _ *wire) int64 {
				return f.int(t, fmt.Sprintf("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM %s", seq))
			}},
		{name: "LoCreate", stmt: "SELECT lo_create(0)", effect: func(t *testing.T, _ *wire) int64 { return los(t) }},
		{name: "AdvisoryLock", stmt: "SELECT pg_advisory_lock(424242)", effect: func(t *testing.T, w *wire) int64 {
			return f.int(t, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 424242 AND pid = $1", w.PID)
		}},
		{name: "VolatileFunction", stmt: fmt.Sprintf("SELECT %s()", ins), effect: func(t *testing.T, _ *wire) int64 { return logRows(t) }},
		{name: "AttributeNotation", stmt: fmt.Sprintf("SELECT (t).%s FROM %s t", attr, typ), effect: func(t *testing.T, _ *wire) int64 { return logRows(t) }},
		{name: "AttributeNotationDotted", stmt: fmt.Sprintf("SELECT t.%s FROM %s t", attr, typ), effect: func(t *testing.T, _ *wire) int64 { return logRows(t) }},
		{name: "ViewCallsFunction", stmt: fmt.Sprintf("SELECT * FROM %s", view), effect: func(t *testing.T, _ *wire) int64 { return logRows(t) }},
		{name: "SubqueryCTE", stmt: fmt.Sprintf("WITH x AS (SELECT %s() AS n) SELECT (SELECT n FROM x)", ins), effect: func(t *testing.T, _ *wire) int64 { return logRows(t) }},
		{name: "CopyOutOfFunction", stmt: fmt.Sprintf("COPY (SELECT %s()) TO STDOUT", ins), effect: func(t *testing.T, _ *wire) int64 { return logRows(t) }},
		{name: "CursorFetch", before: []string{"BEGIN", fmt.Sprintf("DECLARE c CURSOR FOR SELECT %s()", ins)}, stmt: "FETCH c",
			after: []string{"COMMIT"}, effect: func(t *testing.T, _ *wire) int64 { return logRows(t) }},
		{name: "WithHoldCursorCommit", before: []string{"BEGIN", fmt.Sprintf("DECLARE c CURSOR WITH HOLD FOR SELECT %s()", ins)}, stmt: "COMMIT",
			effect: func(t *testing.T, _ *wire) int64 { return logRows(t) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			off := logOffset(t, f)
			w := connect(t, g, f.Role, nil)
			p := w.probe(c.name)
			for _, q := range c.before {
				if e := errorOf(w.Query(q)); e != nil {
					t.Fatalf("%q with Kafka accepting: %v", q, *e)
				}
			}
			base := c.effect(t, w)
			k.refusing.Store(true)
			ms := w.Query(c.stmt)
			k.refusing.Store(false)
			e := errorOf(ms)
			switch {
			case e == nil:
				t.Errorf("%q answered %v while Kafka refused every event: it ran unrecorded", c.stmt, ms)
			case e.Code == "58000":
				p.NotRun = append(p.NotRun, c.stmt)
			default:
				t.Logf("%q answered %v (not 58000)", c.stmt, *e)
			}
			for _, q := range c.after {
				w.Query(q)
			}
			if now := c.effect(t, w); now != base {
				t.Errorf("%q: the client was told %v, but its side effect is in PostgreSQL (%d -> %d)", c.stmt, e, base, now)
			}
			w.Close()
			checkAudit(t, g, f, off, p)
		})
	}
}
