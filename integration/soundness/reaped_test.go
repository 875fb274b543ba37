package soundness_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/schemas"
)

// TestPipelinedCrashRecordedByReaper (issue 14.4): a gateway with audit.reads pipelined is killed with
// SIGKILL under pgbench and pgx load; the same instance restarts on the same audit topic, and its reaper
// drops the dead sessions' expired JIT roles. Then
//   - every session of the killed gateway without session.ended has exactly one session.reaped (on the
//     restarted run's chain) naming the highest seq of that session in the topic, and no other session has one;
//   - PostgreSQL's statement log shows, per session, at most one statement after the events (a read);
//   - the integrity report over the topic shows each such session as a session_crashed incident ("reads
//     after seq N may be unrecorded (pipelined)"), with no failure.
func TestPipelinedCrashRecordedByReaper(t *testing.T) {
	f := newFixture(t)
	dropLeftJIT(t, f)
	prefix := loadTables(t, f)
	// Short-lived roles, so that the restarted gateway's reaper may drop them within the test, with a prefix
	// of their own: every gateway on the stack reaps expired roles of its prefix (pg_roles is cluster-wide),
	// and another test's gateway, writing to another topic, would find no events of these sessions.
	const jit = "{ttl: 4s, reap_interval: 1s, prefix: h5gw_jit_}"
	started := time.Now()
	g := startGateway(t, f, gwOpts{reads: "pipelined", jit: jit})
	off := logOffset(t, f)
	l := startLoad(t, g, f, prefix)
	time.Sleep(5 * time.Second)
	if err := g.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9 the gateway: %v", err)
	}
	<-g.exited
	killed := time.Now()
	l.finish()
	t.Log("load: " + l.summary())
	before := topicSessions(t, g)
	// The sessions the kill cut off: client sessions with neither session.ended nor auth.failed.
	cut := map[string]schemas.Event{} // session -> its event with the highest seq
	hasStart := map[string]bool{}
	for s, evs := range before {
		open := true
		var last schemas.Event
		for _, e := range evs {
			switch e.Type {
			case schemas.TypeSessionEnded, schemas.TypeAuthFailed, schemas.TypeGatewayStarted:
				open = false
			case schemas.TypeSessionStarted:
				hasStart[s] = true
			}
			if e.Seq >= last.Seq {
				last = e
			}
		}
		if open {
			cut[s] = last
		}
	}
	if len(cut) == 0 {
		t.Fatalf("no session was open when the gateway was killed (%d sessions in the topic): %s", len(before), l.summary())
	}
	t.Logf("%d sessions in the topic, %d cut off by the kill", len(before), len(cut))

	g2 := startGateway(t, f, gwOpts{reads: "pipelined", jit: jit, restart: g})
	deadline := time.Now().Add(90 * time.Second)
	countRoles := fmt.Sprintf(`SELECT count(*) FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid
		WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = '%s')`, f.Role)
	for {
		n := f.int(t, countRoles)
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted gateway's reaper left %d JIT roles of the killed gateway after 90s", n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("the restarted gateway reaped every role %.1fs after the kill", time.Since(killed).Seconds())
	g2.Stop()
	after := topicSessions(t, g2)

	// A run chain begins with gateway.started: the reaper, which writes on it, starts only after that
	// (its first round found expired roles at once and wrote before it, in a full suite run).
	for s, evs := range after {
		for _, e := range evs {
			switch e.Type {
			case schemas.TypeGatewayStarted, schemas.TypeGatewayCheckpoint, schemas.TypeSessionReaped:
				if evs[0].Type != schemas.TypeGatewayStarted {
					t.Errorf("run chain %s (%s) begins with %s seq %d, want gateway.started", s, evs[0].Gateway.Instance, evs[0].Type, evs[0].Seq)
				}
			default:
				continue
			}
			break
		}
	}
	reaped := map[string][]schemas.SessionReaped{}
	for _, evs := range after {
		for _, e := range evs {
			if e.Type != schemas.TypeSessionReaped {
				continue
			}
			var r schemas.SessionReaped
			if err := e.Decode(&r); err != nil {
				t.Fatal(err)
			}
			reaped[r.Session] = append(reaped[r.Session], r)
		}
	}
	for s, last := range cut {
		rs := reaped[s]
		if len(rs) != 1 {
			t.Errorf("session %s (last event seq %d, %s) has %d session.reaped events, want 1: %+v", s, last.Seq, last.Type, len(rs), rs)
			continue
		}
		r := rs[0]
		reads := schemas.ReadsPipelined
		if !hasStart[s] {
			reads = schemas.ReadsUnknown // cut off before session.started
		}
		if r.LastSeq != last.Seq || r.LastHash != last.Hash || r.LastType != last.Type || r.Reads != reads || r.Unrecorded != 1 {
			t.Errorf("session %s: session.reaped %+v, want last seq %d (%s, hash %s) as in the topic, reads %s, unrecorded 1", s, r, last.Seq, last.Type, last.Hash, reads)
		}
		if n := len(after[s]); n != len(before[s]) {
			t.Errorf("session %s has %d events after the restart, %d before: the reaper must not write on its chain", s, n, len(before[s]))
		}
	}
	for s := range reaped {
		if _, ok := cut[s]; !ok {
			t.Errorf("session %s has a session.reaped but was not cut off by the kill (it has session.ended, or is no client session)", s)
		}
	}

	// PostgreSQL's log: per session at most one statement it ran has no event, and it is a read.
	logs := readLog(t, f, off)
	sessionOf := l.sessionOf(before)
	miss, st := l.compareLoad(logs, before, sessionOf)
	perSession := map[string][]missing{}
	for _, m := range miss {
		perSession[m.Session] = append(perSession[m.Session], m)
	}
	lost := 0
	for s, ms := range perSession {
		if _, ok := cut[s]; !ok {
			t.Errorf("%s ended with session.ended (or is unknown) yet PostgreSQL ran %d statement(s) it has no event of: %+v", s, len(ms), ms)
			continue
		}
		if len(ms) > 1 || ms[0].Kind != "read" {
			t.Errorf("session %s: PostgreSQL ran %+v after its last event (seq %d); at most one read may be unrecorded", s, ms, cut[s].Seq)
			continue
		}
		lost++
	}
	t.Logf("PostgreSQL log: %d backends compared, %d statements run, %d sessions ran one read after their last event", st.Backends, st.Ran, lost)
	if st.Backends == 0 {
		t.Errorf("no backend compared: %s", l.summary())
	}

	// The integrity report: one session_crashed incident per cut-off session, not tampering.
	var cps []schemas.Event
	ids := make([]string, 0, len(after))
	for s, evs := range after {
		ids = append(ids, s)
		for _, e := range evs {
			if e.Type == schemas.TypeGatewayCheckpoint {
				cps = append(cps, e)
			}
		}
	}
	sort.Strings(ids)
	c, err := integrity.New(integrity.Config{From: started.Add(-time.Hour), To: time.Now().Add(time.Hour)}, cps)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ids {
		for _, e := range after[s] {
			if err := c.Add(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep := c.Finish()
	for _, fd := range rep.Findings {
		if fd.Severity == integrity.Failure {
			t.Errorf("integrity failure after a pipelined crash: %+v", fd)
		}
	}
	incidents := map[string]integrity.Incident{}
	for _, in := range rep.Incidents {
		if in.Kind == integrity.IncidentSessionCrashed {
			if _, dup := incidents[in.Session]; dup {
				t.Errorf("two session_crashed incidents for session %s", in.Session)
			}
			incidents[in.Session] = in
		}
	}
	for s, last := range cut {
		in, ok := incidents[s]
		want := fmt.Sprintf("session ended by crash; reads after seq %d may be unrecorded (pipelined)", last.Seq)
		if !ok || in.LastSeq != last.Seq || !strings.Contains(in.Cause, want) {
			t.Errorf("session %s: integrity incident %+v, want session_crashed saying %q", s, in, want)
		}
	}
	if len(incidents) != len(cut) {
		t.Errorf("%d session_crashed incidents, %d sessions cut off", len(incidents), len(cut))
	}
}
