package integrity_test

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/schemas"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

type world struct {
	b      *scenario.Builder
	gw     *scenario.Gateway
	pub    ed25519.PublicKey
	s1, s2 *scenario.Session
}

func build(t *testing.T, silence time.Duration) *world {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	b := scenario.New(t0)
	gw := b.Gateway("gw-1", key, time.Minute)
	b.Advance(30 * time.Second)
	s1 := gw.Session(scenario.Identity{Subject: "repo:acme/etl"})
	s1.Query(scenario.Statement("SELECT pan FROM cards", "read", []string{"cards"}, true), "ok", 3, nil)
	b.Advance(2 * time.Minute)
	s1.Query(scenario.Statement("SELECT 1", "read", nil, false), "ok", 1, nil)
	s2 := gw.Session(scenario.Identity{Subject: "alice", Human: true})
	s2.Hold(scenario.Statement("DROP TABLE cards", "ddl", []string{"cards"}, true), "denied", 20*time.Second)
	gw.AuthFailed("mallory", "expired")
	if silence > 0 {
		gw.Silence(silence)
	}
	b.Advance(90 * time.Second)
	s1.End()
	s2.End()
	b.Advance(2 * time.Minute)
	gw.Stop()
	return &world{b: b, gw: gw, pub: pub, s1: s1, s2: s2}
}

// check runs the checker over events with their data in canonical form, as the store holds it (the fast
// checkpoint path); checkRaw keeps the data as the producer marshalled it (the fallback path).
func check(t *testing.T, w *world, events []schemas.Event, keys map[string]ed25519.PublicKey) *integrity.Report {
	t.Helper()
	canon := make([]schemas.Event, len(events))
	for i, e := range events {
		if c, err := schemas.Canonical(e.Data); err == nil {
			e.Data = c
		}
		canon[i] = e
	}
	return checkRaw(t, w, canon, keys)
}

func checkRaw(t *testing.T, w *world, events []schemas.Event, keys map[string]ed25519.PublicKey) *integrity.Report {
	t.Helper()
	if keys == nil {
		keys = map[string]ed25519.PublicKey{schemas.KeyID(w.pub): w.pub}
	}
	c, err := integrity.New(integrity.Config{From: t0, To: t0.Add(24 * time.Hour), Keys: keys,
		Now: func() time.Time { return t0.Add(24 * time.Hour) }}, scenario.Checkpoints(events))
	if err != nil {
		t.Fatal(err)
	}
	all := append(append([]schemas.Event(nil), events...), w.b.Approvals...)
	for _, e := range scenario.BySession(all) {
		if err := c.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	return c.Finish()
}

func findings(r *integrity.Report, kind string) []integrity.Finding {
	var out []integrity.Finding
	for _, f := range r.Findings {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

func without(events []schemas.Event, drop func(schemas.Event) bool) []schemas.Event {
	var out []schemas.Event
	for _, e := range events {
		if !drop(e) {
			out = append(out, e)
		}
	}
	return out
}

func dump(r *integrity.Report) string {
	b, _ := json.MarshalIndent(r.Findings, "", " ")
	return string(b)
}

func TestIntactStreamVerifiesWithNonCanonicalData(t *testing.T) {
	w := build(t, 0)
	if r := checkRaw(t, w, w.b.Events, nil); !r.OK || r.Warnings != 0 || !r.Runs[0].Verified {
		t.Fatalf("intact stream with producer-marshalled data: %s", dump(r))
	}
}

func TestIntactStreamVerifies(t *testing.T) {
	w := build(t, 0)
	r := check(t, w, w.b.Events, nil)
	if !r.OK || r.Warnings != 0 {
		t.Fatalf("intact stream: ok=%v failures=%d warnings=%d\n%s", r.OK, r.Failures, r.Warnings, dump(r))
	}
	if r.Sessions != 4 || r.SessionsOK != 4 { // run, s1, s2, failed connection
		t.Fatalf("sessions %d ok %d, want 4 and 4", r.Sessions, r.SessionsOK)
	}
	if len(r.Runs) != 1 || !r.Runs[0].Verified || !r.Runs[0].Stopped {
		t.Fatalf("runs: %+v", r.Runs)
	}
	if r.Standalone != int64(len(w.b.Approvals)) {
		t.Fatalf("standalone %d, want %d", r.Standalone, len(w.b.Approvals))
	}
}

func TestTamperCases(t *testing.T) {
	cases := []struct {
		name    string
		silence time.Duration
		tamper  func(w *world, ev []schemas.Event) []schemas.Event
		keys    func(w *world) map[string]ed25519.PublicKey
		kind    string
		session func(w *world) string
	}{
		{name: "event edited", kind: integrity.KindEdited, session: func(w *world) string { return w.s1.ID },
			tamper: func(w *world, ev []schemas.Event) []schemas.Event {
				for i, e := range ev {
					if e.Session == w.s1.ID && e.Type == schemas.TypeQueryExecuted {
						ev[i].Data = json.RawMessage(strings.Replace(string(e.Data), `"rows":3`, `"rows":0`, 1))
						break
					}
				}
				return ev
			}},
		{name: "event deleted", kind: integrity.KindMissing, session: func(w *world) string { return w.s1.ID },
			tamper: func(w *world, ev []schemas.Event) []schemas.Event {
				return without(ev, func(e schemas.Event) bool { return e.Session == w.s1.ID && e.Seq == 3 })
			}},
		{name: "last events deleted", kind: integrity.KindMissing, session: func(w *world) string { return w.s2.ID },
			tamper: func(w *world, ev []schemas.Event) []schemas.Event {
				return without(ev, func(e schemas.Event) bool { return e.Session == w.s2.ID && e.Type == schemas.TypeCredentialRevoked })
			}},
		{name: "events reordered", kind: integrity.KindReordered, session: func(w *world) string { return w.s1.ID },
			tamper: func(w *world, ev []schemas.Event) []schemas.Event {
				var idx []int
				for i, e := range ev {
					if e.Session == w.s1.ID && (e.Seq == 3 || e.Seq == 4) {
						idx = append(idx, i)
					}
				}
				ev[idx[0]], ev[idx[1]] = ev[idx[1]], ev[idx[0]]
				return ev
			}},
		{name: "whole session deleted", kind: integrity.KindSessionMissing, session: func(w *world) string { return w.s2.ID },
			tamper: func(w *world, ev []schemas.Event) []schemas.Event {
				return without(ev, func(e schemas.Event) bool { return e.Session == w.s2.ID })
			}},
		{name: "checkpoint deleted", kind: integrity.KindCheckpointMissing,
			tamper: func(w *world, ev []schemas.Event) []schemas.Event {
				return without(ev, func(e schemas.Event) bool {
					if e.Type != schemas.TypeGatewayCheckpoint {
						return false
					}
					var cp schemas.Checkpoint
					_ = e.Decode(&cp)
					return cp.Number == 2
				})
			}},
		{name: "forged session not checkpointed", kind: integrity.KindNotCheckpointed, session: func(w *world) string { return "forged" },
			tamper: func(w *world, ev []schemas.Event) []schemas.Event {
				c := schemas.NewChain("forged", schemas.Source{Instance: "gw-1", Version: "test"})
				c.Now = func() time.Time { return t0.Add(time.Minute) }
				e, _ := c.Next(schemas.TypeAuthFailed, schemas.AuthFailed{Reason: "expired", Message: "x", SQLState: "28000"})
				return append(ev, e)
			}},
		{name: "checkpoint signed by unknown key", kind: integrity.KindUnknownKey,
			keys:   func(w *world) map[string]ed25519.PublicKey { return map[string]ed25519.PublicKey{} },
			tamper: func(w *world, ev []schemas.Event) []schemas.Event { return ev }},
		{name: "checkpoint forged and rehashed", kind: integrity.KindCheckpointSig,
			tamper: func(w *world, ev []schemas.Event) []schemas.Event {
				// An attacker with write access rewrites checkpoint 1 (adds a session to it) and rehashes the
				// event so the run chain's own hash check passes; only the signature catches it.
				for i, e := range ev {
					if e.Type != schemas.TypeGatewayCheckpoint {
						continue
					}
					var cp schemas.Checkpoint
					_ = e.Decode(&cp)
					if cp.Number != 1 {
						continue
					}
					cp.Sessions = append(cp.Sessions, schemas.SessionHead{Session: "forged", Seq: 0, Hash: schemas.GenesisPrev})
					ev[i].Data, _ = json.Marshal(cp)
					ev[i].Hash, _ = schemas.HashEvent(ev[i])
				}
				return ev
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := build(t, tc.silence)
			ev := tc.tamper(w, append([]schemas.Event(nil), w.b.Events...))
			var keys map[string]ed25519.PublicKey
			if tc.keys != nil {
				keys = tc.keys(w)
			}
			r := check(t, w, ev, keys)
			fs := findings(r, tc.kind)
			if len(fs) == 0 {
				t.Fatalf("no %s finding:\n%s", tc.kind, dump(r))
			}
			if tc.session != nil {
				want := tc.session(w)
				ok := false
				for _, f := range fs {
					ok = ok || f.Session == want
				}
				if !ok {
					t.Fatalf("%s findings do not name session %s:\n%s", tc.kind, want, dump(r))
				}
			}
			if tc.kind != integrity.KindUnknownKey && r.OK {
				t.Fatalf("report OK despite %s", tc.name)
			}
			for _, f := range fs {
				if f.Detail == "" {
					t.Fatalf("finding without evidence: %+v", f)
				}
			}
		})
	}
}

func TestRecomputeRawMatchesHashEvent(t *testing.T) {
	w := build(t, 0)
	for _, e := range append(w.b.Events, w.b.Approvals...) {
		raw, err := schemas.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		h, err := integrity.RecomputeRaw(raw, e.Hash)
		if err != nil || h != e.Hash {
			t.Fatalf("%s: RecomputeRaw %s, %v; want %s", e.Type, h, err, e.Hash)
		}
		edited := []byte(strings.Replace(string(raw), `"v":1`, `"v":2`, 1))
		if h, _ := integrity.RecomputeRaw(edited, e.Hash); h == e.Hash {
			t.Fatalf("%s: edited record still hashes to its claimed hash", e.Type)
		}
	}
}

func FuzzRecomputeRaw(f *testing.F) {
	f.Add([]byte(`{"data":{},"gateway":{"instance":"a","version":"b"},"hash":"00","id":"x","prev":"0","seq":0,"session":"s","time":"t","type":"auth.failed","v":1}`), "00")
	f.Add([]byte(`,"hash":"`), "")
	f.Add([]byte(`{"hash":"`), "x")
	f.Fuzz(func(t *testing.T, raw []byte, claimed string) {
		_, _ = integrity.RecomputeRaw(raw, claimed)
	})
}
