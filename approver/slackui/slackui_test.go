package slackui

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/pangate/pangate/approver/state"
	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/schemas"
)

func TestEscape(t *testing.T) {
	cases := map[string]string{
		"plain":                         "plain",
		"a & b":                         "a &amp; b",
		"<!channel> <@U1> <http://x|y>": "&lt;!channel&gt; &lt;@U1&gt; &lt;http://x|y&gt;",
		"```; DROP```":                  "ˋˋˋ; DROPˋˋˋ",
		"&amp;":                         "&amp;amp;",
	}
	for in, want := range cases {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeMaxNeverCutsEntity(t *testing.T) {
	s := strings.Repeat("<&>", 2000)
	got := escapeMax(s, 100)
	if len(got) > 100 {
		t.Fatalf("len %d > 100", len(got))
	}
	body := strings.TrimSuffix(got, "…")
	if strings.Count(body, "&") != strings.Count(body, ";") {
		t.Fatalf("entity cut: %q", got)
	}
}

func approval() *state.Approval {
	exp := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	return &state.Approval{
		ID: "0193-approval",
		Request: schemas.ApprovalRequested{
			ApprovalID: "0193-approval", Session: "sess-1", Target: "payments", Role: "jit_etl_1",
			Identity: schemas.Identity{Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:acme/etl:ref:refs/heads/main",
				Claims: map[string]string{"repository": "acme/etl", "workflow": "<!here> nightly"}},
			Statement: schemas.Statement{SQL: "UPDATE cards SET note = '```<@U999>' WHERE pan = '411111******1111' AND a < b && c > d",
				Kind: "write", Tables: []string{"public.cards"}, Cardholder: true, RiskTags: []string{"no_where"}, RiskScore: 70},
			Rule: "hold-writes", Reason: "writes to cardholder table", Expires: schemas.FormatTime(exp), GatewayInst: "gw-1",
		},
		Expires: exp,
	}
}

func render(t *testing.T, blocks []slack.Block) string {
	t.Helper()
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // show the text as Slack receives it
	if err := enc.Encode(blocks); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func newRenderer(t *testing.T) *Renderer {
	m, err := mask.New(mask.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return NewRenderer(m)
}

func TestRequestBlocks(t *testing.T) {
	r := newRenderer(t)
	js := render(t, r.Request(approval()))
	var doc []map[string]any
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatal(err)
	}
	// Hostile text is escaped: no live mention, link or code fence survives.
	for _, bad := range []string{"<@U999>", "<!here>", "```<", "a < b", "&& c"} {
		if strings.Contains(js, bad) {
			t.Errorf("rendered blocks contain unescaped %q", bad)
		}
	}
	for _, want := range []string{
		"&lt;@U999&gt;", "&lt;!here&gt; nightly", "a &lt; b &amp;&amp; c &gt; d", // escaped
		"repo:acme/etl:ref:refs/heads/main", "acme/etl", "payments", "jit_etl_1", // who, workload, target
		"writes to cardholder table", "rule hold-writes", "touches cardholder data", "risk score 70", // why
		"<!date^" + "1795780800", // expiry as a Slack date
		`"action_id":"pangate_approve"`, `"action_id":"pangate_deny"`, `"value":"0193-approval"`,
		`"block_id":"pangate_reason"`, `"action_id":"pangate_reason_input"`,
	} {
		if !strings.Contains(js, want) {
			t.Errorf("rendered blocks lack %q\n%s", want, js)
		}
	}
	// The SQL sits in one code block with fences only at its ends.
	found := false
	for _, b := range r.Request(approval()) {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil && strings.HasPrefix(s.Text.Text, "```") {
			found = true
			if strings.Count(s.Text.Text, "```") != 2 || !strings.HasSuffix(s.Text.Text, "```") {
				t.Fatalf("code block broken: %q", s.Text.Text)
			}
		}
	}
	if !found {
		t.Fatal("no SQL code block")
	}
}

func TestLongSQLIsCut(t *testing.T) {
	a := approval()
	a.Request.Statement.SQL = "SELECT " + strings.Repeat("<x>,", 5000)
	for _, b := range newRenderer(t).Request(a) {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil && len(s.Text.Text) > 3000 {
			t.Fatalf("section text of %d bytes exceeds Slack's 3000", len(s.Text.Text))
		}
	}
}

func TestOutcomeBlocksHaveNoButtons(t *testing.T) {
	r := newRenderer(t)
	for _, tc := range []struct {
		outcome, by, reason, want string
	}{
		{state.Approved, "U123ABC", "", "*Approved* by <@U123ABC>"},
		{state.Denied, "U123ABC", "not on a <b>friday</b>", "&lt;b&gt;friday&lt;/b&gt;"},
		{state.Denied, "terminal:alice", "no", "terminal:alice"},
		{state.Expired, "", "", "*Expired*"},
		{state.Withdrawn, "client", "", "*Withdrawn*"},
	} {
		a := approval()
		a.Outcome = tc.outcome
		a.Decision = schemas.ApprovalDecided{ApprovalID: a.ID, Decision: tc.outcome, By: tc.by, Reason: tc.reason}
		a.ClosedAt = time.Now()
		js := render(t, r.Outcome(a))
		if strings.Contains(js, "pangate_approve") || strings.Contains(js, "pangate_reason_input") {
			t.Errorf("%s: outcome message still has buttons or input", tc.outcome)
		}
		if !strings.Contains(js, tc.want) {
			t.Errorf("%s: outcome lacks %q: %s", tc.outcome, tc.want, js)
		}
	}
}

// TestNoFullPANInMessages: even if a full PAN reached the approver (the gateway masks SQL first), no
// message to Slack carries it (docs/invariants.md, invariant 2).
func TestNoFullPANInMessages(t *testing.T) {
	const pan = "4111111111111111"
	a := approval()
	a.Request.Statement.SQL = "SELECT * FROM cards WHERE pan = '" + pan + "'"
	a.Request.Reason = "looked up " + pan
	a.Request.Identity.Claims["note"] = pan
	a.Outcome = state.Denied
	a.Decision = schemas.ApprovalDecided{By: "U1", Reason: "card 4111 1111 1111 1111 is a test card"}
	r := newRenderer(t)
	for name, s := range map[string]string{
		"request":  render(t, r.Request(a)),
		"outcome":  render(t, r.Outcome(a)),
		"fallback": r.Fallback(a) + r.OutcomeText(a),
	} {
		if strings.Contains(s, pan) || strings.Contains(s, "4111 1111 1111 1111") {
			t.Errorf("%s message contains a full PAN", name)
		}
	}
	if !strings.Contains(render(t, r.Request(a)), "411111******1111") {
		t.Error("masked PAN not shown as first six + last four")
	}
}
