package audit

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pangate/pangate/schemas"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestRecordReaped: of sessions spread over the topic's partitions, only the one without session.ended
// gets a session.reaped on the run chain, naming its highest seq in the topic and its reads mode; a session
// with no event at all gets none.
func TestRecordReaped(t *testing.T) {
	p, c := newProducer(t)
	quiet := ReapQuiet
	ReapQuiet = 0
	t.Cleanup(func() { ReapQuiet = quiet })
	src := schemas.Source{Instance: "crashed", Version: "test"}
	start := time.Now()
	type sess struct {
		s      *Session
		reads  string
		events int
		end    bool
	}
	var all []sess
	for i, tc := range []sess{{reads: schemas.ReadsPipelined, events: 4}, {reads: schemas.ReadsStrict, events: 2, end: true},
		{reads: "", events: 3}, {reads: schemas.ReadsStrict, events: 5}} {
		tc.s = p.Session(schemas.NewID(), src)
		if _, err := tc.s.Emit(schemas.TypeSessionStarted, schemas.SessionStarted{Target: "t", Reads: tc.reads}); err != nil {
			t.Fatal(err)
		}
		for j := 1; j < tc.events; j++ {
			if _, err := tc.s.Emit(schemas.TypeQueryExecuted, schemas.QueryExecuted{Outcome: "ok", Rows: int64(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if tc.end {
			if _, err := tc.s.End(schemas.TypeSessionEnded, schemas.SessionEnded{Reason: "client_terminate"}); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, tc)
	}
	run := p.Run(schemas.NewID(), schemas.Source{Instance: "reaper", Version: "test"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wrote := 0
	for _, tc := range all {
		ok, err := p.RecordReaped(ctx, run, Orphan{Session: tc.s.ID(), Role: "pangate_jit_x", Target: "t", Instance: "crashed", Issued: start})
		if err != nil {
			t.Fatal(err)
		}
		if ok == tc.end {
			t.Errorf("session with %d events, ended %v: recorded %v", tc.events, tc.end, ok)
		}
		if ok {
			wrote++
		}
	}
	if ok, err := p.RecordReaped(ctx, run, Orphan{Session: schemas.NewID(), Role: "pangate_jit_y", Issued: start}); err != nil || ok {
		t.Errorf("session without events: recorded %v, %v", ok, err)
	}
	ReapQuiet = time.Hour
	if ok, err := p.RecordReaped(ctx, run, Orphan{Session: all[0].s.ID(), Role: "pangate_jit_x", Issued: start}); !errors.Is(err, ErrTooRecent) || ok {
		t.Errorf("session silent for less than ReapQuiet: recorded %v, %v; want ErrTooRecent", ok, err)
	}
	total := 0
	for _, tc := range all {
		total += tc.events
		if tc.end {
			total++
		}
	}
	var got []schemas.SessionReaped
	for _, e := range readAll(t, c, total+wrote) {
		if e.Type != schemas.TypeSessionReaped {
			continue
		}
		if e.Session != run.ID() {
			t.Errorf("session.reaped written on chain %s, want the run chain %s", e.Session, run.ID())
		}
		var r schemas.SessionReaped
		if err := e.Decode(&r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if len(got) != 3 {
		t.Fatalf("%d session.reaped events, want 3: %+v", len(got), got)
	}
	for i, tc := range []sess{all[0], all[2], all[3]} {
		r := got[i]
		wantReads, wantLost := tc.reads, int64(1)
		if wantReads == "" {
			wantReads = schemas.ReadsUnknown
		}
		if wantReads == schemas.ReadsStrict {
			wantLost = 0
		}
		if r.Session != tc.s.ID() || r.LastSeq != uint64(tc.events-1) || r.LastType != schemas.TypeQueryExecuted || r.Reads != wantReads ||
			r.Unrecorded != wantLost || r.Instance != "crashed" || r.Role != "pangate_jit_x" {
			t.Errorf("session.reaped %+v, want session %s last seq %d, reads %s, unrecorded %d", r, tc.s.ID(), tc.events-1, wantReads, wantLost)
		}
		if seq, hash, _ := tc.s.Head(); r.LastHash != hash || r.LastSeq != seq {
			t.Errorf("session.reaped names seq %d hash %s, the session's head is seq %d hash %s", r.LastSeq, r.LastHash, seq, hash)
		}
	}
}

// TestReaperWaitsForAnEndInProgress: a session whose session.ended Kafka did not take yet is being ended in
// the background by this gateway (its JIT role kept for the reaper in case the gateway dies first). The
// reaper of the same gateway must not record it as ended by a crash; once the end lands it has nothing to do.
func TestReaperWaitsForAnEndInProgress(t *testing.T) {
	p, _ := newProducer(t)
	quiet := ReapQuiet
	ReapQuiet = 0
	t.Cleanup(func() { ReapQuiet = quiet })
	s := p.Session(schemas.NewID(), schemas.Source{Instance: "unit"})
	if _, err := s.Emit(schemas.TypeSessionStarted, schemas.SessionStarted{Target: "t"}); err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	failing.Store(true)
	p.ackFault = func(err error) error {
		if failing.Load() {
			return kerr.NotEnoughReplicas
		}
		return err
	}
	if _, err := s.End(schemas.TypeSessionEnded, schemas.SessionEnded{Reason: "client_terminate"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("End with Kafka failing: %v, want ErrUnavailable", err)
	}
	run := p.Run(schemas.NewID(), schemas.Source{Instance: "unit", Version: "test"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o := Orphan{Session: s.ID(), Role: "pangate_jit_x", Target: "t", Instance: "unit"}
	if ok, err := p.RecordReaped(ctx, run, o); ok || !errors.Is(err, ErrTooRecent) {
		t.Fatalf("RecordReaped while the end is retried: %v, %v; want nothing written, ErrTooRecent", ok, err)
	}
	failing.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := p.RecordReaped(ctx, run, o)
		if err == nil {
			if ok {
				t.Fatal("session.reaped written for a session whose end landed")
			}
			break
		}
		if !errors.Is(err, ErrTooRecent) || time.Now().After(deadline) {
			t.Fatalf("RecordReaped after the end landed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
