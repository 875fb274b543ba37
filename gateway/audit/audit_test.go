package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/schemas"
)

func newProducer(t *testing.T) (*Producer, *kfake.Cluster) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, schemas.TopicAudit))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	p, err := New(Config{Brokers: c.ListenAddrs(), Topic: schemas.TopicAudit, AckTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p, c
}

func readAll(t *testing.T, c *kfake.Cluster, want int) []schemas.Event {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(schemas.TopicAudit), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var evs []schemas.Event
	deadline := time.Now().Add(10 * time.Second)
	for len(evs) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			e, err := schemas.Parse(r.Value)
			if err != nil || string(r.Key) != e.Session {
				t.Fatalf("record %s: %v", r.Key, err)
			}
			evs = append(evs, e)
		})
		cancel()
	}
	return evs
}

// TestSessionChainAndCheckpoints writes two sessions and checkpoints on a run chain and verifies both
// offline: chains, signatures, numbering, and that a checkpoint lists the heads it saw.
func TestSessionChainAndCheckpoints(t *testing.T) {
	p, c := newProducer(t)
	src := schemas.Source{Instance: "unit", Version: "test"}
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	run := p.Run(schemas.NewID(), src)
	cp := p.NewCheckpointer(run, key, "unit", time.Second)
	s1 := p.Session(schemas.NewID(), src)
	for i := 0; i < 3; i++ {
		if _, err := s1.Emit(schemas.TypeSessionStarted, schemas.SessionStarted{Target: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	last, err := s1.End(schemas.TypeSessionEnded, schemas.SessionEnded{Reason: "client_terminate"})
	if err != nil {
		t.Fatal(err)
	}
	c1, err := cp.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if len(c1.Sessions) != 1 || c1.Sessions[0] != (schemas.SessionHead{Session: last.Session, Seq: 3, Hash: last.Hash, Ended: true}) {
		t.Fatalf("checkpoint heads %+v", c1.Sessions)
	}
	c2, err := cp.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.Sessions) != 0 {
		t.Fatalf("second checkpoint repeats heads: %+v", c2.Sessions)
	}
	if err := schemas.VerifyCheckpoints([]schemas.Checkpoint{c1, c2}, pub); err != nil {
		t.Fatal(err)
	}
	evs := readAll(t, c, 6)
	bySession := map[string][]schemas.Event{}
	for _, e := range evs {
		bySession[e.Session] = append(bySession[e.Session], e)
	}
	for id, s := range bySession {
		if err := schemas.VerifySession(s); err != nil {
			t.Fatalf("session %s: %v", id, err)
		}
	}
}

// TestRefusedEventLeavesChainUnchanged: when Kafka cannot take an event, Emit fails with ErrUnavailable and
// the next event reuses its seq, so no gap appears.
func TestRefusedEventLeavesChainUnchanged(t *testing.T) {
	p, c := newProducer(t)
	s := p.Session(schemas.NewID(), schemas.Source{Instance: "unit"})
	if _, err := s.Emit(schemas.TypeSessionStarted, schemas.SessionStarted{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err := s.Emit(schemas.TypeQueryExecuted, schemas.QueryExecuted{Outcome: "forwarded"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable with Kafka gone, got %v", err)
	}
	if p.Healthy() {
		t.Fatal("producer reports healthy after a refused event")
	}
	if seq, _, _ := s.Head(); seq != 0 {
		t.Fatalf("chain moved to %d after a refused event", seq)
	}
}

// TestLostAckNeverForksTheChain: Kafka wrote an event but the producer was told it failed with a retriable
// error (an answer lost, then NOT_ENOUGH_REPLICAS on the retry: seen on the three-broker profile with two
// brokers killed). Before the fix the next event took the same seq and the log held two events at one seq
// (a fork the integrity report calls tampering). Now the same record is sent again, then its note, then the
// next event: kept once per event id, the chain verifies.
func TestLostAckNeverForksTheChain(t *testing.T) {
	p, c := newProducer(t)
	s := p.Session(schemas.NewID(), schemas.Source{Instance: "unit"})
	if _, err := s.Emit(schemas.TypeSessionStarted, schemas.SessionStarted{}); err != nil {
		t.Fatal(err)
	}
	var lose atomic.Int32
	lose.Store(1)
	p.ackFault = func(err error) error {
		if err == nil && lose.Add(-1) >= 0 {
			return kerr.NotEnoughReplicas
		}
		return err
	}
	note := &Note{Type: schemas.TypeQueryBlocked, Data: schemas.QueryBlocked{Reason: "audit_unavailable", SQLState: "58000", Message: "not run"}}
	_, err := s.EmitNoted(schemas.TypeQueryExecuted, schemas.QueryExecuted{Outcome: "forwarded"}, note)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable for an event reported failed, got %v", err)
	}
	b, err := s.Emit(schemas.TypeQueryExecuted, schemas.QueryExecuted{Outcome: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Seq != 3 {
		t.Errorf("next event has seq %d, want 3 (after the landed event at 1 and its note at 2)", b.Seq)
	}
	raw := readAll(t, c, 5)
	var evs []schemas.Event
	seen, bySeq := map[string]bool{}, map[uint64]string{}
	for _, e := range raw {
		if other, ok := bySeq[e.Seq]; ok && other != e.ID {
			t.Errorf("seq %d holds two events, %s and %s: the chain forked", e.Seq, other, e.ID)
		}
		bySeq[e.Seq] = e.ID
		if !seen[e.ID] {
			seen[e.ID] = true
			evs = append(evs, e)
		}
	}
	if len(raw) != 5 || len(evs) != 4 {
		t.Fatalf("%d records, %d events; want 5 records (the lost one sent twice) and 4 events", len(raw), len(evs))
	}
	if evs[2].Type != schemas.TypeQueryBlocked {
		t.Errorf("event 2 is %s, want the note (query.blocked) after the landed event", evs[2].Type)
	}
	if err := schemas.VerifySession(evs); err != nil {
		t.Fatalf("chain: %v", err)
	}
}

// TestRefusedLoginStillEnds: auth.succeeded, the first event of a client session, was written but reported
// failed (the outage of integration/kafkacluster's two-broker kill), and the gateway refused the login.
// EndIfBegun must still end the chain: the first event is sent again and session.ended follows, in the
// background once Kafka answers. Before, the log held a chain of one auth.succeeded that looked cut by a
// crash.
func TestRefusedLoginStillEnds(t *testing.T) {
	p, c := newProducer(t)
	s := p.Session(schemas.NewID(), schemas.Source{Instance: "unit"})
	var lose atomic.Int32
	lose.Store(2) // the first attempt and the first resend are reported failed, though written
	p.ackFault = func(err error) error {
		if err == nil && lose.Add(-1) >= 0 {
			return kerr.NotEnoughReplicas
		}
		return err
	}
	if _, err := s.Emit(schemas.TypeAuthSucceeded, schemas.AuthSucceeded{Target: "pg"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable for an event reported failed, got %v", err)
	}
	_, begun, err := s.EndIfBegun(schemas.TypeSessionEnded, schemas.SessionEnded{Reason: string(schemas.EndAuditUnavailable)})
	if !begun || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("EndIfBegun = begun %v, %v; want begun, ErrUnavailable while Kafka still fails", begun, err)
	}
	raw := readAll(t, c, 4)
	var evs []schemas.Event
	seen := map[string]bool{}
	for _, e := range raw {
		if !seen[e.ID] {
			seen[e.ID] = true
			evs = append(evs, e)
		}
	}
	if len(evs) != 2 || evs[1].Type != schemas.TypeSessionEnded {
		t.Fatalf("%d records, events %v; want auth.succeeded (sent three times) then session.ended", len(raw), types(evs))
	}
	if err := schemas.VerifySession(evs); err != nil {
		t.Fatalf("chain: %v", err)
	}
}

// TestRefusedForGoodHasNoChain: a first event refused with a non-retriable error was not written, so
// EndIfBegun writes nothing (a chain of one session.ended would be noise).
func TestRefusedForGoodHasNoChain(t *testing.T) {
	p, c := newProducer(t)
	p.ackFault = func(error) error { return kerr.MessageTooLarge }
	s := p.Session(schemas.NewID(), schemas.Source{Instance: "unit"})
	if _, err := s.Emit(schemas.TypeAuthSucceeded, schemas.AuthSucceeded{Target: "pg"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	p.ackFault = nil
	if _, begun, err := s.EndIfBegun(schemas.TypeSessionEnded, schemas.SessionEnded{}); begun || err != nil {
		t.Fatalf("EndIfBegun = begun %v, %v; want nothing written", begun, err)
	}
	// The fake wrote the record the fault reported refused. A sentinel on the same session (so the same
	// partition, in order) must follow it directly: a session.ended would stand between them.
	if _, err := s.Emit(schemas.TypeSessionStarted, schemas.SessionStarted{}); err != nil {
		t.Fatal(err)
	}
	if evs := readAll(t, c, 2); len(evs) != 2 || evs[1].Type != schemas.TypeSessionStarted {
		t.Fatalf("records %v, want the refused auth.succeeded then the sentinel session.started", types(evs))
	}
}

func types(evs []schemas.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// TestLandedFromBuild: gateway/proxy asks Pending.Landed inside an EmitBuilt build function, where the
// session's lock is held. Landed must not wait for that lock (it did once: the session hung for good).
func TestLandedFromBuild(t *testing.T) {
	p, _ := newProducer(t)
	s := p.Session(schemas.NewID(), schemas.Source{Instance: "unit"})
	a, err := s.EmitAsync(schemas.TypeSessionStarted, schemas.SessionStarted{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.EmitBuilt(schemas.TypeQueryExecuted, func() (any, error) {
			if !a.Landed() {
				return nil, errors.New("the acknowledged session.started is not reported landed")
			}
			return schemas.QueryExecuted{Outcome: "ok"}, nil
		})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("EmitBuilt hung: Landed waited for the session's lock held around build")
	}
}
