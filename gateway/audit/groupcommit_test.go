package audit

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/pangate/pangate/schemas"
)

// TestGroupCommitSharesRequests: 32 sessions emitting at once are acknowledged in far fewer flushes than
// events, and every session's chain reads back whole and in order.
func TestGroupCommitSharesRequests(t *testing.T) {
	p, c := newProducer(t)
	const sessions, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := p.Session(schemas.NewID(), schemas.Source{Instance: "unit"})
			for j := 0; j < each; j++ {
				e, err := s.Emit(schemas.TypeQueryExecuted, schemas.QueryExecuted{Outcome: "ok", Rows: int64(j)})
				if err != nil {
					errs <- err
					return
				}
				if e.Seq != uint64(j) {
					errs <- fmt.Errorf("session %s: seq %d, want %d", s.ID(), e.Seq, j)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var m dto.Metric
	if err := p.batchSize.Write(&m); err != nil {
		t.Fatal(err)
	}
	flushes, records := m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
	if records != sessions*each {
		t.Fatalf("group commit sent %v records, want %d", records, sessions*each)
	}
	if flushes >= sessions*each/2 {
		t.Fatalf("%d flushes for %d events: events of concurrent sessions do not share produce requests", flushes, sessions*each)
	}
	t.Logf("%d events in %d flushes (%.1f per flush)", sessions*each, flushes, records/float64(flushes))
	bySession := map[string][]schemas.Event{}
	for _, e := range readAll(t, c, sessions*each) {
		bySession[e.Session] = append(bySession[e.Session], e)
	}
	if len(bySession) != sessions {
		t.Fatalf("%d sessions read back, want %d", len(bySession), sessions)
	}
	for id, evs := range bySession {
		if err := schemas.VerifySession(evs); err != nil {
			t.Fatalf("session %s: %v", id, err)
		}
	}
}

// TestEmitAsync: the event is sent at once, Wait returns it acknowledged, the chain and the checkpoint heads
// move only then, and the next Emit follows it in the chain.
func TestEmitAsync(t *testing.T) {
	p, c := newProducer(t)
	s := p.Session(schemas.NewID(), schemas.Source{Instance: "unit"})
	a, err := s.EmitAsync(schemas.TypeSessionStarted, schemas.SessionStarted{Target: "t"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := a.Wait()
	if err != nil || e.Seq != 0 || e.Hash != a.Event().Hash {
		t.Fatalf("Wait: %+v, %v", e, err)
	}
	if again, err := a.Wait(); err != nil || again.Hash != e.Hash {
		t.Fatalf("second Wait: %+v, %v", again, err)
	}
	// Not waited: the next Emit waits for it first.
	if _, err := s.EmitAsync(schemas.TypeQueryExecuted, schemas.QueryExecuted{Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	last, err := s.End(schemas.TypeSessionEnded, schemas.SessionEnded{Reason: "client_terminate"})
	if err != nil || last.Seq != 2 {
		t.Fatalf("End after an unwaited EmitAsync: %+v, %v", last, err)
	}
	if h := p.TakeHeads()[s.ID()]; h.Seq != 2 || !h.Ended {
		t.Fatalf("head %+v, want seq 2 ended", h)
	}
	if err := schemas.VerifySession(readAll(t, c, 3)); err != nil {
		t.Fatal(err)
	}
}

// TestEmitAsyncFailureIsNotLost: an EmitAsync event Kafka refuses is reported by Wait, or, if nobody waited,
// by the session's next Emit, which then sends nothing; the chain does not move.
func TestEmitAsyncFailureIsNotLost(t *testing.T) {
	p, c := newProducer(t)
	s := p.Session(schemas.NewID(), schemas.Source{Instance: "unit"})
	if _, err := s.Emit(schemas.TypeSessionStarted, schemas.SessionStarted{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := s.EmitAsync(schemas.TypeQueryExecuted, schemas.QueryExecuted{Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := s.Emit(schemas.TypeQueryExecuted, schemas.QueryExecuted{Outcome: "ok"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Emit after a refused, unwaited EmitAsync: %v, want ErrUnavailable", err)
	}
	t.Logf("refused after %s: %v", time.Since(start).Round(time.Millisecond), err)
	if seq, _, _ := s.Head(); seq != 0 {
		t.Fatalf("chain moved to %d", seq)
	}
}
