package approver_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/gateway/hold"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/gobuild"
	"github.com/pangate/pangate/internal/kafka"
	"github.com/pangate/pangate/schemas"
)

const signingSecret = "it-signing-secret-0123456789abcdef"

// binary is the approver built once for the whole package.
var binary string

// decisionKeyFile and decisionPubFile are the approvers' decision signing key (approver keygen), made once
// for the package; every Holder and gateway of the tests trusts decisionPubFile only.
var decisionKeyFile, decisionPubFile string

// trustedKeys loads the decision public key the tests' holders and gateways trust.
func trustedKeys(t testing.TB) schemas.DecisionKeys {
	t.Helper()
	k, err := schemas.LoadDecisionKeys([]string{decisionPubFile})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "pangate-approver-it")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if binary, err = gobuild.Binary("./approver"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	decisionKeyFile, decisionPubFile = filepath.Join(dir, "decision.pem"), filepath.Join(dir, "decision.pub.pem")
	if out, err := exec.Command(binary, "keygen", "-out", decisionKeyFile).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "approver keygen: %v: %s\n", err, out)
		return 1
	}
	return m.Run()
}

// world is one test's topic, fake Slack and gateway-side Holder.
type world struct {
	t       testing.TB
	topic   string // the approvals topic (gateways write)
	decided string // its decisions topic (approvers write), schemas.DecisionsTopicFor(topic)
	brokers []string
	slack   *slackuitest.Server
	holder  *hold.Holder
	dir     string
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return newWorldOn(t, stack.UniqueName(t, "approvals")+"."+schemas.TopicApprovals)
}

// newWorldOn is newWorld on a given approvals topic name (the gateway's prefix + pangate.approvals; the
// approver is configured with that prefix).
func newWorldOn(t testing.TB, topic string) *world {
	t.Helper()
	w := &world{t: t, topic: topic, decided: schemas.DecisionsTopicFor(topic), brokers: stack.Brokers(t), dir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var tcs []schemas.TopicConfig
	for _, c := range schemas.Topics(1) {
		switch c.Name {
		case schemas.TopicApprovals:
			c.Name = w.topic
		case schemas.TopicDecisions:
			c.Name = w.decided
		default:
			continue
		}
		tcs = append(tcs, c)
	}
	if err := schemas.EnsureTopics(ctx, stack.KafkaAdmin(t), tcs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = stack.KafkaAdmin(t).DeleteTopics(ctx, w.topic, w.decided)
	})
	w.slack = slackuitest.New()
	t.Cleanup(w.slack.Close)
	for _, u := range []struct{ id, name, email string }{
		{"UADA", "Ada Approver", "ada@acme.example"},
		{"UBOB", "Bob Approver", "bob@acme.example"},
		{"UREX", "Rex Requester", "rex@acme.example"},
		{"UEVE", "Eve Outsider", "eve@acme.example"},
	} {
		w.slack.AddUser(u.id, u.name, u.email)
	}
	prod := stack.Kafka(t)
	h, err := hold.New(hold.Config{Topic: w.topic, Instance: "gw-it", Version: "test", Kafka: kafka.Config{Brokers: w.brokers},
		FetchMaxWait: 100 * time.Millisecond, DecisionKeys: trustedKeys(t)}, prod)
	if err != nil {
		t.Fatal(err)
	}
	hctx, hcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(hctx) }()
	t.Cleanup(func() { hcancel(); <-done })
	select {
	case <-h.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("holder tail not ready")
	}
	w.holder = h
	return w
}

// approver is one approver process.
type approver struct {
	*stack.Approver
	name string
	url  string
}

// options are the approver settings of the world: its topic, fake Slack, approvers and decision key.
func (w *world) options(name string) stack.ApproverOptions {
	return stack.ApproverOptions{
		Instance:        name,
		Prefix:          strings.TrimSuffix(w.topic, schemas.TopicApprovals),
		Brokers:         w.brokers,
		SlackURL:        w.slack.URL(),
		SigningSecret:   signingSecret,
		Approvers:       []string{"UADA", "UBOB", "UREX"},
		TerminalUsers:   map[string]string{"alice": "alice@acme.example", "rex": "rex@acme.example"},
		ClaimLease:      20 * time.Second,
		ExpiryGrace:     time.Second,
		DecisionKeyFile: decisionKeyFile,
		Dir:             w.dir,
	}
}

// config writes the configuration of approver name (for the terminal commands) and returns its path.
func (w *world) config(t testing.TB, name string) string {
	t.Helper()
	o := w.options(name)
	o.Listen = stack.FreePort(t)
	p := filepath.Join(w.dir, name+".yaml")
	stack.WriteConfig(t, p, stack.ApproverConfig(t, o))
	return p
}

// startApprover starts an approver process and waits until /readyz answers 200; it is killed at cleanup.
func (w *world) startApprover(t testing.TB, name string) *approver {
	t.Helper()
	a := stack.StartApprover(t, w.options(name))
	return &approver{Approver: a, name: name, url: a.URL}
}

// kill sends SIGKILL (no clean shutdown) and waits for the process to go.
func (a *approver) kill() { a.Kill() }

// pending is a Request running in the background.
type pending struct {
	id   string
	done chan struct{}
	d    hold.Decision
	err  error
}

func (w *world) request(ctx context.Context, expires time.Duration, mut func(*schemas.ApprovalRequested)) *pending {
	id := schemas.NewID()
	r := schemas.ApprovalRequested{ApprovalID: id, Session: schemas.NewID(), Target: "payments", Role: "jit_etl",
		Identity:  schemas.Identity{Issuer: "https://issuer.example", Subject: "repo:acme/etl", Claims: map[string]string{"email": "rex@acme.example"}},
		Statement: schemas.Statement{SQL: "DELETE FROM cards WHERE created < now() - interval '7 years'", Kind: "write", Tables: []string{"cards"}, Cardholder: true},
		Rule:      "hold-cardholder-writes", Reason: "write to a cardholder table", Expires: schemas.FormatTime(time.Now().Add(expires))}
	if mut != nil {
		mut(&r)
	}
	p := &pending{id: id, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.d, p.err = w.holder.Request(ctx, r)
	}()
	return p
}

func (p *pending) wait(t testing.TB) (hold.Decision, error) {
	t.Helper()
	select {
	case <-p.done:
		return p.d, p.err
	case <-time.After(60 * time.Second):
		t.Fatalf("Request %s did not return", p.id)
		return hold.Decision{}, nil
	}
}

// post waits for the Slack message of approval id and returns it.
func (w *world) post(t testing.TB, id string) slackuitest.Message {
	t.Helper()
	var got slackuitest.Message
	eventually(t, "slack post for "+id, func() bool {
		for _, m := range w.slack.Posts() {
			if strings.Contains(m.Blocks, `"value":"`+id+`"`) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// posted waits for the Slack message of approval id and for approval.notified in the log, so that later
// events are ordered after it.
func (w *world) posted(t testing.TB, id string) slackuitest.Message {
	t.Helper()
	m := w.post(t, id)
	w.events(t, id, func(e []schemas.Event) bool { return has(kinds(t, e), "notified") })
	return m
}

// postsFor counts chat.postMessage calls for approval id.
func (w *world) postsFor(id string) int {
	n := 0
	for _, m := range w.slack.Posts() {
		if strings.Contains(m.Blocks, `"value":"`+id+`"`) {
			n++
		}
	}
	return n
}

// click sends a signed block_actions callback to a and returns the result header and reply text.
func click(t testing.TB, a *approver, c slackuitest.Click) (string, string) {
	t.Helper()
	if c.Channel == "" {
		c.Channel = "C0APPROVALS"
	}
	body := c.Body()
	req, err := slackuitest.NewRequest(a.url+"/slack/interactions", signingSecret, time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("callback status %d: %s", resp.StatusCode, b)
	}
	return resp.Header.Get("X-Pangate-Result"), string(b)
}

func eventually(t testing.TB, what string, f func() bool) {
	t.Helper()
	stack.Eventually(t, 30*time.Second, what, f)
}

// events reads the approvals topic from the start and returns the events of approval id in log order,
// waiting until until(events) holds.
func (w *world) events(t testing.TB, id string, until func([]schemas.Event) bool) []schemas.Event {
	t.Helper()
	var out []schemas.Event
	eventually(t, "events of "+id, func() bool {
		out = w.readAll(t, id)
		return until(out)
	})
	return out
}

// readAll returns the events of approval id on the approvals and decisions topics, by event time (nothing
// orders the two topics; each topic's own order is kept for equal times).
func (w *world) readAll(t testing.TB, id string) []schemas.Event {
	t.Helper()
	out := append(w.readTopicAll(t, w.topic, id), w.readTopicAll(t, w.decided, id)...)
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := out[i].Timestamp()
		b, _ := out[j].Timestamp()
		return a.Before(b)
	})
	return out
}

func (w *world) readTopicAll(t testing.TB, topic, id string) []schemas.Event {
	t.Helper()
	cl := stack.Kafka(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adminEnds(ctx, t, topic)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int32]int64{}
	var out []schemas.Event
	var mu sync.Mutex
	for !reached(seen, ends) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen[r.Partition] = r.Offset + 1
			if string(r.Key) != id {
				return
			}
			if err := schemas.Validate(r.Value); err != nil {
				t.Errorf("record %d/%d fails its JSON Schema: %v", r.Partition, r.Offset, err)
			}
			e, err := schemas.Parse(r.Value)
			if err != nil || schemas.VerifyEvent(e) != nil {
				t.Errorf("record %d/%d is not a verified event: %v", r.Partition, r.Offset, err)
				return
			}
			mu.Lock()
			out = append(out, e)
			mu.Unlock()
		})
	}
	return out
}

func adminEnds(ctx context.Context, t testing.TB, topic string) (map[int32]int64, error) {
	res, err := stack.KafkaAdmin(t).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	m := map[int32]int64{}
	for _, ps := range res {
		for p, o := range ps {
			m[p] = o.Offset
		}
	}
	return m, nil
}

func reached(seen, ends map[int32]int64) bool {
	for p, e := range ends {
		if e > 0 && seen[p] < e {
			return false
		}
	}
	return true
}

// kinds summarises events as "requested, claim, notified, decided:approved" for order assertions.
func kinds(t testing.TB, evs []schemas.Event) []string {
	t.Helper()
	var out []string
	for _, e := range evs {
		switch e.Type {
		case schemas.TypeApprovalRequested:
			out = append(out, "requested")
		case schemas.TypeApprovalNotified:
			var n schemas.ApprovalNotified
			_ = e.Decode(&n)
			if n.MessageTS == "" {
				out = append(out, "claim")
			} else {
				out = append(out, "notified")
			}
		case schemas.TypeApprovalDecided:
			var d schemas.ApprovalDecided
			_ = e.Decode(&d)
			out = append(out, "decided:"+d.Decision)
		case schemas.TypeApprovalExpired:
			out = append(out, "expired")
		case schemas.TypeApprovalRejected:
			var r schemas.ApprovalRejected
			_ = e.Decode(&r)
			out = append(out, "rejected:"+r.Reason)
		}
	}
	return out
}

func has(evs []string, k string) bool {
	for _, e := range evs {
		if e == k {
			return true
		}
	}
	return false
}
