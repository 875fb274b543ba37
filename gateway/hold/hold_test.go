package hold

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/internal/kafka"
	"github.com/pangate/pangate/schemas"
)

// approverKey is the approver's decision key the fake holders trust; otherKey is trusted by nobody.
var (
	_, approverKey, _ = ed25519.GenerateKey(nil)
	_, otherKey, _    = ed25519.GenerateKey(nil)
)

func trusted() schemas.DecisionKeys {
	k := schemas.DecisionKeys{}
	k.Add(approverKey.Public().(ed25519.PublicKey))
	return k
}

// signed returns d answering request, signed with key.
func signed(t *testing.T, d schemas.ApprovalDecided, request string, key ed25519.PrivateKey) schemas.ApprovalDecided {
	t.Helper()
	d.Request = request
	if err := schemas.SignDecision(&d, key); err != nil {
		t.Fatal(err)
	}
	return d
}

// fakeHolder starts an in-process kfake cluster with the approvals topic and a running Holder.
func fakeHolder(t *testing.T) (*Holder, *kgo.Client) {
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
	h, err := New(Config{Instance: "gw-test", Kafka: kafka.Config{Brokers: c.ListenAddrs()}, FetchMaxWait: 50 * time.Millisecond, SettleTimeout: 2 * time.Second,
		DecisionKeys: trusted()}, cl)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-h.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("holder not ready")
	}
	return h, cl
}

// publish writes an approver's event to the decisions topic.
func publish(t *testing.T, cl *kgo.Client, id, typ string, data any) {
	t.Helper()
	publishTo(t, cl, schemas.TopicDecisions, id, typ, data)
}

func publishTo(t *testing.T, cl *kgo.Client, topic, id, typ string, data any) {
	t.Helper()
	e, err := schemas.NewUnchained(id, schemas.Source{Instance: "test"}, typ, data)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := schemas.Marshal(e)
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Key: []byte(id), Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// waitRequested blocks until the approvals topic holds approval.requested for id, as an approver would see
// it, and returns that event's hash (what a signed decision names).
func waitRequested(t *testing.T, brokers []string, id string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(schemas.TopicApprovals), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("approval.requested for %s never appeared", id)
		}
		found := ""
		fs.EachRecord(func(r *kgo.Record) {
			e, err := schemas.Parse(r.Value)
			if err == nil && e.Type == schemas.TypeApprovalRequested && e.Session == id && schemas.VerifyEvent(e) == nil {
				found = e.Hash
			}
		})
		if found != "" {
			return found
		}
	}
}

func request(id string, expires time.Duration) schemas.ApprovalRequested {
	return schemas.ApprovalRequested{ApprovalID: id, Session: "s1", Target: "db", Role: "r",
		Statement: schemas.Statement{SQL: "DELETE FROM cards", Kind: "write"}, Rule: "hold-deletes", Reason: "delete",
		Expires: schemas.FormatTime(time.Now().Add(expires))}
}

func TestFirstDecisionInLogWins(t *testing.T) {
	h, cl := fakeHolder(t)
	id := schemas.NewID()
	go func() {
		rh := waitRequested(t, h.cfg.Kafka.Brokers, id)
		publish(t, cl, id, schemas.TypeApprovalDecided, signed(t, schemas.ApprovalDecided{ApprovalID: id, Decision: Approved, By: "U1", ByEmail: "a@example.com"}, rh, approverKey))
		publish(t, cl, id, schemas.TypeApprovalDecided, signed(t, schemas.ApprovalDecided{ApprovalID: id, Decision: Denied, By: "U2"}, rh, approverKey))
	}()
	d, err := h.Request(context.Background(), request(id, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Approved() || d.By != "U1" || d.ByEmail != "a@example.com" {
		t.Fatalf("decision = %+v, want approved by U1", d)
	}
}

// TestDecisionOnApprovalsTopicIgnored: the tail reads decisions from pangate.decisions alone, the topic only
// the approver principal may write; a decision written to the gateways' pangate.approvals (even a validly
// signed one, as an approver before contract version 4 wrote it) is not obeyed (issue 18.1).
func TestDecisionOnApprovalsTopicIgnored(t *testing.T) {
	h, cl := fakeHolder(t)
	id := schemas.NewID()
	go func() {
		rh := waitRequested(t, h.cfg.Kafka.Brokers, id)
		publishTo(t, cl, schemas.TopicApprovals, id, schemas.TypeApprovalDecided, signed(t, schemas.ApprovalDecided{ApprovalID: id, Decision: Approved, By: "U9"}, rh, approverKey))
		time.Sleep(300 * time.Millisecond)
		publish(t, cl, id, schemas.TypeApprovalDecided, signed(t, schemas.ApprovalDecided{ApprovalID: id, Decision: Denied, By: "U1"}, rh, approverKey))
	}()
	d, err := h.Request(context.Background(), request(id, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if d.Outcome != Denied || d.By != "U1" {
		t.Fatalf("decision = %+v, want the denial from %s (the approval on %s must be ignored)", d, schemas.TopicDecisions, schemas.TopicApprovals)
	}
}

func TestForgedDecisionIgnored(t *testing.T) {
	h, cl := fakeHolder(t)
	id := schemas.NewID()
	go func() {
		rh := waitRequested(t, h.cfg.Kafka.Brokers, id)
		// An edited event (hash no longer matches) must not decide anything.
		e, _ := schemas.NewUnchained(id, schemas.Source{Instance: "x"}, schemas.TypeApprovalDecided,
			schemas.ApprovalDecided{ApprovalID: id, Decision: Denied, By: "U9"})
		e.Data = []byte(`{"approval_id":"` + id + `","decision":"approved","by":"U9","latency_ms":0}`)
		b, _ := schemas.Marshal(e)
		_ = cl.ProduceSync(context.Background(), &kgo.Record{Topic: schemas.TopicDecisions, Key: []byte(id), Value: b}).FirstErr()
		publish(t, cl, id, schemas.TypeApprovalDecided, signed(t, schemas.ApprovalDecided{ApprovalID: id, Decision: Denied, By: "U1", Reason: "no"}, rh, approverKey))
	}()
	d, err := h.Request(context.Background(), request(id, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if d.Outcome != Denied || d.Reason != "no" {
		t.Fatalf("decision = %+v, want denied by U1 with reason", d)
	}
}

func TestExpiry(t *testing.T) {
	h, _ := fakeHolder(t)
	d, err := h.Request(context.Background(), request(schemas.NewID(), 300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if d.Outcome != Expired || d.EventID == "" {
		t.Fatalf("decision = %+v, want its own expiry (final, with its event id)", d)
	}
}

func TestWithdrawOnCancel(t *testing.T) {
	h, _ := fakeHolder(t)
	ctx, cancel := context.WithCancel(context.Background())
	id := schemas.NewID()
	go func() { waitRequested(t, h.cfg.Kafka.Brokers, id); cancel() }()
	d, err := h.Request(ctx, request(id, time.Minute))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d.Outcome != Withdrawn || d.By != ByClient || d.EventID == "" {
		t.Fatalf("decision = %+v, want its own withdrawal by client (final, with its event id)", d)
	}
}

func TestInvalidRequest(t *testing.T) {
	h, _ := fakeHolder(t)
	if _, err := h.Request(context.Background(), schemas.ApprovalRequested{}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("err = %v, want ErrInvalidRequest", err)
	}
	if _, err := h.Request(context.Background(), schemas.ApprovalRequested{ApprovalID: "x", Expires: "tomorrow"}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("err = %v, want ErrInvalidRequest", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (&Config{Kafka: kafka.Config{Brokers: []string{"x"}}}).Validate(); err == nil {
		t.Fatal("missing instance accepted")
	}
	if err := (&Config{Instance: "g"}).Validate(); err == nil {
		t.Fatal("missing brokers accepted")
	}
	if err := (&Config{Instance: "g", Kafka: kafka.Config{Brokers: []string{"x"}}}).Validate(); err == nil {
		t.Fatal("missing decision keys accepted")
	}
	c := Config{Instance: "g", Kafka: kafka.Config{Brokers: []string{"x"}}, DecisionKeys: trusted()}
	if err := c.Validate(); err != nil || c.Topic != schemas.TopicApprovals || c.DecisionsTopic != schemas.TopicDecisions {
		t.Fatalf("defaults: %v %+v", err, c)
	}
}

// rejections reads the approval.rejected alerts for id from the topic until want of them are there.
func rejections(t *testing.T, brokers []string, id string, want int) []schemas.ApprovalRejected {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(schemas.TopicApprovals), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []schemas.ApprovalRejected
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d approval.rejected alerts for %s, want %d: %+v", len(out), id, want, out)
		}
		fs.EachRecord(func(r *kgo.Record) {
			e, err := schemas.Parse(r.Value)
			if err != nil || e.Type != schemas.TypeApprovalRejected || e.Session != id {
				return
			}
			var rj schemas.ApprovalRejected
			if e.Decode(&rj) == nil {
				out = append(out, rj)
			}
		})
	}
	return out
}

// TestUnverifiedDecisionsIgnored is the regression test for issue 13.2: anyone who can produce to the
// approvals topic could approve a held statement. Each forged approval below must leave the statement held
// (the signed denial that follows decides) and be recorded as approval.rejected with its reason.
func TestUnverifiedDecisionsIgnored(t *testing.T) {
	h, cl := fakeHolder(t)
	other := schemas.NewID()
	cases := []struct {
		name   string
		forge  func(id, rh string) schemas.ApprovalDecided
		reason string
	}{
		{"unsigned", func(id, rh string) schemas.ApprovalDecided {
			return schemas.ApprovalDecided{ApprovalID: id, Decision: Approved, By: "U9", Request: rh}
		}, schemas.RejectUnsigned},
		{"signed by another key", func(id, rh string) schemas.ApprovalDecided {
			return signed(t, schemas.ApprovalDecided{ApprovalID: id, Decision: Approved, By: "U9"}, rh, otherKey)
		}, schemas.RejectUnknownKey},
		{"valid decision replayed for another approval id", func(id, rh string) schemas.ApprovalDecided {
			d := signed(t, schemas.ApprovalDecided{ApprovalID: other, Decision: Approved, By: "U1"}, rh, approverKey)
			d.ApprovalID = id
			return d
		}, schemas.RejectBadSignature},
		{"signed for another request", func(id, rh string) schemas.ApprovalDecided {
			return signed(t, schemas.ApprovalDecided{ApprovalID: id, Decision: Approved, By: "U1"}, "another-request-hash", approverKey)
		}, schemas.RejectOtherRequest},
		{"withdrawal claimed by an approver", func(id, rh string) schemas.ApprovalDecided {
			return schemas.ApprovalDecided{ApprovalID: id, Decision: Withdrawn, By: "U9", Request: rh}
		}, schemas.RejectUnsigned},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := schemas.NewID()
			go func() {
				rh := waitRequested(t, h.cfg.Kafka.Brokers, id)
				publish(t, cl, id, schemas.TypeApprovalDecided, c.forge(id, rh))
				rejections(t, h.cfg.Kafka.Brokers, id, 1)
				publish(t, cl, id, schemas.TypeApprovalDecided, signed(t, schemas.ApprovalDecided{ApprovalID: id, Decision: Denied, By: "U1", Reason: "real"}, rh, approverKey))
			}()
			d, err := h.Request(context.Background(), request(id, time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if d.Outcome != Denied || d.Reason != "real" {
				t.Fatalf("decision = %+v, want the signed denial (the forged approval must be ignored)", d)
			}
			rj := rejections(t, h.cfg.Kafka.Brokers, id, 1)
			if rj[0].Reason != c.reason || rj[0].EventID == "" {
				t.Fatalf("alert %+v, want reason %s", rj[0], c.reason)
			}
		})
	}
}

// TestWithdrawReasonFromCause: the proxy cancels with ErrClientGone when the client disconnects; the
// withdrawal in the log says so, and a signed approval arriving afterwards changes nothing.
func TestWithdrawReasonFromCause(t *testing.T) {
	h, cl := fakeHolder(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	id := schemas.NewID()
	rh := make(chan string, 1)
	go func() { rh <- waitRequested(t, h.cfg.Kafka.Brokers, id); cancel(ErrClientGone) }()
	d, err := h.Request(ctx, request(id, time.Minute))
	if !errors.Is(err, context.Canceled) || d.Outcome != Withdrawn || d.Reason != "client_gone" || d.EventID == "" {
		t.Fatalf("decision %+v err %v, want its own withdrawal (client_gone), final", d, err)
	}
	publish(t, cl, id, schemas.TypeApprovalDecided, signed(t, schemas.ApprovalDecided{ApprovalID: id, Decision: Approved, By: "U1"}, <-rh, approverKey))
}
