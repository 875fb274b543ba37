package approver_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// produceDecision writes d as approval.decided straight to the approvals topic, as anyone with produce
// rights on it could: a well-formed event with a correct hash, written by no approver.
func (w *world) produceDecision(t testing.TB, d schemas.ApprovalDecided) {
	t.Helper()
	e, err := schemas.NewUnchained(d.ApprovalID, schemas.Source{Instance: "mallory", Version: "forged"}, schemas.TypeApprovalDecided, d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := schemas.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// On the decisions topic, where the gateways look: a forger with write access there (the approver
	// principal's credentials) is stopped by the signature alone.
	if err := stack.Kafka(t).ProduceSync(ctx, &kgo.Record{Topic: w.decided, Key: []byte(d.ApprovalID), Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// requestHash returns the hash of approval.requested of id, as a forger reading the topic sees it.
func (w *world) requestHash(t testing.TB, id string) string {
	t.Helper()
	for _, e := range w.events(t, id, func(e []schemas.Event) bool { return len(e) > 0 }) {
		if e.Type == schemas.TypeApprovalRequested {
			return e.Hash
		}
	}
	t.Fatalf("no approval.requested for %s", id)
	return ""
}

// signedDecisionOf returns the decided event's data of approval id (a genuine, signed decision).
func (w *world) signedDecisionOf(t testing.TB, id string) schemas.ApprovalDecided {
	t.Helper()
	for _, e := range w.events(t, id, func(e []schemas.Event) bool { return has(kinds(t, e), "decided:approved") }) {
		var d schemas.ApprovalDecided
		if e.Type == schemas.TypeApprovalDecided && e.Decode(&d) == nil && d.Decision == "approved" {
			return d
		}
	}
	t.Fatalf("no approved decision for %s", id)
	return schemas.ApprovalDecided{}
}

// TestForgedDecisionsIgnored is the regression test for issue 13.2 against a real approver, Kafka and
// gateway-side Holder: an approval written straight to the approvals topic (unsigned), one signed by a key
// the gateway does not trust, and a genuine signed approval replayed with another approval id are each
// ignored; the statement stays held, each is recorded as approval.rejected, the approver's Slack message
// stays pending, and the real decision that follows is the one that counts.
func TestForgedDecisionsIgnored(t *testing.T) {
	w := newWorld(t)
	ap := w.startApprover(t, "ap-forge")
	ctx := context.Background()

	// A genuine approval of another request, to replay.
	first := w.request(ctx, 5*time.Minute, nil)
	msg := w.posted(t, first.id)
	if r, _ := click(t, ap, slackuitest.Click{ApprovalID: first.id, Approve: true, User: "UADA", MessageTS: msg.TS}); r != "decided" {
		t.Fatalf("approve first: %s", r)
	}
	if d, err := first.wait(t); err != nil || !d.Approved() {
		t.Fatalf("first: %+v %v", d, err)
	}
	genuine := w.signedDecisionOf(t, first.id)
	if genuine.KeyID == "" || genuine.Signature == "" || genuine.Request == "" {
		t.Fatalf("the approver published an unsigned decision: %+v", genuine)
	}

	_, otherKey, _ := ed25519.GenerateKey(nil)
	cases := []struct {
		name   string
		forge  func(id, rh string) schemas.ApprovalDecided
		reason string
	}{
		{"unsigned approval produced to kafka", func(id, rh string) schemas.ApprovalDecided {
			return schemas.ApprovalDecided{ApprovalID: id, Decision: "approved", By: "UADA", ByName: "Ada Approver", Request: rh}
		}, schemas.RejectUnsigned},
		{"approval signed by another key", func(id, rh string) schemas.ApprovalDecided {
			d := schemas.ApprovalDecided{ApprovalID: id, Decision: "approved", By: "UADA", Request: rh}
			if err := schemas.SignDecision(&d, otherKey); err != nil {
				t.Fatal(err)
			}
			return d
		}, schemas.RejectUnknownKey},
		{"genuine approval replayed for another approval id", func(id, rh string) schemas.ApprovalDecided {
			d := genuine
			d.ApprovalID = id
			return d
		}, schemas.RejectBadSignature},
		{"genuine approval replayed with the request hash rewritten", func(id, rh string) schemas.ApprovalDecided {
			d := genuine
			d.ApprovalID, d.Request = id, rh
			return d
		}, schemas.RejectBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := w.request(ctx, 5*time.Minute, nil)
			msg := w.posted(t, p.id)
			w.produceDecision(t, c.forge(p.id, w.requestHash(t, p.id)))
			evs := w.events(t, p.id, func(e []schemas.Event) bool { return has(kinds(t, e), "rejected:"+c.reason) })
			select {
			case <-p.done:
				t.Fatalf("the forged decision decided the request: %+v %v (events %v)", p.d, p.err, kinds(t, evs))
			case <-time.After(time.Second):
			}
			// The approver did not take it either: a click still decides.
			if r, text := click(t, ap, slackuitest.Click{ApprovalID: p.id, Approve: false, User: "UBOB", MessageTS: msg.TS, Reason: "forged"}); r != "decided" {
				t.Fatalf("deny after the forgery: %s %q", r, text)
			}
			d, err := p.wait(t)
			if err != nil || d.Outcome != "denied" || d.By != "UBOB" {
				t.Fatalf("decision %+v %v, want Bob's denial", d, err)
			}
		})
	}
}

// TestForgedApprovalThroughGateway: a statement held by a real gateway is not run when an unsigned
// approval for its approval id (the id the client itself sees in its notice) is produced to Kafka.
func TestForgedApprovalThroughGateway(t *testing.T) {
	prefix, table, role, admin := heldFixture(t)
	ctx := context.Background()
	w := newWorldOn(t, prefix+schemas.TopicApprovals)
	ap := w.startApprover(t, "ap-gw-forge")
	g := startGateway(t, prefix, role)
	c := g.connect(t, role, "etl-job")
	done := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, fmt.Sprintf("DELETE FROM %s", table))
		done <- err
	}()
	msg, id := w.heldPost(t, table)
	w.produceDecision(t, schemas.ApprovalDecided{ApprovalID: id, Decision: "approved", By: "UADA", Request: w.requestHash(t, id)})
	w.events(t, id, func(e []schemas.Event) bool { return has(kinds(t, e), "rejected:"+schemas.RejectUnsigned) })
	select {
	case err := <-done:
		t.Fatalf("the held DELETE returned after a forged approval: %v", err)
	case <-time.After(2 * time.Second):
	}
	var n int
	if err := admin.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", table)).Scan(&n); err != nil || n != 5 {
		t.Fatalf("rows after the forged approval: %d %v, want 5", n, err)
	}
	if r, _ := click(t, ap, slackuitest.Click{ApprovalID: id, Approve: false, User: "UBOB", MessageTS: msg.TS, Reason: "forged"}); r != "decided" {
		t.Fatalf("deny: %s", r)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "denied") {
			t.Fatalf("after the real denial: %v, want denied", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("denied statement did not return")
	}
	if err := admin.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", table)).Scan(&n); err != nil || n != 5 {
		t.Fatalf("rows after the denial: %d %v, want 5", n, err)
	}
}
