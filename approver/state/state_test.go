package state

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/pangate/pangate/schemas"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// ev builds a verified unchained approval event written by instance at t0+offset.
func ev(t *testing.T, instance string, offset time.Duration, id, typ string, data any) schemas.Event {
	t.Helper()
	c := schemas.NewChain(id, schemas.Source{Instance: instance, Version: "test"})
	c.Now = func() time.Time { return t0.Add(offset) }
	e, err := c.Peek(typ, data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func req(id string) schemas.ApprovalRequested {
	return schemas.ApprovalRequested{ApprovalID: id, Session: "s", Target: "db", Role: "r", Rule: "r1", Reason: "delete",
		Identity:  schemas.Identity{Issuer: "https://issuer", Subject: "repo:acme/etl"},
		Statement: schemas.Statement{SQL: "DELETE FROM t", Kind: "write"}, Expires: schemas.FormatTime(t0.Add(5 * time.Minute))}
}

func decided(id, decision, by string) schemas.ApprovalDecided {
	return schemas.ApprovalDecided{ApprovalID: id, Decision: decision, By: by}
}

func apply(t *testing.T, s *State, e schemas.Event) (Change, *Approval) {
	t.Helper()
	ch, a, err := s.Apply(e)
	if err != nil {
		t.Fatalf("apply %s: %v", e.Type, err)
	}
	return ch, a
}

func TestRebuild(t *testing.T) {
	const id = "A1"
	tests := []struct {
		name    string
		events  func(t *testing.T) []schemas.Event
		outcome string
		by      string
		msgTS   string
		claimBy string
		changes []Change
	}{
		{
			name: "first decision wins",
			events: func(t *testing.T) []schemas.Event {
				return []schemas.Event{
					ev(t, "gw", 0, id, schemas.TypeApprovalRequested, req(id)),
					ev(t, "ap1", time.Second, id, schemas.TypeApprovalDecided, decided(id, Approved, "U1")),
					ev(t, "ap2", 2*time.Second, id, schemas.TypeApprovalDecided, decided(id, Denied, "U2")),
				}
			},
			outcome: Approved, by: "U1", changes: []Change{Requested, Closed, Ignored},
		},
		{
			name: "expired before decided",
			events: func(t *testing.T) []schemas.Event {
				return []schemas.Event{
					ev(t, "gw", 0, id, schemas.TypeApprovalRequested, req(id)),
					ev(t, "gw", time.Second, id, schemas.TypeApprovalExpired, schemas.ApprovalExpired{ApprovalID: id, Expires: req(id).Expires}),
					ev(t, "ap1", 2*time.Second, id, schemas.TypeApprovalDecided, decided(id, Approved, "U1")),
				}
			},
			outcome: Expired, changes: []Change{Requested, Closed, Ignored},
		},
		{
			name: "decided before expired",
			events: func(t *testing.T) []schemas.Event {
				return []schemas.Event{
					ev(t, "gw", 0, id, schemas.TypeApprovalRequested, req(id)),
					ev(t, "ap1", time.Second, id, schemas.TypeApprovalDecided, decided(id, Denied, "U1")),
					ev(t, "gw", 2*time.Second, id, schemas.TypeApprovalExpired, schemas.ApprovalExpired{ApprovalID: id}),
				}
			},
			outcome: Denied, by: "U1", changes: []Change{Requested, Closed, Ignored},
		},
		{
			name: "withdrawn then approved",
			events: func(t *testing.T) []schemas.Event {
				return []schemas.Event{
					ev(t, "gw", 0, id, schemas.TypeApprovalRequested, req(id)),
					ev(t, "gw", time.Second, id, schemas.TypeApprovalDecided, decided(id, Withdrawn, "client")),
					ev(t, "ap1", 2*time.Second, id, schemas.TypeApprovalDecided, decided(id, Approved, "U1")),
				}
			},
			outcome: Withdrawn, by: "client", changes: []Change{Requested, Closed, Ignored},
		},
		{
			name: "first claim wins and notified dedupes",
			events: func(t *testing.T) []schemas.Event {
				return []schemas.Event{
					ev(t, "gw", 0, id, schemas.TypeApprovalRequested, req(id)),
					ev(t, "ap1", time.Second, id, schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: id, Channel: "C1"}),
					ev(t, "ap2", time.Second, id, schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: id, Channel: "C1"}),
					ev(t, "ap1", 2*time.Second, id, schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: id, Channel: "C1", MessageTS: "1.1"}),
					ev(t, "ap2", 3*time.Second, id, schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: id, Channel: "C1", MessageTS: "2.2"}),
					ev(t, "ap2", 90*time.Second, id, schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: id, Channel: "C1"}),
				}
			},
			outcome: Pending, msgTS: "1.1", claimBy: "ap1", changes: []Change{Requested, Claimed, Ignored, Notified, Ignored, Ignored},
		},
		{
			name: "stale claim taken over after the lease",
			events: func(t *testing.T) []schemas.Event {
				return []schemas.Event{
					ev(t, "gw", 0, id, schemas.TypeApprovalRequested, req(id)),
					ev(t, "ap1", time.Second, id, schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: id, Channel: "C1"}),
					ev(t, "ap2", 30*time.Second, id, schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: id, Channel: "C1"}),
					ev(t, "ap2", 61*time.Second, id, schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: id, Channel: "C1"}),
					ev(t, "ap3", 62*time.Second, id, schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: id, Channel: "C1"}),
				}
			},
			outcome: Pending, claimBy: "ap2", changes: []Change{Requested, Claimed, Ignored, Claimed, Ignored},
		},
		{
			name: "duplicate request and orphans",
			events: func(t *testing.T) []schemas.Event {
				return []schemas.Event{
					ev(t, "ap1", 0, "other", schemas.TypeApprovalDecided, decided("other", Approved, "U1")),
					ev(t, "gw", 0, id, schemas.TypeApprovalRequested, req(id)),
					ev(t, "gw", time.Second, id, schemas.TypeApprovalRequested, req(id)),
				}
			},
			outcome: Pending, changes: []Change{Ignored, Requested, Ignored},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs := tc.events(t)
			// Two independent rebuilds of the same log must agree (replay after restart).
			for round := 0; round < 2; round++ {
				s := New(Config{})
				var got []Change
				for _, e := range evs {
					ch, _ := apply(t, s, e)
					got = append(got, ch)
				}
				if len(got) != len(tc.changes) {
					t.Fatalf("changes %v, want %v", got, tc.changes)
				}
				for i := range got {
					if got[i] != tc.changes[i] {
						t.Fatalf("changes %v, want %v", got, tc.changes)
					}
				}
				a, ok := s.Get(id)
				if !ok {
					t.Fatal("approval missing")
				}
				if a.Outcome != tc.outcome || a.Decision.By != tc.by {
					t.Fatalf("outcome %q by %q, want %q by %q", a.Outcome, a.Decision.By, tc.outcome, tc.by)
				}
				if tc.msgTS != "" && (a.Message == nil || a.Message.TS != tc.msgTS) {
					t.Fatalf("message %+v, want ts %s", a.Message, tc.msgTS)
				}
				if tc.claimBy != "" && (a.Claim == nil || a.Claim.Instance != tc.claimBy) {
					t.Fatalf("claim %+v, want by %s", a.Claim, tc.claimBy)
				}
				if wantTakeover := tc.name == "stale claim taken over after the lease"; a.Takeover != wantTakeover {
					t.Fatalf("takeover = %v, want %v", a.Takeover, wantTakeover)
				}
				if tc.claimBy != "" && !a.FirstClaimAt.Equal(t0.Add(time.Second)) {
					t.Fatalf("first claim at %v", a.FirstClaimAt)
				}
				if _, ok := s.Get("other"); ok {
					t.Fatal("orphan closing event created an approval")
				}
			}
		})
	}
}

func TestRejectsForgedAndMalformed(t *testing.T) {
	s := New(Config{})
	apply(t, s, ev(t, "gw", 0, "A", schemas.TypeApprovalRequested, req("A")))
	forged := ev(t, "x", time.Second, "A", schemas.TypeApprovalDecided, decided("A", Denied, "U1"))
	forged.Data = []byte(`{"approval_id":"A","decision":"approved","by":"U1","latency_ms":0}`)
	if _, _, err := s.Apply(forged); !errors.Is(err, ErrRejected) {
		t.Fatalf("forged event: err = %v, want ErrRejected", err)
	}
	bad := ev(t, "x", time.Second, "A", schemas.TypeApprovalDecided, decided("A", "maybe", "U1"))
	if _, _, err := s.Apply(bad); !errors.Is(err, ErrRejected) {
		t.Fatalf("unknown decision: err = %v, want ErrRejected", err)
	}
	if _, _, err := s.ApplyRecord([]byte("{not json")); !errors.Is(err, ErrRejected) {
		t.Fatalf("garbage: err = %v, want ErrRejected", err)
	}
	if a, _ := s.Get("A"); !a.IsPending() {
		t.Fatalf("rejected events changed state: %+v", a)
	}
	if st := s.Stats(); st.Rejected != 3 || st.Pending != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestShouldClaim(t *testing.T) {
	s := New(Config{Lease: time.Minute})
	_, a := apply(t, s, ev(t, "gw", 0, "A", schemas.TypeApprovalRequested, req("A")))
	if !s.ShouldClaim(a, t0) {
		t.Fatal("unclaimed pending approval not claimable")
	}
	_, a = apply(t, s, ev(t, "ap1", 0, "A", schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: "A", Channel: "C"}))
	if s.ShouldClaim(a, t0.Add(59*time.Second)) {
		t.Fatal("fresh claim claimable")
	}
	if !s.ShouldClaim(a, t0.Add(61*time.Second)) {
		t.Fatal("stale claim not claimable")
	}
	_, a = apply(t, s, ev(t, "ap1", time.Second, "A", schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: "A", Channel: "C", MessageTS: "1"}))
	if s.ShouldClaim(a, t0.Add(time.Hour)) {
		t.Fatal("posted approval claimable")
	}
	if p := s.Pending(); len(p) != 1 || p[0].ID != "A" {
		t.Fatalf("pending %+v", p)
	}
}

// TestSignedDecisionsOnly is the approver's half of issue 13.2: with decision keys configured, a decision
// that is not signed by a trusted key for this approval and request is rejected and the approval stays
// pending (its Slack message is not updated), so approver and gateways agree.
func TestSignedDecisionsOnly(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	keys := schemas.DecisionKeys{}
	keys.Add(key.Public().(ed25519.PublicKey))
	const id = "A1"
	sign := func(d schemas.ApprovalDecided, request string, k ed25519.PrivateKey) schemas.ApprovalDecided {
		d.Request = request
		if err := schemas.SignDecision(&d, k); err != nil {
			t.Fatal(err)
		}
		return d
	}
	s := New(Config{DecisionKeys: keys})
	r := ev(t, "gw", 0, id, schemas.TypeApprovalRequested, req(id))
	apply(t, s, r)
	replayed := sign(decided("A2", Approved, "U1"), r.Hash, key)
	replayed.ApprovalID = id
	for name, d := range map[string]schemas.ApprovalDecided{
		"unsigned":                decided(id, Approved, "U9"),
		"other key":               sign(decided(id, Approved, "U9"), r.Hash, other),
		"replayed for another id": replayed,
		"for another request":     sign(decided(id, Approved, "U1"), "other", key),
	} {
		if _, _, err := s.Apply(ev(t, "x", time.Second, id, schemas.TypeApprovalDecided, d)); !errors.Is(err, ErrRejected) {
			t.Errorf("%s: err %v, want ErrRejected", name, err)
		}
		if a, _ := s.Get(id); !a.IsPending() {
			t.Fatalf("%s closed the approval: %+v", name, a)
		}
	}
	// A gateway's withdrawal by the client is unsigned and counts.
	ch, a := apply(t, s, ev(t, "gw", 2*time.Second, id, schemas.TypeApprovalDecided, decided(id, Withdrawn, "client")))
	if ch != Closed || a.Outcome != Withdrawn {
		t.Fatalf("withdrawal: %v %+v", ch, a)
	}
	s2 := New(Config{DecisionKeys: keys})
	apply(t, s2, r)
	ch, a = apply(t, s2, ev(t, "ap", time.Second, id, schemas.TypeApprovalDecided, sign(decided(id, Denied, "U1"), r.Hash, key)))
	if ch != Closed || a.Outcome != Denied || s2.Stats().Rejected != 0 || s.Stats().Rejected != 4 {
		t.Fatalf("signed denial: %v %+v, rejected %d/%d", ch, a, s2.Stats().Rejected, s.Stats().Rejected)
	}
}
