package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pangate/pangate/gateway/hold"
	"github.com/pangate/pangate/schemas"
)

// blockingHolder waits for the test's decision; it reports each request on asked.
type blockingHolder struct {
	asked  chan schemas.ApprovalRequested
	decide chan hold.Decision
}

func (b blockingHolder) Request(ctx context.Context, req schemas.ApprovalRequested) (hold.Decision, error) {
	b.asked <- req
	select {
	case d := <-b.decide:
		return d, nil
	case <-ctx.Done():
		return hold.Decision{}, ctx.Err()
	}
}

// TestHoldNoticeBeforeDecision: while a held statement waits, the client already has a NoticeResponse
// naming the approval, the rule and the expiry (the holder decides only once the test has read it), in
// both protocols, and after the responses to everything sent before it (never inside them).
func TestHoldNoticeBeforeDecision(t *testing.T) {
	cases := []struct {
		name    string
		send    func(fe *pgproto3.Frontend)
		before  string // message types expected before the notice
		after   string // after the decision, up to ReadyForQuery
		approve bool
	}{
		{name: "simple approved", approve: true, before: "", after: "TDCZ",
			send: func(fe *pgproto3.Frontend) { fe.Send(&pgproto3.Query{String: "SELECT hold_me FROM cards"}) }},
		{name: "simple denied", before: "", after: "EZ",
			send: func(fe *pgproto3.Frontend) { fe.Send(&pgproto3.Query{String: "SELECT hold_me FROM cards"}) }},
		{name: "simple after a pipelined read", approve: true, before: "TDCZ", after: "TDCZ",
			send: func(fe *pgproto3.Frontend) {
				fe.Send(&pgproto3.Query{String: "SELECT pan FROM cards"})
				fe.Send(&pgproto3.Query{String: "SELECT hold_me FROM cards"})
			}},
		{name: "extended approved", approve: true, before: "12", after: "DCZ",
			send: func(fe *pgproto3.Frontend) {
				fe.SendParse(&pgproto3.Parse{Query: "SELECT hold_me FROM cards"})
				fe.SendBind(&pgproto3.Bind{})
				fe.SendExecute(&pgproto3.Execute{})
				fe.SendSync(&pgproto3.Sync{})
			}},
		{name: "extended denied after a pipelined execute", before: "12DC12", after: "EZ",
			send: func(fe *pgproto3.Frontend) {
				fe.SendParse(&pgproto3.Parse{Name: "a", Query: "SELECT pan FROM cards"})
				fe.SendBind(&pgproto3.Bind{PreparedStatement: "a"})
				fe.SendExecute(&pgproto3.Execute{})
				fe.SendParse(&pgproto3.Parse{Query: "SELECT hold_me FROM cards"})
				fe.SendBind(&pgproto3.Bind{})
				fe.SendExecute(&pgproto3.Execute{})
				fe.SendSync(&pgproto3.Sync{})
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessPolicy(t, denyPolicy{})
			bh := blockingHolder{asked: make(chan schemas.ApprovalRequested, 1), decide: make(chan hold.Decision, 1)}
			h.srv.deps.Holder = bh
			fe, _, _ := h.client(t, "good")
			// Runs before the harness's cleanup: a failed test must not leave the session waiting for a
			// decision (the client goroutine is the one that would notice the closed connection).
			t.Cleanup(func() {
				select {
				case bh.decide <- hold.Decision{Outcome: hold.Expired}:
				default:
				}
			})
			untilReady(t, fe)
			tc.send(fe)
			must(t, fe.Flush())

			var types string
			var notice *pgproto3.NoticeResponse
			for notice == nil {
				msg, err := fe.Receive()
				if err != nil {
					t.Fatalf("no notice while the statement is held (after %q): %v", types, err)
				}
				if n, ok := msg.(*pgproto3.NoticeResponse); ok {
					notice = n
					break
				}
				types += string(typeByte(msg))
			}
			if types != tc.before {
				t.Fatalf("before the notice: %q, want %q", types, tc.before)
			}
			// The notice precedes the Holder call; the Holder reports the request and then waits for
			// bh.decide, which only this goroutine sends after the notice was read.
			var req schemas.ApprovalRequested
			select {
			case req = <-bh.asked:
			case <-time.After(10 * time.Second):
				t.Fatal("notice sent but the approval never requested")
			}
			for _, w := range []string{"pangate: statement held for approval " + req.ApprovalID, "by rule risky", "expires " + req.Expires} {
				if !strings.Contains(notice.Message, w) {
					t.Fatalf("notice %q lacks %q", notice.Message, w)
				}
			}
			if notice.Severity != "NOTICE" {
				t.Fatalf("notice severity %q", notice.Severity)
			}

			dec := hold.Decision{Outcome: hold.Denied, By: "UBOB", ByEmail: "bob@acme.example", Reason: "no"}
			if tc.approve {
				dec = hold.Decision{Outcome: hold.Approved, By: "UADA", EventID: "ev-" + req.ApprovalID}
			}
			bh.decide <- dec
			if got, vals := untilReady(t, fe); got != tc.after {
				t.Fatalf("after the decision: %q %q, want %q", got, vals, tc.after)
			}
		})
	}
}
