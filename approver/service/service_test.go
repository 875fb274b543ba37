package service

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/approver/slackui"
	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/approver/state"
	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/schemas"
)

type env struct {
	brokers []string
	cl      *kgo.Client
	slack   *slackuitest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, schemas.TopicApprovals))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(schemas.TopicApprovals))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	sl := slackuitest.New()
	t.Cleanup(sl.Close)
	return &env{brokers: c.ListenAddrs(), cl: cl, slack: sl}
}

// testKey signs the decisions of every test service.
var _, testKey, _ = ed25519.GenerateKey(nil)

func (e *env) start(t *testing.T, name string) *Service {
	t.Helper()
	return e.startLease(t, name, 4*time.Second)
}

func (e *env) startLease(t *testing.T, name string, lease time.Duration) *Service {
	t.Helper()
	m, _ := mask.New(mask.Config{})
	api := slack.New("xoxb-test", slack.OptionAPIURL(e.slack.URL()))
	s, err := New(Config{Instance: name, Brokers: e.brokers, Channel: "C1", Lease: lease, DecisionKey: testKey,
		ExpiryGrace: 100 * time.Millisecond, ReconcileEvery: 50 * time.Millisecond, FetchMaxWait: 50 * time.Millisecond},
		api, slackui.NewRenderer(m), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	return s
}

func (e *env) request(t *testing.T, id string, expires time.Duration) {
	t.Helper()
	r := schemas.ApprovalRequested{ApprovalID: id, Session: "s", Target: "db", Role: "r", Rule: "r", Reason: "x",
		Statement: schemas.Statement{SQL: "DELETE FROM t", Kind: "write"}, Expires: schemas.FormatTime(time.Now().Add(expires))}
	ev, _ := schemas.NewUnchained(id, schemas.Source{Instance: "gw"}, schemas.TypeApprovalRequested, r)
	b, _ := schemas.Marshal(ev)
	if err := e.cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(id), Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTwoInstancesPostOnceAndDecideOnce(t *testing.T) {
	e := newEnv(t)
	a, b := e.start(t, "ap-a"), e.start(t, "ap-b")
	ids := []string{schemas.NewID(), schemas.NewID(), schemas.NewID()}
	for _, id := range ids {
		e.request(t, id, time.Minute)
	}
	for _, id := range ids {
		eventually(t, "notified "+id, func() bool { x, ok := b.Lookup(id); return ok && x.Message != nil })
	}
	if n := len(e.slack.Posts()); n != len(ids) {
		t.Fatalf("%d posts for %d requests", n, len(ids))
	}
	// Both instances decide the first approval at once: exactly one counts.
	type res struct {
		counted bool
		err     error
	}
	out := make(chan res, 2)
	for i, s := range []*Service{a, b} {
		go func() {
			c, _, err := s.Decide(context.Background(), schemas.ApprovalDecided{ApprovalID: ids[0], Decision: []string{"approved", "denied"}[i], By: "U"})
			out <- res{c, err}
		}()
	}
	counted := 0
	for range 2 {
		r := <-out
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.counted {
			counted++
		}
	}
	if counted != 1 {
		t.Fatalf("%d decisions counted, want 1", counted)
	}
	xa, _ := a.Lookup(ids[0])
	xb, _ := b.Lookup(ids[0])
	if xa.ClosedID != xb.ClosedID || xa.Outcome != xb.Outcome {
		t.Fatalf("instances disagree: %s/%s vs %s/%s", xa.Outcome, xa.ClosedID, xb.Outcome, xb.ClosedID)
	}
	eventually(t, "message updated", func() bool { return len(e.slack.Updates()) >= 1 })

	// A third instance started now rebuilds the same state and posts nothing.
	c := e.start(t, "ap-c")
	xc, _ := c.Lookup(ids[0])
	if xc.ClosedID != xa.ClosedID {
		t.Fatal("rebuilt state disagrees on the first decision")
	}
	if n := len(e.slack.Posts()); n != len(ids) {
		t.Fatalf("%d posts after a third instance started, want %d", n, len(ids))
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "ap")
	id := schemas.NewID()
	e.request(t, id, 300*time.Millisecond)
	eventually(t, "expired", func() bool { x, ok := s.Lookup(id); return ok && x.Outcome == state.Expired })
}

// TestStaleClaimTakenOver: an instance that claimed an approval and died before posting blocks others only
// for the lease; then a live instance claims it and posts it once.
func TestStaleClaimTakenOver(t *testing.T) {
	e := newEnv(t)
	id := schemas.NewID()
	e.request(t, id, time.Minute)
	claim, _ := schemas.NewUnchained(id, schemas.Source{Instance: "dead/0000"}, schemas.TypeApprovalNotified,
		schemas.ApprovalNotified{ApprovalID: id, Channel: "C1"})
	b, _ := schemas.Marshal(claim)
	if err := e.cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(id), Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	s := e.startLease(t, "ap", time.Second)
	x, _ := s.Lookup(id)
	if x.Claim == nil || x.Claim.Instance != "dead/0000" {
		t.Fatalf("replayed claim %+v", x.Claim)
	}
	eventually(t, "takeover post", func() bool { x, _ := s.Lookup(id); return x.Message != nil })
	x, _ = s.Lookup(id)
	if x.Claim.Instance != s.Instance() || len(e.slack.Posts()) != 1 {
		t.Fatalf("claim %+v, %d posts", x.Claim, len(e.slack.Posts()))
	}
	if md := e.slack.Posts()[0].Metadata; !strings.Contains(md, `"approval_id":"`+id+`"`) || !strings.Contains(md, MetadataEventType) {
		t.Fatalf("post metadata %q does not name the approval", md)
	}
}

// TestTakeoverAdoptsMessageOfDeadClaimer: the claimer posted and died before recording approval.notified
// (the crash window). The instance taking over finds the message by its metadata and records it instead of
// posting a second one.
func TestTakeoverAdoptsMessageOfDeadClaimer(t *testing.T) {
	e := newEnv(t)
	id := schemas.NewID()
	e.request(t, id, time.Minute)
	claim, _ := schemas.NewUnchained(id, schemas.Source{Instance: "dead/0000"}, schemas.TypeApprovalNotified,
		schemas.ApprovalNotified{ApprovalID: id, Channel: "C1"})
	b, _ := schemas.Marshal(claim)
	if err := e.cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(id), Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	e.slack.Inject(slackuitest.Message{Channel: "C1", Text: "other", Metadata: `{"event_type":"pangate_approval","event_payload":{"approval_id":"someone-else"}}`})
	ts := e.slack.Inject(slackuitest.Message{Channel: "C1", Text: "pangate", Metadata: `{"event_type":"pangate_approval","event_payload":{"approval_id":"` + id + `"}}`})
	s := e.startLease(t, "ap", time.Second)
	eventually(t, "adopted message", func() bool { x, _ := s.Lookup(id); return x.Message != nil })
	x, _ := s.Lookup(id)
	if x.Message.TS != ts || len(e.slack.Posts()) != 0 {
		t.Fatalf("message %+v (want ts %s), %d new posts (want 0)", x.Message, ts, len(e.slack.Posts()))
	}
}
