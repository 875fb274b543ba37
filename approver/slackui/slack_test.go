package slackui_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/pangate/pangate/approver/slackui"
	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/approver/state"
	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/schemas"
)

// exportApproval is a held COPY of the card table to the client, as the gateway requests it: a generated
// just-in-time role, the database, the granted role and the planner's estimate.
func exportApproval() *state.Approval {
	exp := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	return &state.Approval{ID: "0193-export", Expires: exp, Request: schemas.ApprovalRequested{
		ApprovalID: "0193-export", Session: "sess-2", Target: "payments", Role: "pangate_jit_5f3a9c",
		Database: "cardsdb", RequestedRole: "etl_reader", Granted: []string{"etl_reader"}, ExpectedRows: 20000,
		Identity: schemas.Identity{Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:acme/etl:ref:refs/heads/main",
			Claims: map[string]string{"repository": "acme/etl"}},
		Statement: schemas.Statement{SQL: "COPY cards TO STDOUT", Kind: "copy", Tables: []string{"cards"},
			Columns: []string{"cards.*"}, Cardholder: true, ResultCardholder: []string{"pan", "holder_name"},
			RiskTags: []string{"copy_out"}},
		Rule: "hold-copy-out", Reason: "COPY out of a cardholder table", Expires: schemas.FormatTime(exp), GatewayInst: "gw-1"}}
}

// sent posts blocks to a fake Slack (slack-go's slacktest server) as the service does, and returns the
// blocks as Slack received them, decoded by slack-go.
func sent(t *testing.T, update bool, blocks []slack.Block) (string, slack.Blocks) {
	t.Helper()
	sl := slackuitest.New()
	t.Cleanup(sl.Close)
	api := slack.New("xoxb-test", slack.OptionAPIURL(sl.URL()))
	var raw string
	if update {
		if _, _, _, err := api.UpdateMessageContext(context.Background(), "C1", "1.2", slack.MsgOptionBlocks(blocks...)); err != nil {
			t.Fatal(err)
		}
		raw = sl.Updates()[0].Blocks
	} else {
		if _, _, err := api.PostMessageContext(context.Background(), "C1", slack.MsgOptionBlocks(blocks...)); err != nil {
			t.Fatal(err)
		}
		raw = sl.Posts()[0].Blocks
	}
	var got slack.Blocks
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("blocks Slack received do not decode: %v\n%s", err, raw)
	}
	return raw, got
}

func renderer(t *testing.T) *slackui.Renderer {
	m, err := mask.New(mask.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return slackui.NewRenderer(m)
}

func header(t *testing.T, bs slack.Blocks) string {
	t.Helper()
	for _, b := range bs.BlockSet {
		if h, ok := b.(*slack.HeaderBlock); ok {
			return h.Text.Text
		}
	}
	t.Fatal("no header block")
	return ""
}

// TestClosedMessageHeaderNamesOutcome: the closed message used to keep the header "Approval needed".
func TestClosedMessageHeaderNamesOutcome(t *testing.T) {
	r := renderer(t)
	_, req := sent(t, false, r.Request(exportApproval()))
	if h := header(t, req); !strings.HasPrefix(h, "Approval needed: copy statement on payments") {
		t.Errorf("request header %q", h)
	}
	for _, tc := range []struct{ outcome, want string }{
		{state.Approved, "Approved: "}, {state.Denied, "Denied: "}, {state.Expired, "Expired: "}, {state.Withdrawn, "Withdrawn: "},
	} {
		a := exportApproval()
		a.Outcome, a.ClosedAt = tc.outcome, time.Now()
		a.Decision = schemas.ApprovalDecided{Decision: tc.outcome, By: "U123ABC"}
		_, got := sent(t, true, r.Outcome(a))
		h := header(t, got)
		if !strings.HasPrefix(h, tc.want) || strings.Contains(h, "Approval needed") {
			t.Errorf("%s: closed header %q, want it to start with %q", tc.outcome, h, tc.want)
		}
	}
}

// TestTargetShowsGrantedRoleAndDatabase: the message showed the generated just-in-time role name.
func TestTargetShowsGrantedRoleAndDatabase(t *testing.T) {
	raw, _ := sent(t, false, renderer(t).Request(exportApproval()))
	for _, want := range []string{"database `cardsdb`", "as `etl_reader`", "expected rows ≈ 20000 (planner estimate)",
		"tagged columns: pan, holder_name", "exports cardholder data", "columns: cards.*"} {
		if !strings.Contains(raw, want) {
			t.Errorf("message lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(raw, "pangate_jit_5f3a9c") {
		t.Errorf("message shows the just-in-time role name:\n%s", raw)
	}

	a := exportApproval()
	a.Request.ExpectedRows = 0
	a.Request.Statement.Cardholder, a.Request.Statement.ResultCardholder = false, nil
	raw, _ = sent(t, false, renderer(t).Request(a))
	for _, want := range []string{"expected rows: unknown", "cardholder data: no"} {
		if !strings.Contains(raw, want) {
			t.Errorf("message lacks %q:\n%s", want, raw)
		}
	}
}

func approveButton(t *testing.T, bs slack.Blocks) *slack.ButtonBlockElement {
	t.Helper()
	for _, b := range bs.BlockSet {
		if ab, ok := b.(*slack.ActionBlock); ok {
			for _, e := range ab.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok && btn.ActionID == slackui.ActionApprove {
					return btn
				}
			}
		}
	}
	t.Fatal("no Approve button")
	return nil
}

// TestCardholderExportNeedsConfirmation: approving a card-number export had no confirmation dialog.
func TestCardholderExportNeedsConfirmation(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*schemas.Statement)
		confirm bool
	}{
		{"copy out of cardholder data", func(*schemas.Statement) {}, true},
		{"copy (query) to of cardholder data", func(st *schemas.Statement) {
			st.SQL, st.RiskTags = "COPY (SELECT pan FROM cards) TO STDOUT", []string{"copy_out", "no_where"}
		}, true},
		{"copy out without cardholder data", func(st *schemas.Statement) { st.Cardholder = false }, false},
		{"cardholder read", func(st *schemas.Statement) { st.Kind, st.RiskTags = "read", nil }, false},
		{"copy in to cardholder table", func(st *schemas.Statement) { st.RiskTags = []string{"copy_in"} }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := exportApproval()
			tc.edit(&a.Request.Statement)
			_, bs := sent(t, false, renderer(t).Request(a))
			btn := approveButton(t, bs)
			if got := btn.Confirm != nil; got != tc.confirm {
				t.Fatalf("confirm dialog present = %v, want %v", got, tc.confirm)
			}
			if !tc.confirm {
				return
			}
			if btn.Confirm.Title == nil || btn.Confirm.Confirm == nil || btn.Confirm.Deny == nil || btn.Confirm.Style != slack.StyleDanger {
				t.Fatalf("incomplete confirm dialog: %+v", btn.Confirm)
			}
			if txt := btn.Confirm.Text.Text; !strings.Contains(txt, "about 20000 rows") || !strings.Contains(txt, "cards") || len([]rune(txt)) > 300 {
				t.Errorf("confirm text %q", txt)
			}
		})
	}
}
