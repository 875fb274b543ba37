package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pangate/pangate/schemas"
)

// TestCheckpointNumberNotRepeatedAfterLateAck is the regression test for "after a Kafka outage a checkpoint
// number appeared twice with a broken link": checkpoint 0's acknowledgement is held past the hard timeout
// (Checkpoint reports it unavailable, the record stays in limbo) and then it lands; the next Checkpoint must
// be number 1 linking to it, not a second number 0.
func TestCheckpointNumberNotRepeatedAfterLateAck(t *testing.T) {
	p, c := newProducer(t) // AckTimeout 1s: hard timeout 2s
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	run := p.Run(schemas.NewID(), schemas.Source{Instance: "unit"})
	if _, err := run.Emit(schemas.TypeGatewayStarted, schemas.GatewayStarted{Instance: "unit"}); err != nil {
		t.Fatal(err)
	}
	cp := p.NewCheckpointer(run, key, "unit", time.Second)
	s := p.Session(schemas.NewID(), schemas.Source{Instance: "unit"})
	if _, err := s.Emit(schemas.TypeSessionStarted, schemas.SessionStarted{}); err != nil {
		t.Fatal(err)
	}
	var held atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if held.Swap(true) {
			c.DropControl()
			return nil, nil, false
		}
		// Hold the first checkpoint's produce request past the hard timeout, then let it be written.
		c.SleepControl(func() { time.Sleep(2500 * time.Millisecond) })
		c.DropControl()
		return nil, nil, false
	})
	if _, err := cp.Checkpoint(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("held checkpoint: %v, want ErrUnavailable", err)
	}
	c2, err := cp.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if c2.Number != 1 {
		t.Fatalf("checkpoint after a late-written one has number %d, want 1", c2.Number)
	}
	var cps []schemas.Checkpoint
	for _, e := range readAll(t, c, 4) {
		if e.Type != schemas.TypeGatewayCheckpoint {
			continue
		}
		var x schemas.Checkpoint
		if err := e.Decode(&x); err != nil {
			t.Fatal(err)
		}
		cps = append(cps, x)
	}
	if len(cps) != 2 {
		t.Fatalf("%d checkpoints in the log, want 2 (the late one and the next)", len(cps))
	}
	if err := schemas.VerifyCheckpoints(cps, pub); err != nil {
		t.Fatal(err)
	}
	// The late checkpoint's heads are listed again by the next one (it was not known written in time).
	if len(c2.Sessions) != 1 || c2.Sessions[0].Session != s.ID() {
		t.Fatalf("next checkpoint heads %+v, want the session again", c2.Sessions)
	}
}

// TestSessionStartedNamesRun: session.started carries the producer's run id (the run whose checkpoints
// must list the session) and still validates against its JSON Schema.
func TestSessionStartedNamesRun(t *testing.T) {
	p, c := newProducer(t)
	run := p.Run(schemas.NewID(), schemas.Source{Instance: "unit"})
	s := p.Session(schemas.NewID(), schemas.Source{Instance: "unit"})
	e, err := s.Emit(schemas.TypeSessionStarted, schemas.SessionStarted{Target: "t", MaskShape: "last4"})
	if err != nil {
		t.Fatal(err)
	}
	var ss schemas.SessionStarted
	if err := e.Decode(&ss); err != nil || ss.Run != run.ID() {
		t.Fatalf("session.started run %q (%v), want %q", ss.Run, err, run.ID())
	}
	rec, err := schemas.Marshal(readAll(t, c, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas.Validate(rec); err != nil {
		t.Fatalf("session.started with run does not validate: %v", err)
	}
}

// TestNoteWrittenAfterSessionEndedDuringOutage is the regression test for "a statement refused during an
// outage got no correcting note when its session ended before Kafka returned": a statement's event is held
// past the hard timeout (refused, in limbo), the session ends while it is still unsettled (End fails), then
// the event lands; the background retry writes the note and then session.ended, and the chain verifies.
func TestNoteWrittenAfterSessionEndedDuringOutage(t *testing.T) {
	p, c := newProducer(t) // hard timeout 2s
	old := endRetry
	endRetry = 200 * time.Millisecond
	t.Cleanup(func() { endRetry = old })
	s := p.Session(schemas.NewID(), schemas.Source{Instance: "unit"})
	if _, err := s.Emit(schemas.TypeSessionStarted, schemas.SessionStarted{}); err != nil {
		t.Fatal(err)
	}
	var held atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !held.Swap(true) {
			c.SleepControl(func() { time.Sleep(5 * time.Second) }) // past Emit's and End's hard timeouts
		}
		c.DropControl()
		return nil, nil, false
	})
	note := &Note{Type: schemas.TypeQueryBlocked, Data: schemas.QueryBlocked{Reason: "audit_unavailable", Message: "not run", SQLState: "58000"}}
	if _, err := s.EmitNoted(schemas.TypeQueryExecuted, schemas.QueryExecuted{Outcome: "forwarded"}, note); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("held statement event: %v, want ErrUnavailable", err)
	}
	if _, err := s.End(schemas.TypeSessionEnded, schemas.SessionEnded{Reason: "client_terminate"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("End while the statement event is unsettled: %v, want ErrUnavailable", err)
	}
	evs := readAll(t, c, 4)
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	want := []string{schemas.TypeSessionStarted, schemas.TypeQueryExecuted, schemas.TypeQueryBlocked, schemas.TypeSessionEnded}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("session events %v, want %v", types, want)
	}
	if err := schemas.VerifySession(evs); err != nil {
		t.Fatal(err)
	}
	if h := p.TakeHeads()[s.ID()]; h.Seq != 3 || !h.Ended {
		t.Fatalf("head %+v, want seq 3 ended", h)
	}
}
