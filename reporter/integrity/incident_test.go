package integrity_test

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/schemas"
)

// crashWorld: run A of gw-1 serves s1, checkpoints, s1 goes on past the last checkpoint, the process is
// killed; 40 s later run B of the same instance (same key) serves s2 and stops cleanly.
func crashWorld(t *testing.T) (w *world, runA, runB *scenario.Gateway, s1, s2 *scenario.Session) {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	b := scenario.New(t0)
	runA = b.Gateway("gw-1", key, time.Minute)
	b.Advance(10 * time.Second)
	s1 = runA.Session(scenario.Identity{Subject: "repo:acme/etl"})
	s1.Query(scenario.Statement("SELECT 1", "read", nil, false), "ok", 1, nil)
	b.Advance(65 * time.Second) // checkpoint 0 lists s1
	s1.Query(scenario.Statement("SELECT pan FROM cards", "read", []string{"cards"}, true), "ok", 3, nil)
	b.Advance(20 * time.Second) // no checkpoint yet: the next is due at 2 min
	runA.Crash()
	b.Advance(40 * time.Second)
	runB = b.Gateway("gw-1", key, time.Minute)
	s2 = runB.Session(scenario.Identity{Subject: "alice", Human: true})
	s2.Query(scenario.Statement("SELECT 2", "read", nil, false), "ok", 1, nil)
	b.Advance(3 * time.Minute)
	s2.End()
	b.Advance(time.Minute)
	runB.Stop()
	return &world{b: b, gw: runA, pub: pub}, runA, runB, s1, s2
}

// TestCrashAndRestartIsAnIncidentNotTampering: the crashed run's session whose last events no checkpoint
// lists is reported unconfirmed (warning), the crash is one incident naming both runs, and there is no
// failure: run B checkpointed after s1's last event, but B is not the run that wrote s1.
func TestCrashAndRestartIsAnIncidentNotTampering(t *testing.T) {
	w, runA, runB, s1, _ := crashWorld(t)
	r := check(t, w, w.b.Events, nil)
	if r.Failures != 0 || !r.OK {
		t.Fatalf("crash and restart reported as %d failure(s):\n%s", r.Failures, dump(r))
	}
	if len(r.Incidents) != 1 {
		t.Fatalf("incidents %+v, want one crash", r.Incidents)
	}
	in := r.Incidents[0]
	if in.Kind != integrity.IncidentCrash || in.Run != runA.Run || in.NextRun != runB.Run || in.Gateway != "gw-1" ||
		len(in.Unconfirmed) != 1 || in.Unconfirmed[0] != s1.ID || in.Start == "" || in.End == "" || in.Cause == "" {
		t.Fatalf("crash incident %+v, want run %s → %s with unconfirmed session %s", in, runA.Run, runB.Run, s1.ID)
	}
	if in.Start >= in.End {
		t.Fatalf("crash incident starts at %s, not before its end %s", in.Start, in.End)
	}
	nc := findings(r, integrity.KindNotCheckpointed)
	if len(nc) != 1 || nc[0].Session != s1.ID || nc[0].Severity != integrity.Warning {
		t.Fatalf("session_not_checkpointed findings %+v, want one warning for %s", nc, s1.ID)
	}
	if len(findings(r, integrity.KindRunCrashed)) != 1 {
		t.Fatalf("no %s finding:\n%s", integrity.KindRunCrashed, dump(r))
	}
	crashed := 0
	for _, run := range r.Runs {
		if run.Crashed {
			crashed++
			if run.Run != runA.Run {
				t.Fatalf("run %s marked crashed, want %s", run.Run, runA.Run)
			}
		}
	}
	if crashed != 1 {
		t.Fatalf("%d runs marked crashed, want 1: %+v", crashed, r.Runs)
	}
}

// TestForgedSessionDuringRestartIsStillTampering: a session planted with times inside run B, never listed
// by B's later checkpoints, is still a failure when a crash happened earlier.
func TestForgedSessionDuringRestartIsStillTampering(t *testing.T) {
	w, _, runB, _, _ := crashWorld(t)
	c := schemas.NewChain("forged", schemas.Source{Instance: "gw-1", Version: "test"})
	at := t0.Add(3 * time.Minute) // after run B started, well before its checkpoints
	c.Now = func() time.Time { return at }
	e, err := c.Next(schemas.TypeSessionStarted, schemas.SessionStarted{Target: "cards", MaskShape: "first6last4"})
	if err != nil {
		t.Fatal(err)
	}
	r := check(t, w, append(append([]schemas.Event(nil), w.b.Events...), e), nil)
	ok := false
	for _, f := range findings(r, integrity.KindNotCheckpointed) {
		ok = ok || (f.Session == "forged" && f.Severity == integrity.Failure)
	}
	if !ok || r.OK {
		t.Fatalf("forged session inside run %s not a failure:\n%s", runB.Run, dump(r))
	}
}

// TestSessionNamingItsRunIsJudgedByThatRun: session.started's run decides which checkpoints must list the
// session, whatever the times say.
func TestSessionNamingItsRunIsJudgedByThatRun(t *testing.T) {
	w, runA, _, _, _ := crashWorld(t)
	// A session that claims run A but whose events lie after run A's only checkpoint and inside run B's
	// time: run A never checkpointed again (crash), so it is unconfirmed, not forged.
	c := schemas.NewChain("late-a", schemas.Source{Instance: "gw-1", Version: "test"})
	at := t0.Add(90 * time.Second)
	c.Now = func() time.Time { return at }
	e, err := c.Next(schemas.TypeSessionStarted, schemas.SessionStarted{Target: "cards", MaskShape: "first6last4", Run: runA.Run})
	if err != nil {
		t.Fatal(err)
	}
	r := check(t, w, append(append([]schemas.Event(nil), w.b.Events...), e), nil)
	if !r.OK {
		t.Fatalf("session of the crashed run reported as tampering:\n%s", dump(r))
	}
	if len(r.Incidents) != 1 || len(r.Incidents[0].Unconfirmed) != 2 {
		t.Fatalf("incidents %+v, want the crash with two unconfirmed sessions", r.Incidents)
	}
	// The same session claiming run B (which checkpointed long after it without listing it) is forged.
	c = schemas.NewChain("claims-b", schemas.Source{Instance: "gw-1", Version: "test"})
	c.Now = func() time.Time { return at }
	var runB string
	for _, run := range r.Runs {
		if run.Run != runA.Run {
			runB = run.Run
		}
	}
	e, err = c.Next(schemas.TypeSessionStarted, schemas.SessionStarted{Target: "cards", MaskShape: "first6last4", Run: runB})
	if err != nil {
		t.Fatal(err)
	}
	r = check(t, w, append(append([]schemas.Event(nil), w.b.Events...), e), nil)
	if r.OK {
		t.Fatalf("session claiming run %s, which checkpointed after it without listing it, not a failure:\n%s", runB, dump(r))
	}
}

// TestOutageGapIsAnIncident: a run that wrote no checkpoint for 10 minutes (Kafka unreachable), with gapless
// signed numbering, is a logging-gap incident and a warning, not a failure.
func TestOutageGapIsAnIncident(t *testing.T) {
	w := build(t, 10*time.Minute)
	r := check(t, w, w.b.Events, nil)
	if !r.OK {
		t.Fatalf("outage reported as tampering:\n%s", dump(r))
	}
	gaps := findings(r, integrity.KindLoggingGap)
	if len(gaps) != 1 || gaps[0].Severity != integrity.Warning {
		t.Fatalf("logging gaps %+v, want one warning", gaps)
	}
	if len(r.Incidents) != 1 || r.Incidents[0].Kind != integrity.IncidentOutage || r.Incidents[0].Start == "" || r.Incidents[0].End == "" {
		t.Fatalf("incidents %+v, want one outage with start and end", r.Incidents)
	}
}

// renumbered builds a run chain the way a gateway before issue 14's fix wrote it after an outage:
// checkpoint 1 acknowledged late, a second checkpoint 1 with the same prev, then checkpoint 2 linking to the
// first.
func renumbered(t *testing.T, key ed25519.PrivateKey, sign2 ed25519.PrivateKey) []schemas.Event {
	t.Helper()
	now := t0
	run := schemas.NewChain("run-x", schemas.Source{Instance: "gw-x", Version: "old"})
	run.Now = func() time.Time { return now }
	next := func(typ string, data any) schemas.Event {
		e, err := run.Next(typ, data)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	evs := []schemas.Event{next(schemas.TypeGatewayStarted, schemas.GatewayStarted{Instance: "gw-x", Version: "old", Listen: "x", MaskShape: "last4",
		CheckpointIntervalMS: 60000, KeyID: schemas.KeyID(key.Public().(ed25519.PublicKey)), Clock: schemas.Clock{Source: "system"}})}
	prev := schemas.GenesisPrev
	mk := func(n uint64, p string, from, to time.Time, k ed25519.PrivateKey) (schemas.Checkpoint, string) {
		cp := schemas.Checkpoint{Instance: "gw-x", Run: "run-x", Number: n, Prev: p, From: schemas.FormatTime(from), To: schemas.FormatTime(to),
			IntervalMS: 60000, Sessions: []schemas.SessionHead{}}
		if err := schemas.SignCheckpoint(&cp, k); err != nil {
			t.Fatal(err)
		}
		h, _ := schemas.CheckpointHash(cp)
		return cp, h
	}
	now = t0.Add(time.Minute)
	cp0, h0 := mk(0, prev, t0, now, key)
	evs = append(evs, next(schemas.TypeGatewayCheckpoint, cp0))
	now = t0.Add(2 * time.Minute)
	cp1a, h1a := mk(1, h0, t0.Add(time.Minute), now, key)
	evs = append(evs, next(schemas.TypeGatewayCheckpoint, cp1a))
	now = t0.Add(2*time.Minute + 10*time.Second)
	cp1b, _ := mk(1, h0, t0.Add(time.Minute), now, sign2)
	evs = append(evs, next(schemas.TypeGatewayCheckpoint, cp1b))
	now = t0.Add(3 * time.Minute)
	cp2, _ := mk(2, h1a, t0.Add(2*time.Minute), now, key)
	evs = append(evs, next(schemas.TypeGatewayCheckpoint, cp2))
	now = t0.Add(3*time.Minute + time.Second)
	cp3, _ := mk(3, mustHash(t, cp2), t0.Add(3*time.Minute), now, key)
	evs = append(evs, next(schemas.TypeGatewayCheckpoint, cp3))
	evs = append(evs, next(schemas.TypeGatewayStopped, schemas.GatewayStopped{Reason: "signal"}))
	return evs
}

func mustHash(t *testing.T, cp schemas.Checkpoint) string {
	h, err := schemas.CheckpointHash(cp)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func checkEvents(t *testing.T, evs []schemas.Event, pub ed25519.PublicKey) *integrity.Report {
	t.Helper()
	c, err := integrity.New(integrity.Config{From: t0, To: t0.Add(24 * time.Hour), Keys: map[string]ed25519.PublicKey{schemas.KeyID(pub): pub},
		Now: func() time.Time { return t0.Add(24 * time.Hour) }}, scenario.Checkpoints(evs))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range scenario.BySession(evs) {
		if c, err := schemas.Canonical(e.Data); err == nil {
			e.Data = c
		}
		if err := c.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	return c.Finish()
}

// TestRenumberedCheckpointIsNotTampering: a number the gateway itself signed twice after an outage (same
// prev, both signatures valid) is a warning; the same shape signed by another key stays a failure.
func TestRenumberedCheckpointIsNotTampering(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	r := checkEvents(t, renumbered(t, key, key), pub)
	if !r.OK || len(findings(r, integrity.KindRenumbered)) != 1 {
		t.Fatalf("gateway-renumbered checkpoint:\n%s", dump(r))
	}
	_, other, _ := ed25519.GenerateKey(nil)
	r = checkEvents(t, renumbered(t, key, other), pub)
	if r.OK || len(findings(r, integrity.KindCheckpointChain)) != 1 {
		t.Fatalf("duplicate checkpoint signed by another key not a failure:\n%s", dump(r))
	}
}

// reapedEvent appends to run's chain (after its last event in events) the session.reaped a reaper of that
// run writes for s of the crashed run, naming the last event of s in events.
func reapedEvent(t *testing.T, events []schemas.Event, run, crashed *scenario.Gateway, s *scenario.Session, reads string, at time.Time, edit func(*schemas.SessionReaped)) schemas.Event {
	t.Helper()
	var runLast, sessLast *schemas.Event
	for i := range events {
		switch events[i].Session {
		case run.Run:
			runLast = &events[i]
		case s.ID:
			sessLast = &events[i]
		}
	}
	if runLast == nil || sessLast == nil {
		t.Fatal("run or session has no events")
	}
	r := schemas.SessionReaped{Session: s.ID, LastSeq: sessLast.Seq, LastHash: sessLast.Hash, LastType: sessLast.Type, LastTime: sessLast.Time,
		Instance: sessLast.Gateway.Instance, Run: crashed.Run, Role: "pangate_jit_1", Target: "cards", Reads: reads, Unrecorded: 1}
	if reads == schemas.ReadsStrict {
		r.Unrecorded = 0
	}
	if edit != nil {
		edit(&r)
	}
	c := schemas.ResumeChain(run.Run, runLast.Gateway, runLast.Seq, runLast.Hash)
	c.Now = func() time.Time { return at }
	e, err := c.Next(schemas.TypeSessionReaped, r)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestReapedSessionIsALostReadIncident: the crashed run's session recorded by the next run's reaper
// (session.reaped naming its last acknowledged seq) is a session_crashed incident saying that reads after
// that seq may be unrecorded, a warning, not tampering; a strict session says nothing may be; a reaper's
// record of events the store no longer holds is a failure.
func TestReapedSessionIsALostReadIncident(t *testing.T) {
	w, runA, runB, s1, _ := crashWorld(t)
	at := w.b.Now()
	cases := []struct {
		name      string
		reads     string
		edit      func(*schemas.SessionReaped)
		drop      bool // delete s1's last event from the store
		wantKind  string
		wantSev   string
		wantCause string
	}{
		{name: "pipelined", reads: schemas.ReadsPipelined, wantKind: integrity.KindSessionCrashed, wantSev: integrity.Warning,
			wantCause: "session ended by crash; reads after seq %d may be unrecorded (pipelined)"},
		{name: "unknown mode", reads: schemas.ReadsUnknown, wantKind: integrity.KindSessionCrashed, wantSev: integrity.Warning,
			wantCause: "reads after seq %d may be unrecorded (pipelined)"},
		{name: "strict", reads: schemas.ReadsStrict, wantKind: integrity.KindSessionCrashed, wantSev: integrity.Warning,
			wantCause: "after seq %d; no statement unrecorded"},
		{name: "events deleted after the reaper read them", reads: schemas.ReadsPipelined, drop: true,
			wantKind: integrity.KindReapedMismatch, wantSev: integrity.Failure},
		{name: "last event edited after the reaper read it", reads: schemas.ReadsPipelined,
			edit: func(r *schemas.SessionReaped) { r.LastHash = "00" + r.LastHash[2:] }, wantKind: integrity.KindReapedMismatch, wantSev: integrity.Failure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events := append([]schemas.Event(nil), w.b.Events...)
			var lastSeq uint64
			for _, ev := range events {
				if ev.Session == s1.ID {
					lastSeq = ev.Seq
				}
			}
			e := reapedEvent(t, events, runB, runA, s1, tc.reads, at, tc.edit)
			events = append(events, e)
			if tc.drop {
				last := -1
				for i, ev := range events {
					if ev.Session == s1.ID {
						last = i
					}
				}
				events = append(events[:last], events[last+1:]...)
			}
			r := check(t, w, events, nil)
			fs := findings(r, tc.wantKind)
			if len(fs) != 1 || fs[0].Severity != tc.wantSev || fs[0].Session != s1.ID {
				t.Fatalf("%s findings %+v, want one %s for %s:\n%s", tc.wantKind, fs, tc.wantSev, s1.ID, dump(r))
			}
			if tc.wantSev == integrity.Failure {
				if r.OK {
					t.Fatalf("report OK despite %s", tc.name)
				}
				return
			}
			if !r.OK || r.Failures != 0 {
				t.Fatalf("a session ended by crash reported as %d failure(s):\n%s", r.Failures, dump(r))
			}
			var got *integrity.Incident
			for i, in := range r.Incidents {
				if in.Kind == integrity.IncidentSessionCrashed {
					if got != nil {
						t.Fatalf("two session_crashed incidents: %+v", r.Incidents)
					}
					got = &r.Incidents[i]
				}
			}
			cause := fmt.Sprintf(tc.wantCause, lastSeq)
			if got == nil || got.Session != s1.ID || got.LastSeq != lastSeq || got.Run != runA.Run || got.Gateway != "gw-1" ||
				!strings.Contains(got.Cause, cause) || got.End != e.Time {
				t.Fatalf("session_crashed incident %+v, want session %s last seq %d of run %s, cause containing %q", got, s1.ID, lastSeq, runA.Run, cause)
			}
		})
	}
}
