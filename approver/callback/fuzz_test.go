package callback

import (
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
)

func FuzzCallback(f *testing.F) {
	f.Add(slackuitest.Click{ApprovalID: "0193a-b", Approve: true, User: "U1", Reason: "ok"}.Body())
	f.Add(slackuitest.Click{ApprovalID: "x", Approve: false, User: "U2", Channel: "C1", MessageTS: "1.2"}.Body())
	f.Add([]byte("payload=%7B%7D"))
	f.Add([]byte("payload=" + url.QueryEscape(`{"type":"block_actions","actions":[{"action_id":"pangate_approve","value":"<@U1>"}],"user":{"id":"U1"}}`)))
	f.Add([]byte("payload=" + url.QueryEscape(`{"type":"block_actions","state":{"values":{"pangate_reason":{"pangate_reason_input":{"value":7}}}}}`)))
	f.Add([]byte("%zz"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := Parse(body)
		if err != nil {
			return
		}
		if a.Decision != "approved" && a.Decision != "denied" {
			t.Fatalf("decision %q", a.Decision)
		}
		if !idLike(a.ApprovalID) || !idLike(a.User) {
			t.Fatalf("ids not id-shaped: %q %q", a.ApprovalID, a.User)
		}
		if a.Channel != "" && !idLike(a.Channel) {
			t.Fatalf("channel %q", a.Channel)
		}
		if !utf8.ValidString(a.Reason) || utf8.RuneCountInString(a.Reason) > maxReasonLen {
			t.Fatalf("reason not bounded UTF-8: %q", a.Reason)
		}
	})
}
