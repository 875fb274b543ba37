package multi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/gateway/auth/authtest"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/launch"
	"github.com/pangate/pangate/schemas"
)

const (
	audience      = "pangate-multi-it"
	signingSecret = "multi-it-signing-secret-0123456789"
	channel       = "C0APPROVALS"
)

// proc is what multi needs of every service process: its name for messages, SIGKILL, SIGTERM and
// whether it still runs (integration/stack's launcher underneath).
type proc struct {
	name string
	p    *launch.Proc
	done <-chan struct{}
}

func newProc(name string, p *launch.Proc) proc { return proc{name: name, p: p, done: p.Done()} }

// kill sends SIGKILL and waits until the process is gone.
func (p proc) kill() { p.p.Kill() }

// stop sends SIGTERM and waits for a clean exit.
func (p proc) stop(t *testing.T) {
	t.Helper()
	if !p.p.Alive() {
		t.Errorf("%s had exited before it was asked to stop", p.name)
		return
	}
	if !p.p.Stop(45 * time.Second) {
		t.Errorf("%s did not stop within 45s of SIGTERM", p.name)
	}
}

func (p proc) alive() bool { return p.p.Alive() }

// world is the shared part of one deployment: topics, database, fixture tables, issuer, fake Slack.
type world struct {
	t        *testing.T
	ep       stack.Endpoints
	brokers  []string
	prefix   string // topic prefix, ends with "."
	db       string // ClickHouse database
	group    string // indexer consumer group
	role     string // NOLOGIN role the gateways grant to every session
	load     string // table the load writes
	held     []string
	iss      *authtest.TestIssuer
	slack    *slackuitest.Server
	dir      string
	policy   string
	admin    *pgx.Conn
	kafkaCli *kgo.Client
}

func newWorld(t *testing.T, heldTables int) *world {
	t.Helper()
	// Brokers and ClickHouse wait while another test (in any package) has stopped the service.
	t0 := time.Now()
	w := &world{t: t, ep: stack.Env(t), brokers: stack.Brokers(t), dir: t.TempDir()}
	// The approvers sign decisions with this key; the gateways trust its public half only.
	if _, err := schemas.WriteKeyPair(filepath.Join(w.dir, "decision.pem"), filepath.Join(w.dir, "decision.pub.pem")); err != nil {
		t.Fatal(err)
	}
	w.prefix = stack.UniqueName(t, "multi") + "."
	w.db = stack.UniqueName(t, "multi")
	w.group = stack.UniqueName(t, "multig")
	w.role = stack.UniqueName(t, "multir")
	w.load = stack.UniqueName(t, "multil")
	w.kafkaCli = stack.Kafka(t)
	_ = stack.ClickHouse(t) // holds ClickHouse for this test (see integration/stack)
	t.Logf("the stack's Kafka and ClickHouse held after %s", time.Since(t0).Round(time.Millisecond))

	// Topics first, with leaders, so no process races their creation.
	stack.ServiceTopics(t, w.prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// PostgreSQL: one table for the load, one small table per held statement (so each held UPDATE's
	// effect is visible on its own), and the role sessions are granted.
	w.admin = stack.Postgres(t)
	stmts := []string{
		fmt.Sprintf(`CREATE TABLE %s (id bigint PRIMARY KEY, worker int, note text)`, w.load),
		fmt.Sprintf(`CREATE ROLE %s NOLOGIN`, w.role),
		fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s`, w.load, w.role),
	}
	for i := 0; i < heldTables; i++ {
		name := fmt.Sprintf("%s_h%d", w.load, i)
		w.held = append(w.held, name)
		stmts = append(stmts,
			fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, note text)`, name),
			fmt.Sprintf(`INSERT INTO %s SELECT g, 'before' FROM generate_series(1, 3) g`, name),
			fmt.Sprintf(`GRANT SELECT, UPDATE ON %s TO %s`, name, w.role))
	}
	for _, q := range stmts {
		if _, err := w.admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(w.dropPostgres)

	w.iss = authtest.StartIssuerProcess(t)
	w.slack = slackuitest.New()
	t.Cleanup(w.slack.Close)
	w.slack.AddUser("UADA", "Ada Approver", "ada@acme.example")
	w.slack.AddUser("UBOB", "Bob Approver", "bob@acme.example")

	// Statements without WHERE wait for a human; everything else through the gateway runs.
	w.policy = filepath.Join(w.dir, "policy.yaml")
	policy := fmt.Sprintf(`version: 1
approvals:
  timeout: 2m
  approvers: payments-approvers
grants:
  - name: multi-workload
    when: 'true'
    roles: [%s]
rules:
  - name: hold-unbounded-write
    when: '"no_where" in tags'
    action: hold
    reason: "UPDATE without WHERE affects every row"
  - name: allow-rest
    when: 'true'
    action: allow
default:
  action: deny
  reason: "not allowed"
`, w.role)
	if err := os.WriteFile(w.policy, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// dropPostgres removes the fixture, including JIT login roles a killed gateway could not drop (they are
// members of w.role).
func (w *world) dropPostgres() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stack.DropJITMembers(ctx, w.admin, w.role)
	_, _ = w.admin.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s`, w.load))
	for _, h := range w.held {
		_, _ = w.admin.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s`, h))
	}
	_, _ = w.admin.Exec(ctx, fmt.Sprintf(`DROP OWNED BY %s`, w.role))
	_, _ = w.admin.Exec(ctx, fmt.Sprintf(`DROP ROLE IF EXISTS %s`, w.role))
}

// gateway is one gateway process.
type gateway struct {
	proc
	g        *stack.Gateway
	instance string
	port     string
}

// launchGateway runs a gateway with holds enabled, on the world's topics, issuer and policy; waitReady
// waits until it serves. Launching several processes before waiting lets them start in parallel.
func (w *world) launchGateway(t *testing.T, instance string) *gateway {
	t.Helper()
	g := stack.StartGateway(t, stack.GatewayOptions{
		Instance: instance,
		Prefix:   w.prefix,
		Brokers:  w.brokers,
		Issuer:   w.iss,
		Audience: audience,
		// ack_timeout is generous: the CI machine is shared and a slow acknowledgement would fail
		// statements closed (correctly, but not what this test is about).
		AckTimeout:     15 * time.Second,
		StartupTimeout: 20 * time.Second,
		PolicyFile:     w.policy,
		DecisionKeys:   []string{filepath.Join(w.dir, "decision.pub.pem")},
		LogLevel:       "info",
		LogTail:        40,
		NoWait:         true,
	})
	return &gateway{proc: newProc(instance, g.Proc), g: g, instance: instance}
}

func (g *gateway) waitReady(t *testing.T) {
	t.Helper()
	g.g.WaitReady()
	g.port = g.g.Port
}

// connect opens a pgx connection through g for subject.
func (w *world) connect(ctx context.Context, g *gateway, sub string) (*pgx.Conn, error) {
	tok := w.iss.Mint(authtest.MintRequest{Subject: sub, Audience: []string{audience}, TTLSeconds: 600})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return pgx.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=postgres sslmode=require password=%s",
		g.port, w.role, tok))
}

// approver is one approver process.
type approver struct {
	proc
	a   *stack.Approver
	url string
	// killOnPost, when set, makes the log reader SIGKILL the process as soon as it logs that it posted an
	// approval whose id is not in the set: after chat.postMessage, before (or while) approval.notified is
	// recorded.
	killOnPost atomic.Pointer[map[string]bool]
}

// launchApprover runs an approver on the world's approvals topic with a short claim lease, so a survivor
// takes over a dead approver's claims quickly; waitReady waits until /readyz answers 200.
func (w *world) launchApprover(t *testing.T, instance string) *approver {
	t.Helper()
	a := &approver{}
	var cmd atomic.Pointer[launch.Proc]
	sa := stack.StartApprover(t, stack.ApproverOptions{
		Instance:        instance,
		Prefix:          w.prefix,
		Brokers:         w.brokers,
		SlackURL:        w.slack.URL(),
		SigningSecret:   signingSecret,
		Channel:         channel,
		Approvers:       []string{"UADA", "UBOB"},
		ClaimLease:      3 * time.Second,
		ExpiryGrace:     time.Second,
		DecisionKeyFile: filepath.Join(w.dir, "decision.pem"),
		Dir:             w.dir,
		NoWait:          true,
		OnLine: func(line string) {
			known := a.killOnPost.Load()
			if known == nil || !strings.Contains(line, `"msg":"posted approval to slack"`) {
				return
			}
			var l struct{ Approval string }
			if p := cmd.Load(); p != nil && json.Unmarshal([]byte(line), &l) == nil && !(*known)[l.Approval] {
				_ = p.Cmd.Process.Signal(syscall.SIGKILL) // not Kill: that waits for this reader
			}
		},
	})
	cmd.Store(sa.Proc)
	a.proc, a.a, a.url = newProc(instance, sa.Proc), sa, sa.URL
	return a
}

func (a *approver) waitReady(t *testing.T) {
	t.Helper()
	a.a.WaitReady()
}

// click sends a signed button click to a and returns the approver's result ("decided", "unknown", …).
func click(a *approver, c slackuitest.Click) (string, error) {
	c.Channel = channel
	req, err := slackuitest.NewRequest(a.url+"/slack/interactions", signingSecret, time.Now(), c.Body())
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("callback status %d: %s", resp.StatusCode, b)
	}
	return resp.Header.Get("X-Pangate-Result"), nil
}

// startIndexer runs an indexer in the world's consumer group, writing to the world's database as the
// operator (the stack's indexer user may only use database pangate). The session timeout is the broker's
// minimum, so the survivor gets a killed member's partitions soon.
func (w *world) startIndexer(t *testing.T, instance string) *indexer {
	t.Helper()
	ix := &indexer{}
	var cmd atomic.Pointer[launch.Proc]
	si := stack.StartIndexer(t, stack.IndexerOptions{
		Instance:       instance,
		Prefix:         w.prefix,
		Brokers:        w.brokers,
		Group:          w.group,
		Database:       w.db,
		SessionTimeout: 6 * time.Second,
		FlushInterval:  200 * time.Millisecond,
		BatchSize:      500,
		LogLevel:       "debug", // for "batch written"
		OnLine: func(line string) {
			if !strings.Contains(line, `"msg":"batch written"`) {
				return
			}
			var b struct{ Records int64 }
			if json.Unmarshal([]byte(line), &b) == nil {
				ix.records.Add(b.Records)
			}
			if p := cmd.Load(); p != nil && ix.killOnWrite.Load() {
				// As close as a test can get to the window between the ClickHouse insert and the offset
				// commit: the records of this batch are then written again by the member that takes over.
				_ = p.Cmd.Process.Signal(syscall.SIGKILL)
			}
		},
	})
	cmd.Store(si.Proc)
	ix.proc = newProc(instance, si.Proc)
	return ix
}

// indexer is one indexer process.
type indexer struct {
	proc
	// killOnWrite makes the log reader SIGKILL the process as soon as it logs "batch written".
	killOnWrite atomic.Bool
	records     atomic.Int64 // Kafka records written to ClickHouse, summed from "batch written"
}

// buttonValue finds the approval id in the Approve button of a posted message.
var buttonValue = regexp.MustCompile(`"action_id":"pangate_approve"[^}]*"value":"([0-9a-f-]+)"|"value":"([0-9a-f-]+)"[^}]*"action_id":"pangate_approve"`)

// heldPost returns the first Slack post mentioning table, with the approval id of its Approve button.
func (w *world) heldPost(table string) (slackuitest.Message, string, bool) {
	for _, m := range w.slack.Posts() {
		if !strings.Contains(m.Blocks, table) {
			continue
		}
		if sm := buttonValue.FindStringSubmatch(m.Blocks); sm != nil {
			return m, sm[1] + sm[2], true
		}
	}
	return slackuitest.Message{}, "", false
}

// postsFor counts chat.postMessage calls carrying approval id.
func (w *world) postsFor(id string) int {
	n := 0
	for _, m := range w.slack.Posts() {
		if strings.Contains(m.Blocks, `"value":"`+id+`"`) {
			n++
		}
	}
	return n
}

// record is one Kafka record of the world's topics, parsed.
type record struct {
	topic string
	ev    schemas.Event
}

// readTopics reads both topics from the start up to their current end offsets, in log order per partition.
func (w *world) readTopics(t *testing.T, names ...string) []record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var topics []string
	for _, n := range names {
		topics = append(topics, w.prefix+n)
	}
	ends, err := stack.KafkaAdmin(t).ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatalf("end offsets: %v", err)
	}
	want := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			if want[o.Topic] == nil {
				want[o.Topic] = map[int32]int64{}
			}
			want[o.Topic][o.Partition] = o.Offset
		}
	})
	cl := stack.Kafka(t, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	seen := map[string]map[int32]int64{}
	done := func() bool {
		for tp, ps := range want {
			for p, end := range ps {
				if seen[tp][p] < end {
					return false
				}
			}
		}
		return true
	}
	var out []record
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading the topics to their end: %v", ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if seen[r.Topic] == nil {
				seen[r.Topic] = map[int32]int64{}
			}
			seen[r.Topic][r.Partition] = r.Offset + 1
			if err := schemas.Validate(r.Value); err != nil {
				t.Errorf("%s/%d/%d fails its JSON Schema: %v", r.Topic, r.Partition, r.Offset, err)
			}
			e, err := schemas.Parse(r.Value)
			if err != nil {
				t.Errorf("%s/%d/%d is not an event: %v", r.Topic, r.Partition, r.Offset, err)
				return
			}
			out = append(out, record{topic: strings.TrimPrefix(r.Topic, w.prefix), ev: e})
		})
	}
	return out
}

// notified waits until the decisions topic records that approval id was posted (approval.notified with a
// message; approvers write it there, docs/approvals.md "Topics") and returns the instance that recorded it.
func (w *world) notified(t *testing.T, id string) string {
	t.Helper()
	var by string
	eventually(t, 60*time.Second, "approval.notified of "+id, func() bool {
		for _, r := range w.readTopics(t, schemas.TopicDecisions) {
			var n schemas.ApprovalNotified
			if r.ev.Type == schemas.TypeApprovalNotified && r.ev.Decode(&n) == nil && n.ApprovalID == id && n.MessageTS != "" {
				by = r.ev.Gateway.Instance
				return true
			}
		}
		return false
	})
	return by
}

// eventually polls f until it holds, failing the test after timeout.
var eventually = stack.Eventually
