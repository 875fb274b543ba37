package service

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/approver/slackui"
	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/approver/state"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/kafka"
	"github.com/pangate/pangate/internal/kafka/kafkatest"
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
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, schemas.TopicApprovals, schemas.TopicDecisions))
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
	s, err := New(Config{Instance: name, Kafka: kafka.Config{Brokers: e.brokers}, Channel: "C1", Lease: lease, DecisionKey: testKey,
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

// TestKafkaClientsUseTheClientBlock runs against the local stack's broker (PLAINTEXT, no SASL): with a
// SASL client block, the topic check and the replay are turned away at the SASL handshake, which shows
// that the service's clients start from kafka.Config.Opts rather than from the brokers alone.
func TestKafkaClientsUseTheClientBlock(t *testing.T) {
	probe := kafkatest.SASLProbe(stack.Brokers(t), stack.UniqueName(t, "scaffold-approver-"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := EnsureTopic(ctx, probe, probe.Topic(schemas.TopicApprovals)); !kafkatest.SASLAttempted(err) {
		t.Fatalf("EnsureTopic with a SASL block: %v, want a refused SASL handshake", err)
	}
	s, err := New(Config{Instance: "probe", Kafka: probe, Passive: true, DecisionKey: testKey}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.cfg.Topic; got != probe.Topic(schemas.TopicApprovals) {
		t.Fatalf("topic %q, want the prefixed approvals topic", got)
	}
	if err := s.Run(ctx); !kafkatest.SASLAttempted(err) {
		t.Fatalf("Run with a SASL block: %v, want a refused SASL handshake", err)
	}
}

// TestWritesOnlyTheDecisionsTopic: everything an approver writes (claim, message, decision) goes to
// pangate.decisions, the topic only the approver principal may write; pangate.approvals keeps the gateway's
// request alone (issue 18.1).
func TestWritesOnlyTheDecisionsTopic(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "ap-a")
	id := schemas.NewID()
	e.request(t, id, time.Minute)
	eventually(t, "notified", func() bool { x, ok := s.Lookup(id); return ok && x.Message != nil })
	counted, a, err := s.Decide(context.Background(), schemas.ApprovalDecided{ApprovalID: id, Decision: "approved", By: "U"})
	if err != nil || !counted || a.Outcome != "approved" {
		t.Fatalf("decide: counted %v, %+v, %v", counted, a, err)
	}
	types := map[string][]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rd, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(schemas.TopicApprovals, schemas.TopicDecisions),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for n := 0; n < 4 && ctx.Err() == nil; {
		rd.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			ev, err := schemas.Parse(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			types[r.Topic] = append(types[r.Topic], ev.Type)
			n++
		})
	}
	want := map[string][]string{
		schemas.TopicApprovals: {schemas.TypeApprovalRequested},
		schemas.TopicDecisions: {schemas.TypeApprovalNotified, schemas.TypeApprovalNotified, schemas.TypeApprovalDecided},
	}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("records by topic %v, want %v", types, want)
	}
}
