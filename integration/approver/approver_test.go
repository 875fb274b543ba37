// Package approver_test runs the approver as a separate process against the real Kafka broker of the local
// stack and a fake Slack (slacktest), with the gateway side played by gateway/hold.
package approver_test

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/gateway/hold"
	"github.com/pangate/pangate/schemas"
)

func TestApproveViaSlack(t *testing.T) {
	w := newWorld(t)
	a := w.startApprover(t, "ap1")
	p := w.request(context.Background(), 5*time.Minute, nil)
	msg := w.posted(t, p.id)
	if !strings.Contains(msg.Blocks, "DELETE FROM cards") || msg.Channel != "C0APPROVALS" {
		t.Fatalf("posted message lacks the SQL or went elsewhere: %+v", msg)
	}
	res, _ := click(t, a, slackuitest.Click{ApprovalID: p.id, Approve: true, User: "UADA", UserName: "ada", MessageTS: msg.TS})
	if res != "decided" {
		t.Fatalf("callback result %q", res)
	}
	d, err := p.wait(t)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Approved() || d.By != "UADA" || d.ByEmail != "ada@acme.example" || d.ByName != "Ada Approver" {
		t.Fatalf("decision %+v", d)
	}
	evs := w.events(t, p.id, func(e []schemas.Event) bool { return len(e) >= 4 })
	if got, want := kinds(t, evs), []string{"requested", "claim", "notified", "decided:approved"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	// A second click after the decision: polite refusal, no new event.
	res, text := click(t, a, slackuitest.Click{ApprovalID: p.id, Approve: false, User: "UBOB", MessageTS: msg.TS})
	if res != "already_decided" || !strings.Contains(text, "Already approved by Ada Approver") {
		t.Fatalf("late click: %s %q", res, text)
	}
	eventually(t, "message updated to the outcome", func() bool {
		for _, u := range w.slack.Updates() {
			if u.TS == msg.TS && strings.Contains(u.Blocks, "Approved") && !strings.Contains(u.Blocks, "pangate_approve") {
				return true
			}
		}
		return false
	})
	if n := len(w.readAll(t, p.id)); n != 4 {
		t.Fatalf("%d events after the late click, want 4", n)
	}
	// Operations endpoints.
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "ready",
		"/metrics": `pangate_approver_decision_latency_seconds_count{outcome="approved"} 1`,
	} {
		resp, err := http.Get(a.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("GET %s: %d, want %q in the body", path, resp.StatusCode, want)
		}
	}
	eventually(t, "pending gauge back to 0", func() bool {
		resp, err := http.Get(a.url + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "pangate_approver_pending 0")
	})
}

func TestForgedCallbackRefused(t *testing.T) {
	w := newWorld(t)
	a := w.startApprover(t, "ap1")
	p := w.request(context.Background(), 5*time.Minute, nil)
	msg := w.posted(t, p.id)
	body := slackuitest.Click{ApprovalID: p.id, Approve: true, User: "UADA", Channel: "C0APPROVALS", MessageTS: msg.TS}.Body()
	for name, req := range map[string]func() (*http.Request, error){
		"wrong secret": func() (*http.Request, error) {
			return slackuitest.NewRequest(a.url+"/slack/interactions", "not-the-signing-secret-at-all", time.Now(), body)
		},
		"stale": func() (*http.Request, error) {
			return slackuitest.NewRequest(a.url+"/slack/interactions", signingSecret, time.Now().Add(-6*time.Minute), body)
		},
	} {
		r, err := req()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: status %d, want 401", name, resp.StatusCode)
		}
	}
	// Nothing was decided: the request is still waiting, and the log has no decision.
	select {
	case <-p.done:
		t.Fatalf("Request returned after forged callbacks: %+v", p.d)
	default:
	}
	if got := kinds(t, w.readAll(t, p.id)); !slices.Equal(got, []string{"requested", "claim", "notified"}) {
		t.Fatalf("events after forged callbacks: %v", got)
	}
}

func TestDenyWithReasonAndRefusals(t *testing.T) {
	w := newWorld(t)
	a := w.startApprover(t, "ap1")
	p := w.request(context.Background(), 5*time.Minute, nil)
	msg := w.posted(t, p.id)
	// Refusals first: outsider, requester approving their own request. Neither publishes anything.
	if res, _ := click(t, a, slackuitest.Click{ApprovalID: p.id, Approve: true, User: "UEVE", MessageTS: msg.TS}); res != "unauthorised" {
		t.Fatalf("outsider: %s", res)
	}
	if res, _ := click(t, a, slackuitest.Click{ApprovalID: p.id, Approve: true, User: "UREX", MessageTS: msg.TS}); res != "self_approval" {
		t.Fatalf("requester: %s", res)
	}
	res, _ := click(t, a, slackuitest.Click{ApprovalID: p.id, Approve: false, User: "UBOB", MessageTS: msg.TS, Reason: "not during the freeze"})
	if res != "decided" {
		t.Fatalf("deny: %s", res)
	}
	d, err := p.wait(t)
	if err != nil {
		t.Fatal(err)
	}
	if d.Outcome != hold.Denied || d.By != "UBOB" || d.Reason != "not during the freeze" {
		t.Fatalf("decision %+v", d)
	}
	evs := w.events(t, p.id, func(e []schemas.Event) bool { return len(e) >= 4 })
	if got, want := kinds(t, evs), []string{"requested", "claim", "notified", "decided:denied"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestExpiryAndWithdraw(t *testing.T) {
	w := newWorld(t)
	w.startApprover(t, "ap1")
	exp := w.request(context.Background(), 3*time.Second, nil)
	ctx, cancel := context.WithCancel(context.Background())
	wd := w.request(ctx, 5*time.Minute, nil)
	expMsg := w.post(t, exp.id)
	w.posted(t, wd.id)
	cancel() // the client goes away while waiting

	d, err := exp.wait(t)
	if err != nil || d.Outcome != hold.Expired {
		t.Fatalf("expiry: %+v %v", d, err)
	}
	d, err = wd.wait(t)
	if err == nil || d.Outcome != hold.Withdrawn || d.By != hold.ByClient {
		t.Fatalf("withdraw: %+v %v", d, err)
	}
	evs := w.events(t, exp.id, func(e []schemas.Event) bool { return has(kinds(t, e), "expired") })
	if got := kinds(t, evs); !slices.Equal(got[:4], []string{"requested", "claim", "notified", "expired"}) {
		t.Fatalf("expiry events %v", got)
	}
	evs = w.events(t, wd.id, func(e []schemas.Event) bool { return has(kinds(t, e), "decided:withdrawn") })
	if got := kinds(t, evs); !slices.Equal(got, []string{"requested", "claim", "notified", "decided:withdrawn"}) {
		t.Fatalf("withdraw events %v", got)
	}
	eventually(t, "expired message updated", func() bool {
		for _, u := range w.slack.Updates() {
			if u.TS == expMsg.TS && strings.Contains(u.Blocks, "Expired") {
				return true
			}
		}
		return false
	})
}

func TestKillRestartNeverPostsTwice(t *testing.T) {
	w := newWorld(t)
	a := w.startApprover(t, "ap1")
	var ps []*pending
	for range 3 {
		ps = append(ps, w.request(context.Background(), 5*time.Minute, nil))
	}
	msgs := map[string]slackuitest.Message{}
	for _, p := range ps {
		msgs[p.id] = w.posted(t, p.id)
	}
	a.kill() // SIGKILL with three approvals pending
	b := w.startApprover(t, "ap1")
	for i, p := range ps {
		approve := i != 1
		res, _ := click(t, b, slackuitest.Click{ApprovalID: p.id, Approve: approve, User: "UADA", MessageTS: msgs[p.id].TS, Reason: "ok"})
		if res != "decided" {
			t.Fatalf("after restart, click on %s: %s", p.id, res)
		}
		d, err := p.wait(t)
		if err != nil || d.Approved() != approve || d.By != "UADA" {
			t.Fatalf("after restart, decision %+v %v", d, err)
		}
	}
	for _, p := range ps {
		if n := w.postsFor(p.id); n != 1 {
			t.Fatalf("approval %s posted %d times", p.id, n)
		}
		got := kinds(t, w.readAll(t, p.id))
		if strings.Count(strings.Join(got, ","), "claim") != 1 || strings.Count(strings.Join(got, ","), "notified") != 1 {
			t.Fatalf("events of %s after restart: %v", p.id, got)
		}
	}
}

func TestTwoInstances(t *testing.T) {
	w := newWorld(t)
	a, b := w.startApprover(t, "ap-a"), w.startApprover(t, "ap-b")
	var ps []*pending
	for range 4 {
		ps = append(ps, w.request(context.Background(), 5*time.Minute, nil))
	}
	for _, p := range ps {
		msg := w.posted(t, p.id)
		// Both instances get a click for the same approval at once: exactly one decision counts.
		var wg sync.WaitGroup
		results := make([]string, 2)
		for i, ap := range []*approver{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], _ = click(t, ap, slackuitest.Click{ApprovalID: p.id, Approve: i == 0, User: []string{"UADA", "UBOB"}[i], MessageTS: msg.TS})
			}()
		}
		wg.Wait()
		decided, refused := 0, 0
		for _, r := range results {
			switch r {
			case "decided":
				decided++
			case "already_decided", "lost_race":
				refused++
			}
		}
		if decided != 1 || refused != 1 {
			t.Fatalf("concurrent clicks on %s: %v", p.id, results)
		}
		d, err := p.wait(t)
		if err != nil {
			t.Fatal(err)
		}
		// The decisions topic's own order decides (approver/state): readAll orders the two topics by event
		// time, and two approvers' clocks may disagree by more than the clicks were apart.
		evs := kinds(t, w.readTopicAll(t, w.decided, p.id))
		var first string
		for _, k := range evs {
			if strings.HasPrefix(k, "decided:") {
				first = strings.TrimPrefix(k, "decided:")
				break
			}
		}
		if d.Outcome != first {
			t.Fatalf("Request returned %s, first decision in the log is %s (%v)", d.Outcome, first, evs)
		}
	}
	for _, p := range ps {
		if n := w.postsFor(p.id); n != 1 {
			t.Fatalf("approval %s posted %d times by two instances", p.id, n)
		}
	}
}

func TestTerminalDecide(t *testing.T) {
	w := newWorld(t)
	w.startApprover(t, "ap1")
	p := w.request(context.Background(), 5*time.Minute, nil)
	w.posted(t, p.id)
	cfg := w.config(t, "terminal")
	// rex is the requester: refused, nothing published.
	out, err := exec.Command(binary, "decide", "-config", cfg, "-id", p.id, "-approve", "-user", "rex").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "self-approval") {
		t.Fatalf("self-approval from the terminal: %v %s", err, out)
	}
	out, err = exec.Command(binary, "decide", "-config", cfg, "-id", p.id, "-approve", "-user", "mallory").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not an authorised approver") {
		t.Fatalf("unknown terminal user: %v %s", err, out)
	}
	out, err = exec.Command(binary, "decide", "-config", cfg, "-id", p.id, "-approve", "-user", "alice", "-reason", "demo").CombinedOutput()
	if err != nil {
		t.Fatalf("terminal decide: %v %s", err, out)
	}
	d, err := p.wait(t)
	if err != nil || !d.Approved() || d.By != "terminal:alice" || d.ByEmail != "alice@acme.example" || d.Reason != "demo" {
		t.Fatalf("decision %+v %v", d, err)
	}
	if got := kinds(t, w.readAll(t, p.id)); !slices.Equal(got, []string{"requested", "claim", "notified", "decided:approved"}) {
		t.Fatalf("events %v", got)
	}
}
