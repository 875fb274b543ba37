package callback

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/approver/state"
)

// fakeSocket is an in-process Slack Socket Mode endpoint: apps.connections.open answers with the ws:// URL
// of its own websocket, which says hello, then sends the queued envelopes and records the ACKs it receives.
type fakeSocket struct {
	srv    *httptest.Server
	send   chan []byte
	acks   chan string
	mu     sync.Mutex
	tokens []string // Authorization headers seen by apps.connections.open
}

func newFakeSocket(t *testing.T) *fakeSocket {
	t.Helper()
	f := &fakeSocket{send: make(chan []byte, 8), acks: make(chan string, 8)}
	// Slack's client sends Origin: https://api.slack.com, which is not this host.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.HandleFunc("/apps.connections.open", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.tokens = append(f.tokens, r.Header.Get("Authorization"))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/link"})
	})
	mux.HandleFunc("/link", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		hello := `{"type":"hello","num_connections":1,"connection_info":{"app_id":"A1"},"debug_info":{"host":"fake"}}`
		if err := c.WriteMessage(websocket.TextMessage, []byte(hello)); err != nil {
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				_, b, err := c.ReadMessage()
				if err != nil {
					return
				}
				var ack struct {
					EnvelopeID string `json:"envelope_id"`
				}
				if json.Unmarshal(b, &ack) == nil && ack.EnvelopeID != "" {
					f.acks <- ack.EnvelopeID
				}
			}
		}()
		for {
			select {
			case b := <-f.send:
				if err := c.WriteMessage(websocket.TextMessage, b); err != nil {
					return
				}
			case <-done:
				return
			case <-r.Context().Done():
				return
			}
		}
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// interactive queues an "interactive" envelope carrying c's block_actions payload, as Slack sends a click.
func (f *fakeSocket) interactive(t *testing.T, envelope string, c slackuitest.Click) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"envelope_id": envelope, "type": "interactive",
		"accepts_response_payload": false, "payload": json.RawMessage(c.Payload())})
	if err != nil {
		t.Fatal(err)
	}
	f.send <- b
}

func (f *fakeSocket) waitAck(t *testing.T, envelope string) {
	t.Helper()
	select {
	case got := <-f.acks:
		if got != envelope {
			t.Fatalf("ACK for %q, want %q", got, envelope)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no ACK for envelope %s within 10s", envelope)
	}
}

// runSocket starts f.h.RunSocket against sock and stops it at cleanup.
func runSocket(t *testing.T, f *fixture, sock *fakeSocket) {
	t.Helper()
	api := slack.New("xoxb-test", slack.OptionAppLevelToken("xapp-1-test"), slack.OptionAPIURL(sock.srv.URL+"/"))
	sm := socketmode.New(api)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.h.RunSocket(ctx, sm) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("RunSocket did not return after cancel")
		}
	})
}

// waitFor polls cond (the decision is applied after the ACK, asynchronously to the test).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSocketModeDecidesLikeHTTP(t *testing.T) {
	click := slackuitest.Click{ApprovalID: "A1", Approve: true, User: "UAPPROVER", UserName: "ada", Channel: "C0APPROVALS", MessageTS: "1.1", Reason: "ok by me"}

	// Reference: the same click over the signed HTTP endpoint.
	ref := newFixture(t, Config{})
	ref.request(t, "A1", nil)
	if code, res, _ := ref.click(t, click); code != 200 || res != ResultDecided {
		t.Fatalf("http click: %d %s", code, res)
	}

	f := newFixture(t, Config{SocketMode: true})
	f.request(t, "A1", nil)
	sock := newFakeSocket(t)
	runSocket(t, f, sock)
	sock.interactive(t, "E1", click)
	sock.waitAck(t, "E1")
	waitFor(t, "the decision", func() bool { return f.dec.count() == 1 })

	a, _ := f.dec.st.Get("A1")
	if a.Outcome != state.Approved || a.Decision.By != "UAPPROVER" || a.Decision.ByEmail != "ada@acme.example" || a.Decision.ByName != "Ada Approver" || a.Decision.Reason != "ok by me" {
		t.Fatalf("approval after socket click: %+v", a.Decision)
	}
	f.dec.mu.Lock()
	got := f.dec.published[0]
	f.dec.mu.Unlock()
	if want := ref.dec.published[0]; !reflect.DeepEqual(got, want) {
		t.Fatalf("socket mode published %+v, http published %+v", got, want)
	}
	sock.mu.Lock()
	tokens := sock.tokens
	sock.mu.Unlock()
	if len(tokens) == 0 || tokens[0] != "Bearer xapp-1-test" {
		t.Fatalf("apps.connections.open authorised with %q, want the app-level token", tokens)
	}

	// The same envelope delivered again (Slack retries unacknowledged ones) publishes nothing more.
	sock.interactive(t, "E1", click)
	sock.waitAck(t, "E1")
	waitFor(t, "the second reply", func() bool { return len(f.slack.Ephemerals()) == 1 })
	if eph := f.slack.Ephemerals(); !strings.Contains(eph[0].Text, "Already approved") {
		t.Fatalf("ephemerals %+v", eph)
	}
	if n := f.dec.count(); n != 1 {
		t.Fatalf("%d decisions published, want 1", n)
	}
}

func TestSocketModeRefusesUnauthorised(t *testing.T) {
	f := newFixture(t, Config{SocketMode: true})
	f.request(t, "A1", nil)
	sock := newFakeSocket(t)
	runSocket(t, f, sock)

	// Over HTTP this user is refused (TestRefusals); over the socket the same rules apply.
	sock.interactive(t, "E1", slackuitest.Click{ApprovalID: "A1", Approve: true, User: "UNOBODY", Channel: "C0APPROVALS"})
	sock.waitAck(t, "E1")
	// The requester, a member of the approver group, is refused as self-approval.
	sock.interactive(t, "E2", slackuitest.Click{ApprovalID: "A1", Approve: true, User: "UREQUESTER", Channel: "C0APPROVALS"})
	sock.waitAck(t, "E2")
	waitFor(t, "the refusals", func() bool { return len(f.slack.Ephemerals()) == 2 })
	eph := f.slack.Ephemerals()
	if eph[0].User != "UNOBODY" || !strings.Contains(eph[0].Text, "not an authorised approver") {
		t.Fatalf("unauthorised click answered %+v", eph[0])
	}
	if eph[1].User != "UREQUESTER" || !strings.Contains(eph[1].Text, "self-approval") {
		t.Fatalf("self-approval answered %+v", eph[1])
	}
	if n := f.dec.count(); n != 0 {
		t.Fatalf("%d decisions published by refused clicks", n)
	}
	if a, _ := f.dec.st.Get("A1"); !a.IsPending() {
		t.Fatal("refused clicks changed the approval")
	}
}

// In socket mode without a signing secret the HTTP endpoint must not accept anything, not even a body
// "signed" with the empty key.
func TestSocketModeWithoutSecretClosesHTTP(t *testing.T) {
	sl := slackuitest.New()
	t.Cleanup(sl.Close)
	h, err := New(Config{SocketMode: true, Approvers: []string{"UAPPROVER"}}, &memDecider{st: state.New(state.Config{})},
		slack.New("xoxb-test", slack.OptionAPIURL(sl.URL())), nil, nil, nil)
	if err != nil {
		t.Fatalf("socket mode without signing secret: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	body := slackuitest.Click{ApprovalID: "A1", Approve: true, User: "UAPPROVER"}.Body()
	req, err := slackuitest.NewRequest(srv.URL, "", time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("empty-key signature: %d, want 401", resp.StatusCode)
	}
	if err := (&Config{Approvers: []string{"U"}}).Validate(); err == nil {
		t.Fatal("no signing secret accepted outside socket mode")
	}
}
