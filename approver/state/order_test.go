package state

import (
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/pangate/pangate/schemas"
)

// orderCase is one approval's records on the two topics, each list in its topic's (partition's) order.
type orderCase struct {
	name      string
	approvals []schemas.Event // what gateways write
	decisions []schemas.Event // what approvers write
	outcome   string
	by        string
	rejected  int
}

// orderCases builds the cases with decisions signed by key for the request they close.
func orderCases(t testing.TB, key ed25519.PrivateKey) []orderCase {
	const id = "A1"
	mk := func(instance string, offset time.Duration, typ string, data any) schemas.Event {
		c := schemas.NewChain(id, schemas.Source{Instance: instance, Version: "test"})
		c.Now = func() time.Time { return t0.Add(offset) }
		e, err := c.Peek(typ, data)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	r := req(id)
	r.GatewayInst = "gw"
	request := mk("gw", 0, schemas.TypeApprovalRequested, r)
	sign := func(decision, by, request string) schemas.ApprovalDecided {
		d := decided(id, decision, by)
		d.Request = request
		if err := schemas.SignDecision(&d, key); err != nil {
			t.Fatal(err)
		}
		return d
	}
	claim := mk("ap1", time.Second, schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: id, Channel: "C"})
	claim2 := mk("ap2", time.Second, schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: id, Channel: "C"})
	posted := mk("ap1", 2*time.Second, schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: id, Channel: "C", MessageTS: "1.1"})
	approved := mk("ap1", 3*time.Second, schemas.TypeApprovalDecided, sign(Approved, "U1", request.Hash))
	denied := mk("ap2", 4*time.Second, schemas.TypeApprovalDecided, sign(Denied, "U2", request.Hash))
	forged := mk("ap2", 3*time.Second, schemas.TypeApprovalDecided, sign(Approved, "U9", "not-the-request"))
	gwExpired := mk("gw", 5*time.Minute, schemas.TypeApprovalExpired, schemas.ApprovalExpired{ApprovalID: id, Expires: r.Expires})
	apExpired := mk("ap1", 5*time.Minute+2*time.Second, schemas.TypeApprovalExpired, schemas.ApprovalExpired{ApprovalID: id, Expires: r.Expires})
	withdrawn := mk("gw", 10*time.Second, schemas.TypeApprovalDecided, decided(id, Withdrawn, schemas.DecidedByClient))
	return []orderCase{
		{name: "decision read before its request", approvals: []schemas.Event{request},
			decisions: []schemas.Event{claim, claim2, posted, approved, denied}, outcome: Approved, by: "U1"},
		{name: "gateway expiry beats an approval it never saw", approvals: []schemas.Event{request, gwExpired},
			decisions: []schemas.Event{claim, posted, approved}, outcome: Expired},
		{name: "withdrawal beats a denial", approvals: []schemas.Event{request, withdrawn},
			decisions: []schemas.Event{claim, denied}, outcome: Withdrawn, by: schemas.DecidedByClient},
		{name: "approver expiry first on its topic", approvals: []schemas.Event{request},
			decisions: []schemas.Event{claim, apExpired, approved}, outcome: Expired},
		{name: "forged decision held then rejected", approvals: []schemas.Event{request},
			decisions: []schemas.Event{forged, claim, posted}, outcome: Pending, rejected: 1},
		{name: "expiries of both sides", approvals: []schemas.Event{request, gwExpired},
			decisions: []schemas.Event{apExpired}, outcome: Expired},
		// Contract version 3 and before: everything on pangate.approvals, the first closing event counts.
		{name: "single-topic log: approval before the gateway's expiry",
			approvals: []schemas.Event{request, claim, posted, approved, gwExpired}, outcome: Approved, by: "U1"},
		{name: "single-topic log: gateway's expiry before an approval",
			approvals: []schemas.Event{request, claim, gwExpired, approved}, outcome: Expired},
	}
}

// interleave applies the two lists to a new State in the order picks gives: bit i of the pick sequence says
// whether step i takes the next approvals record (0) or the next decisions record (1); when one list is
// used up the other goes on.
func interleave(keys schemas.DecisionKeys, c orderCase, picks []byte) *State {
	s := New(Config{DecisionKeys: keys})
	i, j, step := 0, 0, 0
	for i < len(c.approvals) || j < len(c.decisions) {
		fromDecisions := j < len(c.decisions) && (i == len(c.approvals) ||
			(step/8 < len(picks) && picks[step/8]&(1<<(step%8)) != 0))
		step++
		if fromDecisions {
			_, _, _ = s.ApplyFrom(OnDecisions, c.decisions[j])
			j++
		} else {
			_, _, _ = s.ApplyFrom(OnApprovals, c.approvals[i])
			i++
		}
	}
	return s
}

// snapshot is what must not depend on the interleaving: the approval (without the arrival order of its
// closing events) and the counters.
func snapshot(s *State, id string) string {
	a, ok := s.Get(id)
	if !ok {
		return fmt.Sprintf("missing %+v", s.Stats())
	}
	var claim Claim
	var msg Message
	if a.Claim != nil {
		claim = *a.Claim
	}
	if a.Message != nil {
		msg = *a.Message
	}
	a.closings, a.Claim, a.Message = nil, nil, nil
	return fmt.Sprintf("%+v claim %+v message %+v %+v", *a, claim, msg, s.Stats())
}

// every returns every interleaving of n approvals records with m decisions records as pick sequences.
func every(n, m int) [][]byte {
	var out [][]byte
	var rec func(i, j, step int, picks []byte)
	rec = func(i, j, step int, picks []byte) {
		if i == n && j == m {
			out = append(out, append([]byte(nil), picks...))
			return
		}
		if step/8 >= len(picks) {
			picks = append(picks, 0)
		}
		if i < n {
			rec(i+1, j, step+1, picks)
		}
		if j < m {
			p := append([]byte(nil), picks...)
			p[step/8] |= 1 << (step % 8)
			rec(i, j+1, step+1, p)
		}
	}
	rec(0, 0, 0, nil)
	return out
}

// TestOrderIndependent applies every interleaving of each case's two topics and requires one final state,
// with the case's outcome: records of one approval on pangate.approvals and pangate.decisions have no order
// between them (issue 18.1).
func TestOrderIndependent(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	keys := schemas.DecisionKeys{}
	keys.Add(pub)
	for _, c := range orderCases(t, key) {
		t.Run(c.name, func(t *testing.T) {
			all := every(len(c.approvals), len(c.decisions))
			want := snapshot(interleave(keys, c, all[0]), "A1")
			for _, picks := range all {
				s := interleave(keys, c, picks)
				if got := snapshot(s, "A1"); got != want {
					t.Fatalf("interleaving %08b:\n got  %s\n want %s", picks, got, want)
				}
				a, ok := s.Get("A1")
				if !ok || a.Outcome != c.outcome || a.Decision.By != c.by {
					t.Fatalf("interleaving %08b: %+v, want outcome %q by %q", picks, a, c.outcome, c.by)
				}
				if st := s.Stats(); st.Rejected != c.rejected || st.Orphans != 0 {
					t.Fatalf("interleaving %08b: stats %+v, want %d rejected and no orphans", picks, st, c.rejected)
				}
			}
		})
	}
}

// TestDecisionBeforeRequestStaysPending: a decision whose request has not been read is held (an orphan),
// not lost, and the approval does not exist until the request arrives, which then closes it at once.
func TestDecisionBeforeRequestStaysPending(t *testing.T) {
	s := New(Config{})
	d := ev(t, "ap1", time.Second, "A", schemas.TypeApprovalDecided, decided("A", Denied, "U1"))
	if ch, a, err := s.ApplyFrom(OnDecisions, d); err != nil || ch != Ignored || a != nil {
		t.Fatalf("early decision: %v %+v %v", ch, a, err)
	}
	if _, ok := s.Get("A"); ok || s.Stats().Orphans != 1 {
		t.Fatalf("early decision created the approval or was not held: %+v", s.Stats())
	}
	ch, a, err := s.ApplyFrom(OnApprovals, ev(t, "gw", 0, "A", schemas.TypeApprovalRequested, req("A")))
	if err != nil || ch != Closed || a.Outcome != Denied || s.Stats().Orphans != 0 {
		t.Fatalf("request after its decision: %v %+v %v %+v", ch, a, err, s.Stats())
	}
}

// FuzzInterleavings picks interleavings of the two topics from the fuzzer's bytes: every one must reach
// the state of the all-approvals-first order.
func FuzzInterleavings(f *testing.F) {
	pub, key, _ := ed25519.GenerateKey(nil)
	keys := schemas.DecisionKeys{}
	keys.Add(pub)
	cases := orderCases(f, key)
	f.Add(uint8(0), []byte{0})
	f.Add(uint8(1), []byte{0xff})
	f.Add(uint8(2), []byte{0x55, 0xaa})
	f.Fuzz(func(t *testing.T, which uint8, picks []byte) {
		c := cases[int(which)%len(cases)]
		want := snapshot(interleave(keys, c, nil), "A1")
		if got := snapshot(interleave(keys, c, picks), "A1"); got != want {
			t.Fatalf("%s, picks %x:\n got  %s\n want %s", c.name, picks, got, want)
		}
	})
}
