// Package slackuitest is a fake Slack for approver tests: slack-go's slacktest server with the Web API
// methods the approver uses (chat.postMessage, chat.update, chat.postEphemeral, users.info,
// usergroups.users.list) recorded and answered from configured users, plus helpers that build interaction
// callbacks signed exactly as Slack signs them.
package slackuitest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
)

// Message is one chat.postMessage or chat.update call.
type Message struct {
	Channel  string
	TS       string
	Text     string
	Blocks   string // the blocks JSON as sent
	Metadata string // the message metadata JSON as sent, if any
}

// Ephemeral is one chat.postEphemeral call.
type Ephemeral struct {
	Channel, User, Text string
}

// Server is a started fake Slack.
type Server struct {
	*slacktest.Server

	mu         sync.Mutex
	seq        int
	posts      []Message
	channel    []Message // what conversations.history shows: posts plus injected messages
	updates    []Message
	ephemerals []Ephemeral
	users      map[string]slack.User
	groups     map[string][]string
}

// New starts a fake Slack; Close it when done.
func New() *Server {
	s := &Server{users: map[string]slack.User{}, groups: map[string][]string{}}
	s.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", s.postMessage)
		c.Handle("/chat.update", s.update)
		c.Handle("/chat.postEphemeral", s.ephemeral)
		c.Handle("/users.info", s.userInfo)
		c.Handle("/usergroups.users.list", s.groupMembers)
		c.Handle("/conversations.history", s.history)
	})
	s.Server.Start()
	return s
}

// Close stops the server.
func (s *Server) Close() { s.Server.Stop() }

// URL is the API URL to give slack.OptionAPIURL.
func (s *Server) URL() string { return s.GetAPIURL() }

// AddUser makes users.info know a user.
func (s *Server) AddUser(id, name, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := slack.User{ID: id, Name: name, RealName: name}
	u.Profile.Email = email
	u.Profile.RealName = name
	s.users[id] = u
}

// SetGroup sets the members of a user group for usergroups.users.list.
func (s *Server) SetGroup(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = append([]string(nil), members...)
}

// Posts returns every chat.postMessage call so far.
func (s *Server) Posts() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.posts...)
}

// Updates returns every chat.update call so far.
func (s *Server) Updates() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.updates...)
}

// Ephemerals returns every chat.postEphemeral call so far.
func (s *Server) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ephemeral(nil), s.ephemerals...)
}

func form(r *http.Request) url.Values {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	v, _ := url.ParseQuery(string(b))
	return v
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	s.mu.Lock()
	s.seq++
	ts := fmt.Sprintf("1700000000.%06d", s.seq)
	s.posts = append(s.posts, Message{Channel: v.Get("channel"), TS: ts, Text: v.Get("text"), Blocks: v.Get("blocks"), Metadata: v.Get("metadata")})
	s.channel = append(s.channel, s.posts[len(s.posts)-1])
	s.mu.Unlock()
	reply(w, map[string]any{"ok": true, "channel": v.Get("channel"), "ts": ts})
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	s.mu.Lock()
	s.updates = append(s.updates, Message{Channel: v.Get("channel"), TS: v.Get("ts"), Text: v.Get("text"), Blocks: v.Get("blocks")})
	s.mu.Unlock()
	reply(w, map[string]any{"ok": true, "channel": v.Get("channel"), "ts": v.Get("ts"), "text": v.Get("text")})
}

func (s *Server) ephemeral(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	s.mu.Lock()
	s.ephemerals = append(s.ephemerals, Ephemeral{Channel: v.Get("channel"), User: v.Get("user"), Text: v.Get("text")})
	s.mu.Unlock()
	reply(w, map[string]any{"ok": true, "message_ts": "1700000000.999999"})
}

func (s *Server) userInfo(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	s.mu.Lock()
	u, ok := s.users[v.Get("user")]
	s.mu.Unlock()
	if !ok {
		reply(w, map[string]any{"ok": false, "error": "user_not_found"})
		return
	}
	reply(w, map[string]any{"ok": true, "user": u})
}

func (s *Server) groupMembers(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	s.mu.Lock()
	m, ok := s.groups[v.Get("usergroup")]
	s.mu.Unlock()
	if !ok {
		reply(w, map[string]any{"ok": false, "error": "no_such_subteam"})
		return
	}
	reply(w, map[string]any{"ok": true, "users": m})
}

// Click describes a button click on an approval message.
type Click struct {
	ApprovalID string
	Approve    bool // Approve or Deny button
	User       string
	UserName   string
	Channel    string
	MessageTS  string
	Reason     string // typed into the reason input; empty for none
}

// Payload returns the block_actions payload JSON Slack sends for c.
func (c Click) Payload() []byte {
	action := "pangate_deny"
	if c.Approve {
		action = "pangate_approve"
	}
	p := map[string]any{
		"type":         "block_actions",
		"team":         map[string]any{"id": "T1", "domain": "acme"},
		"user":         map[string]any{"id": c.User, "username": c.UserName, "name": c.UserName, "team_id": "T1"},
		"api_app_id":   "A1",
		"token":        "legacy-verification-token",
		"container":    map[string]any{"type": "message", "message_ts": c.MessageTS, "channel_id": c.Channel, "is_ephemeral": false},
		"trigger_id":   "1.2.3",
		"channel":      map[string]any{"id": c.Channel, "name": "approvals"},
		"message":      map[string]any{"type": "message", "ts": c.MessageTS, "text": "pangate"},
		"response_url": "https://hooks.slack.invalid/actions/T1/1/x",
		"state": map[string]any{"values": map[string]any{
			"pangate_reason": map[string]any{"pangate_reason_input": map[string]any{"type": "plain_text_input", "value": c.Reason}},
		}},
		"actions": []any{map[string]any{
			"type": "button", "action_id": action, "block_id": "pangate_decide", "value": c.ApprovalID,
			"text": map[string]any{"type": "plain_text", "text": "x"}, "action_ts": "1700000001.000001",
		}},
	}
	b, _ := json.Marshal(p)
	return b
}

// Body returns the form-encoded request body of c, as Slack posts it.
func (c Click) Body() []byte {
	return []byte(url.Values{"payload": {string(c.Payload())}}.Encode())
}

// Sign returns the headers Slack sends with body at time ts: X-Slack-Request-Timestamp and
// X-Slack-Signature = "v0=" + hex(HMAC-SHA256(secret, "v0:" + ts + ":" + body)).
func Sign(secret string, ts time.Time, body []byte) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + stamp + ":"))
	mac.Write(body)
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Slack-Request-Timestamp", stamp)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

// NewRequest builds a signed interaction request for url.
func NewRequest(target, secret string, ts time.Time, body []byte) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range Sign(secret, ts, body) {
		req.Header[k] = v
	}
	return req, nil
}

// Inject puts a message into the channel history without counting it as a chat.postMessage call, as if an
// earlier process had posted it. It returns the message's ts.
func (s *Server) Inject(m Message) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	m.TS = fmt.Sprintf("1700000000.%06d", s.seq)
	s.channel = append(s.channel, m)
	return m.TS
}

// history answers conversations.history from the posted and injected messages (newest first, no paging).
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	s.mu.Lock()
	var msgs []map[string]any
	for i := len(s.channel) - 1; i >= 0; i-- {
		m := s.channel[i]
		if m.Channel != v.Get("channel") {
			continue
		}
		msg := map[string]any{"type": "message", "ts": m.TS, "text": m.Text}
		if m.Metadata != "" && v.Get("include_all_metadata") == "1" {
			msg["metadata"] = json.RawMessage(m.Metadata)
		}
		msgs = append(msgs, msg)
	}
	s.mu.Unlock()
	reply(w, map[string]any{"ok": true, "messages": msgs, "has_more": false})
}
