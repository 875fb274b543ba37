package approver_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/gateway/auth/authtest"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

const gwAudience = "pangate-approver-it"

// gateway is a gateway process with holds enabled and a policy that holds DELETE without WHERE.
type gateway struct {
	*stack.Gateway
	port string
	iss  *authtest.TestIssuer
}

func startGateway(t testing.TB, prefix, role string) *gateway {
	t.Helper()
	policy := fmt.Sprintf(`version: 1
approvals:
  timeout: 2m
  approvers: payments-approvers
grants:
  - name: test-workload
    when: 'true'
    roles: [%s]
rules:
  - name: hold-unbounded-write
    when: '"no_where" in tags'
    action: hold
    reason: "DELETE without WHERE affects every row"
  - name: allow-rest
    when: 'true'
    action: allow
default:
  action: deny
  reason: "not allowed"
`, role)
	g := stack.StartGateway(t, stack.GatewayOptions{
		Instance:     "gw-" + strings.TrimSuffix(prefix, "."),
		Prefix:       prefix,
		Audience:     gwAudience,
		AckTimeout:   5 * time.Second,
		Policy:       policy,
		DecisionKeys: []string{decisionPubFile},
		LogTail:      60,
	})
	return &gateway{Gateway: g, port: g.Port, iss: g.Issuer}
}

func (g *gateway) connect(t testing.TB, role, sub string) *pgx.Conn {
	t.Helper()
	return g.connectNotices(t, role, sub, nil)
}

// connectNotices connects like connect; onNotice (if set) receives the session's NoticeResponses.
func (g *gateway) connectNotices(t testing.TB, role, sub string, onNotice pgconn.NoticeHandler) *pgx.Conn {
	t.Helper()
	tok := g.iss.Mint(authtest.MintRequest{Subject: sub, Audience: []string{gwAudience}, TTLSeconds: 600})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=postgres sslmode=require password=%s", g.port, role, tok))
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnNotice = onNotice
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect through the gateway: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// heldFixture creates a table of 5 rows and a NOLOGIN role that may change it, and a topic prefix.
func heldFixture(t testing.TB) (prefix, table, role string, admin *pgx.Conn) {
	t.Helper()
	prefix = stack.UniqueName(t, "apgw") + "."
	table, role = stack.UniqueName(t, "held"), stack.UniqueName(t, "heldr")
	admin = stack.Postgres(t)
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, note text)`, table),
		fmt.Sprintf(`INSERT INTO %s SELECT g, 'n' || g FROM generate_series(1, 5) g`, table),
		fmt.Sprintf(`CREATE ROLE %s NOLOGIN`, role),
		fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s`, table, role),
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = admin.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s`, table))
		_, _ = admin.Exec(ctx, fmt.Sprintf(`DROP OWNED BY %s`, role))
		_, _ = admin.Exec(ctx, fmt.Sprintf(`DROP ROLE IF EXISTS %s`, role))
	})
	return prefix, table, role, admin
}

// BenchmarkDecisionToResult measures, through the real gateway, the time from sending a signed Approve
// callback to the held statement's result reaching the pgx client (Exec returns after CommandComplete).
//
//	go test ./integration/approver -run '^$' -bench DecisionToResult -benchtime 100x
func BenchmarkDecisionToResult(b *testing.B) {
	prefix, table, role, _ := heldFixture(b)
	w := newWorldOn(b, prefix+schemas.TopicApprovals)
	ap := w.startApprover(b, "ap-bench")
	g := startGateway(b, prefix, role)
	c := g.connect(b, role, "etl-bench")
	seen := map[string]bool{}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(context.Background(), fmt.Sprintf("UPDATE %s SET note = 'x%d'", table, i))
			done <- err
		}()
		var id string
		var msg slackuitest.Message
		eventually(b, "held post", func() bool {
			for _, m := range w.slack.Posts() {
				if sm := buttonValue.FindStringSubmatch(m.Blocks); sm != nil && !seen[sm[1]+sm[2]] {
					id, msg = sm[1]+sm[2], m
					return true
				}
			}
			return false
		})
		seen[id] = true
		w.events(b, id, func(e []schemas.Event) bool { return has(kinds(b, e), "notified") })
		b.StartTimer()
		start := time.Now()
		if r, _ := click(b, ap, slackuitest.Click{ApprovalID: id, Approve: true, User: "UADA", MessageTS: msg.TS}); r != "decided" {
			b.Fatalf("approve: %s", r)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	report(b, "callback_to_result", lat)
}

var buttonValue = regexp.MustCompile(`"action_id":"pangate_approve"[^}]*"value":"([0-9a-f-]+)"|"value":"([0-9a-f-]+)"[^}]*"action_id":"pangate_approve"`)

// heldPost waits for the Slack message of a held statement that mentions table and returns it with the
// approval id from its Approve button.
func (w *world) heldPost(t testing.TB, table string) (slackuitest.Message, string) {
	t.Helper()
	var msg slackuitest.Message
	var id string
	eventually(t, "slack post for a held statement on "+table, func() bool {
		for _, m := range w.slack.Posts() {
			if !strings.Contains(m.Blocks, table) {
				continue
			}
			if sm := buttonValue.FindStringSubmatch(m.Blocks); sm != nil {
				msg, id = m, sm[1]+sm[2]
				return true
			}
		}
		return false
	})
	w.events(t, id, func(e []schemas.Event) bool { return has(kinds(t, e), "notified") })
	return msg, id
}

// TestHeldStatementThroughGateway: a DELETE without WHERE through the real gateway waits for Slack; an
// approval lets it run and return its result; a denial returns an error and the session's audit chain
// records approver and reason.
func TestHeldStatementThroughGateway(t *testing.T) {
	prefix, table, role, admin := heldFixture(t)
	ctx := context.Background()
	w := newWorldOn(t, prefix+schemas.TopicApprovals)
	ap := w.startApprover(t, "ap-gw")
	g := startGateway(t, prefix, role)
	notices := make(chan string, 16)
	c := g.connectNotices(t, role, "etl-job", func(_ *pgconn.PgConn, n *pgconn.Notice) {
		select {
		case notices <- n.Message:
		default:
		}
	})

	// Held, then approved: the statement runs and its result reaches the client.
	type res struct {
		tag string
		err error
	}
	done := make(chan res, 1)
	go func() {
		tag, err := c.Exec(ctx, fmt.Sprintf("UPDATE %s SET note = 'x'", table))
		done <- res{tag.String(), err}
	}()
	msg, id := w.heldPost(t, table)
	select {
	case r := <-done:
		t.Fatalf("held statement returned before any decision: %+v", r)
	default:
	}
	// The client was told, before any decision, that its statement waits and for which approval.
	select {
	case n := <-notices:
		if !strings.Contains(n, "held for approval "+id) || !strings.Contains(n, "expires ") {
			t.Fatalf("notice while held: %q, want it to name approval %s", n, id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no NoticeResponse while the statement was held")
	}
	if r, _ := click(t, ap, slackuitest.Click{ApprovalID: id, Approve: true, User: "UADA", MessageTS: msg.TS}); r != "decided" {
		t.Fatalf("approve: %s", r)
	}
	select {
	case r := <-done:
		if r.err != nil || r.tag != "UPDATE 5" {
			t.Fatalf("approved statement: %q %v, want UPDATE 5", r.tag, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("approved statement did not return")
	}

	// Held, then denied with a reason: the client gets an error and the rows stay.
	go func() {
		tag, err := c.Exec(ctx, fmt.Sprintf("DELETE FROM %s", table))
		done <- res{tag.String(), err}
	}()
	var denyID string
	eventually(t, "second held statement", func() bool {
		for _, m := range w.slack.Posts() {
			if sm := buttonValue.FindStringSubmatch(m.Blocks); sm != nil && sm[1]+sm[2] != id && strings.Contains(m.Blocks, "DELETE") {
				denyID, msg = sm[1]+sm[2], m
				return true
			}
		}
		return false
	})
	w.events(t, denyID, func(e []schemas.Event) bool { return has(kinds(t, e), "notified") })
	if r, _ := click(t, ap, slackuitest.Click{ApprovalID: denyID, Approve: false, User: "UBOB", MessageTS: msg.TS, Reason: "not before the audit"}); r != "decided" {
		t.Fatalf("deny: %s", r)
	}
	select {
	case r := <-done:
		if r.err == nil || !strings.Contains(r.err.Error(), "denied") {
			t.Fatalf("denied statement: %q %v, want an error saying denied", r.tag, r.err)
		}
		t.Logf("client error on denial: %v", r.err)
	case <-time.After(30 * time.Second):
		t.Fatal("denied statement did not return")
	}
	var n int
	if err := admin.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", table)).Scan(&n); err != nil || n != 5 {
		t.Fatalf("rows after the denied DELETE: %d %v", n, err)
	}

	// The session's chain on the audit topic holds approval.requested and the blocked statement with the
	// approver and the reason.
	auditEvents := readTopic(t, prefix+schemas.TopicAudit, func(evs []schemas.Event) bool {
		for _, e := range evs {
			if e.Type == schemas.TypeQueryBlocked {
				return true
			}
		}
		return false
	})
	var requested int
	var blocked *schemas.QueryBlocked
	for _, e := range auditEvents {
		switch e.Type {
		case schemas.TypeApprovalRequested:
			requested++
		case schemas.TypeQueryBlocked:
			var b schemas.QueryBlocked
			if err := e.Decode(&b); err != nil {
				t.Fatal(err)
			}
			blocked = &b
		}
	}
	if requested != 2 || blocked == nil || blocked.Approval == nil {
		t.Fatalf("audit chain: %d approval.requested, blocked %+v", requested, blocked)
	}
	if blocked.Approval.ID != denyID || blocked.Approval.Decision != "denied" || blocked.Approval.By != "UBOB" ||
		blocked.Approval.ByEmail != "bob@acme.example" || blocked.Approval.Reason != "not before the audit" {
		t.Fatalf("query.blocked approval ref %+v", blocked.Approval)
	}
}

// readTopic reads every event of topic from the start until done holds.
func readTopic(t *testing.T, topic string, done func([]schemas.Event) bool) []schemas.Event {
	t.Helper()
	cl := stack.Kafka(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var evs []schemas.Event
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if e, err := schemas.Parse(r.Value); err == nil {
				evs = append(evs, e)
			}
		})
		if done(evs) {
			return evs
		}
	}
	t.Fatalf("events on %s did not arrive within 30s (have %d)", topic, len(evs))
	return nil
}
