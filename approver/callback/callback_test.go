package callback

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/pangate/pangate/approver/slackui"
	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/approver/state"
	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/schemas"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

// memDecider is a Decider over an in-memory state: Decide applies the event as the log would.
type memDecider struct {
	st *state.State
	mu sync.Mutex
	// published holds every decision published, in order.
	published []schemas.ApprovalDecided
}

func (m *memDecider) Lookup(id string) (*state.Approval, bool) { return m.st.Get(id) }

func (m *memDecider) Decide(_ context.Context, d schemas.ApprovalDecided) (bool, *state.Approval, error) {
	e, err := schemas.NewUnchained(d.ApprovalID, schemas.Source{Instance: "approver-test"}, schemas.TypeApprovalDecided, d)
	if err != nil {
		return false, nil, err
	}
	m.mu.Lock()
	m.published = append(m.published, d)
	m.mu.Unlock()
	if _, _, err := m.st.Apply(e); err != nil {
		return false, nil, err
	}
	a, _ := m.st.Get(d.ApprovalID)
	return a.ClosedID == e.ID, a, nil
}

func (m *memDecider) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.published)
}

type fixture struct {
	h     *Handler
	srv   *httptest.Server
	slack *slackuitest.Server
	dec   *memDecider
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	sl := slackuitest.New()
	t.Cleanup(sl.Close)
	sl.AddUser("UAPPROVER", "Ada Approver", "ada@acme.example")
	sl.AddUser("UGROUP", "Grace Group", "grace@acme.example")
	sl.AddUser("UREQUESTER", "Rex Requester", "rex@acme.example")
	sl.AddUser("UNOBODY", "Nora Nobody", "nora@acme.example")
	sl.AddUser("UNOEMAIL", "No Email", "")
	sl.SetGroup("S0APPROVERS", "UGROUP", "UREQUESTER")
	if cfg.SigningSecret == "" {
		cfg.SigningSecret = secret
	}
	if cfg.Approvers == nil {
		cfg.Approvers = []string{"UAPPROVER", "UNOEMAIL"}
	}
	if cfg.ApproverGroup == "" {
		cfg.ApproverGroup = "S0APPROVERS"
	}
	dec := &memDecider{st: state.New(state.Config{})}
	m, _ := mask.New(mask.Config{})
	api := slack.New("xoxb-test", slack.OptionAPIURL(sl.URL()))
	h, err := New(cfg, dec, api, slackui.NewRenderer(m), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{h: h, srv: srv, slack: sl, dec: dec}
}

func (f *fixture) request(t *testing.T, id string, mut func(*schemas.ApprovalRequested)) {
	t.Helper()
	r := schemas.ApprovalRequested{ApprovalID: id, Session: "s", Target: "db", Role: "r", Rule: "r1", Reason: "delete",
		Identity:  schemas.Identity{Issuer: "https://issuer", Subject: "rex", Claims: map[string]string{"email": "rex@acme.example"}},
		Statement: schemas.Statement{SQL: "DELETE FROM t", Kind: "write"}, Expires: schemas.FormatTime(time.Now().Add(time.Hour))}
	if mut != nil {
		mut(&r)
	}
	e, err := schemas.NewUnchained(id, schemas.Source{Instance: "gw"}, schemas.TypeApprovalRequested, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.dec.st.Apply(e); err != nil {
		t.Fatal(err)
	}
}

// post sends body with headers and returns status, result header and reply text.
func (f *fixture) post(t *testing.T, body []byte, hdr http.Header) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL, strings.NewReader(string(body)))
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Pangate-Result"), string(b)
}

func (f *fixture) click(t *testing.T, c slackuitest.Click) (int, string, string) {
	t.Helper()
	if c.Channel == "" {
		c.Channel = "C0APPROVALS"
	}
	body := c.Body()
	return f.post(t, body, slackuitest.Sign(secret, time.Now(), body))
}

func TestSignatureRefused(t *testing.T) {
	f := newFixture(t, Config{})
	f.request(t, "A1", nil)
	body := slackuitest.Click{ApprovalID: "A1", Approve: true, User: "UAPPROVER"}.Body()
	cases := map[string]http.Header{
		"forged":          slackuitest.Sign("wrong-secret-wrong-secret", time.Now(), body),
		"stale timestamp": slackuitest.Sign(secret, time.Now().Add(-10*time.Minute), body),
		"future":          slackuitest.Sign(secret, time.Now().Add(10*time.Minute), body),
		"no headers":      {},
	}
	// A signature over another body does not carry over.
	other := slackuitest.Sign(secret, time.Now(), slackuitest.Click{ApprovalID: "A1", Approve: false, User: "UAPPROVER"}.Body())
	cases["other body"] = other
	for name, hdr := range cases {
		code, _, _ := f.post(t, body, hdr)
		if code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, code)
		}
	}
	if n := f.dec.count(); n != 0 {
		t.Fatalf("%d decisions published for refused callbacks", n)
	}
	if a, _ := f.dec.st.Get("A1"); !a.IsPending() {
		t.Fatal("refused callbacks changed the approval")
	}
}

func TestApproveThenReplay(t *testing.T) {
	f := newFixture(t, Config{})
	f.request(t, "A1", nil)
	c := slackuitest.Click{ApprovalID: "A1", Approve: true, User: "UAPPROVER", UserName: "ada", Channel: "C0APPROVALS", MessageTS: "1.1"}
	body := c.Body()
	hdr := slackuitest.Sign(secret, time.Now(), body)
	code, res, _ := f.post(t, body, hdr)
	if code != 200 || res != ResultDecided {
		t.Fatalf("first click: %d %s", code, res)
	}
	a, _ := f.dec.st.Get("A1")
	if a.Outcome != state.Approved || a.Decision.By != "UAPPROVER" || a.Decision.ByEmail != "ada@acme.example" || a.Decision.ByName != "Ada Approver" {
		t.Fatalf("approval after click: %+v", a.Decision)
	}
	// The very same signed request again (a replay inside the five minutes), and a deny by someone else.
	code, res, msg := f.post(t, body, hdr)
	if code != 200 || res != ResultClosed || !strings.Contains(msg, "Already approved by Ada Approver") {
		t.Fatalf("replay: %d %s %q", code, res, msg)
	}
	code, res, _ = f.click(t, slackuitest.Click{ApprovalID: "A1", Approve: false, User: "UGROUP"})
	if res != ResultClosed {
		t.Fatalf("late deny: %d %s", code, res)
	}
	if n := f.dec.count(); n != 1 {
		t.Fatalf("%d decisions published, want 1", n)
	}
	if eph := f.slack.Ephemerals(); len(eph) != 2 || !strings.Contains(eph[1].Text, "Already approved") || eph[1].User != "UGROUP" {
		t.Fatalf("ephemerals %+v", eph)
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t, Config{})
	f.request(t, "A1", nil)
	f.request(t, "A2", func(r *schemas.ApprovalRequested) { r.ReasonRequired = true })
	cases := []struct {
		name   string
		click  slackuitest.Click
		result string
		says   string
	}{
		{"unknown user", slackuitest.Click{ApprovalID: "A1", Approve: true, User: "UNOBODY"}, ResultUnauthorised, "not an authorised approver"},
		{"self approval via group", slackuitest.Click{ApprovalID: "A1", Approve: true, User: "UREQUESTER"}, ResultSelfApproval, "self-approval"},
		{"no email", slackuitest.Click{ApprovalID: "A1", Approve: true, User: "UNOEMAIL"}, ResultNoEmail, "email"},
		{"unknown approval", slackuitest.Click{ApprovalID: "A9", Approve: true, User: "UAPPROVER"}, ResultUnknown, "does not know"},
		{"reason required", slackuitest.Click{ApprovalID: "A2", Approve: false, User: "UAPPROVER"}, ResultNeedReason, "requires a reason"},
	}
	for _, tc := range cases {
		code, res, msg := f.click(t, tc.click)
		if code != 200 || res != tc.result || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: %d %s %q, want %s saying %q", tc.name, code, res, msg, tc.result, tc.says)
		}
	}
	if n := f.dec.count(); n != 0 {
		t.Fatalf("%d decisions published by refused clicks", n)
	}
	// Malformed but correctly signed: 400, nothing published.
	body := []byte("payload=" + "%7B%22type%22%3A%22view_submission%22%7D")
	if code, _, _ := f.post(t, body, slackuitest.Sign(secret, time.Now(), body)); code != http.StatusBadRequest {
		t.Fatalf("malformed: %d, want 400", code)
	}
}

func TestGroupMemberDeniesWithReason(t *testing.T) {
	f := newFixture(t, Config{})
	f.request(t, "A2", func(r *schemas.ApprovalRequested) { r.ReasonRequired = true })
	code, res, _ := f.click(t, slackuitest.Click{ApprovalID: "A2", Approve: false, User: "UGROUP", Reason: "  not during business hours "})
	if code != 200 || res != ResultDecided {
		t.Fatalf("deny: %d %s", code, res)
	}
	a, _ := f.dec.st.Get("A2")
	if a.Outcome != state.Denied || a.Decision.Reason != "not during business hours" || a.Decision.ByEmail != "grace@acme.example" {
		t.Fatalf("after deny: %+v", a.Decision)
	}
}

func TestPolicyGroupRestricts(t *testing.T) {
	f := newFixture(t, Config{Approvers: []string{"UAPPROVER"}, Groups: map[string]string{"dba": "S0DBA"}})
	f.slack.SetGroup("S0DBA", "UNOBODY")
	f.request(t, "A1", func(r *schemas.ApprovalRequested) { r.ApproverGroup = "dba" })
	if _, res, _ := f.click(t, slackuitest.Click{ApprovalID: "A1", Approve: true, User: "UGROUP"}); res != ResultUnauthorised {
		t.Fatalf("member of the default group deciding a dba request: %s", res)
	}
	if _, res, _ := f.click(t, slackuitest.Click{ApprovalID: "A1", Approve: true, User: "UNOBODY"}); res != ResultDecided {
		t.Fatalf("dba member: %s", res)
	}
}

func TestSelfApproval(t *testing.T) {
	id := schemas.Identity{Subject: "repo:acme/etl", Claims: map[string]string{"email": "Rex@Acme.example"}}
	if !SelfApproval(id, "U1", "rex@acme.example") {
		t.Fatal("email match (case-insensitive) not detected")
	}
	if !SelfApproval(schemas.Identity{Subject: "U1"}, "U1", "x@y") {
		t.Fatal("subject = user id not detected")
	}
	if SelfApproval(id, "U1", "ada@acme.example") || SelfApproval(schemas.Identity{}, "", "") {
		t.Fatal("false positive")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (&Config{SigningSecret: "short", Approvers: []string{"U"}}).Validate(); err == nil {
		t.Fatal("short secret accepted")
	}
	if err := (&Config{SigningSecret: secret}).Validate(); err == nil {
		t.Fatal("no approvers accepted")
	}
}
