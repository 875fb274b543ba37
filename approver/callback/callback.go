// Package callback is the approver's Slack interactions endpoint: it turns a signed click on Approve or Deny
// into an approval.decided event, and refuses everything else without any effect.
//
//	Slack ──POST payload──▶ signature + timestamp (401 if bad) ──▶ Parse ──▶ approval pending? ──▶ approver
//	      authorised? (user ids / user group) ──▶ email (users.info) ──▶ not the requester, not an owner of
//	      the workload? (SelfCheck; the checks made go into the decision) ──▶ reason rules
//	      ──▶ Decider.Decide (publish, read back: first in the log counts) ──▶ reply + ephemeral note
//
// The signature is HMAC-SHA256 over "v0:timestamp:body" with the signing secret, compared in constant time
// (slack.NewSecretsVerifier), and the timestamp must be within five minutes. A valid callback replayed
// after the approval closed finds it decided and publishes nothing.
//
// In Socket Mode (RunSocket) the clicks arrive over a connection the approver opened with its app-level
// token instead; they skip only the signature step and go through the same Process.
package callback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"

	"github.com/pangate/pangate/approver/slackui"
	"github.com/pangate/pangate/approver/state"
	"github.com/pangate/pangate/schemas"
)

// Decider publishes decisions and answers what the log says about approvals (the approver service).
type Decider interface {
	// Lookup returns the approval as the state currently holds it.
	Lookup(id string) (*state.Approval, bool)
	// Decide publishes d and waits until the state has applied it; counted reports whether d was the
	// first closing event in the log, and a is the approval after it.
	Decide(ctx context.Context, d schemas.ApprovalDecided) (counted bool, a *state.Approval, err error)
}

// Slack is the part of *slack.Client the handler uses.
type Slack interface {
	GetUserInfoContext(ctx context.Context, user string, options ...slack.GetUserInfoOption) (*slack.User, error)
	GetUserGroupMembersContext(ctx context.Context, group string, options ...slack.GetUserGroupMembersOption) ([]string, error)
	PostEphemeralContext(ctx context.Context, channel, user string, options ...slack.MsgOption) (string, error)
	UpdateMessageContext(ctx context.Context, channel, ts string, options ...slack.MsgOption) (string, string, string, error)
}

// Config configures the handler.
type Config struct {
	// SigningSecret is the Slack app's signing secret. It may be empty only with SocketMode, and then the
	// HTTP endpoint refuses every request.
	SigningSecret string
	// SocketMode says clicks arrive through RunSocket rather than (only) the HTTP endpoint.
	SocketMode bool
	// Approvers are Slack user ids allowed to decide any approval.
	Approvers []string
	// ApproverGroup is a Slack user group id whose members may decide any approval.
	ApproverGroup string
	// Groups maps a policy's approver_group name to a Slack user group id. When a request names a mapped
	// group, only that group's members (and Approvers) may decide it.
	Groups map[string]string
	// Owners name the owners of workloads, who may not approve their own workload's statements.
	Owners []WorkloadOwner
	// GroupCacheTTL is how long user group members are cached; default 60s.
	GroupCacheTTL time.Duration
	// MaxBodyBytes caps a request body; default 64 KiB.
	MaxBodyBytes int64
}

// Validate checks c and fills defaults.
func (c *Config) Validate() error {
	// In socket mode without a secret, clicks arrive over the Socket Mode connection and ServeHTTP refuses all.
	if len(c.SigningSecret) < 16 && !(c.SocketMode && c.SigningSecret == "") {
		return errors.New("callback: signing secret missing or shorter than 16 bytes: copy it from the Slack app's Basic Information page")
	}
	if len(c.Approvers) == 0 && c.ApproverGroup == "" && len(c.Groups) == 0 {
		return errors.New("callback: nobody may approve: set approvers (Slack user ids) or approver_group (a Slack user group id)")
	}
	for _, o := range c.Owners {
		if err := o.Validate(); err != nil {
			return fmt.Errorf("callback: %w", err)
		}
	}
	if c.GroupCacheTTL <= 0 {
		c.GroupCacheTTL = time.Minute
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	return nil
}

// Results of a callback, as the "result" label of the callbacks metric.
const (
	ResultBadSignature  = "bad_signature"
	ResultMalformed     = "malformed"
	ResultUnknown       = "unknown_approval"
	ResultClosed        = "already_decided"
	ResultUnauthorised  = "unauthorised"
	ResultNoEmail       = "no_email"
	ResultSelfApproval  = "self_approval"
	ResultNeedReason    = "reason_required"
	ResultDecided       = "decided"
	ResultLostRace      = "lost_race"
	ResultPublishFailed = "error"
)

// Handler serves the interactions endpoint.
type Handler struct {
	cfg      Config
	decider  Decider
	slack    Slack
	ui       *slackui.Renderer
	log      *slog.Logger
	results  *prometheus.CounterVec
	approved map[string]bool

	mu     sync.Mutex
	groups map[string]groupEntry
}

type groupEntry struct {
	members map[string]bool
	at      time.Time
}

// New returns a Handler. reg may be nil.
func New(cfg Config, d Decider, sl Slack, ui *slackui.Renderer, log *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, decider: d, slack: sl, ui: ui, log: log, approved: map[string]bool{}, groups: map[string]groupEntry{},
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pangate_approver_callbacks_total",
			Help: "Slack interaction callbacks by result."}, []string{"result"})}
	for _, u := range cfg.Approvers {
		h.approved[u] = true
	}
	if reg != nil {
		if err := reg.Register(h.results); err != nil {
			return nil, fmt.Errorf("callback: register metrics: %w", err)
		}
	}
	return h, nil
}

// ServeHTTP handles one interaction callback.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		h.results.WithLabelValues(ResultMalformed).Inc()
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	if err := h.verify(r.Header, body); err != nil {
		h.results.WithLabelValues(ResultBadSignature).Inc()
		h.log.Warn("slack callback refused", "reason", err.Error(), "remote", r.RemoteAddr)
		http.Error(w, "invalid or stale Slack signature", http.StatusUnauthorized)
		return
	}
	act, err := Parse(body)
	if err != nil {
		h.results.WithLabelValues(ResultMalformed).Inc()
		h.log.Warn("slack callback not understood", "err", err.Error())
		http.Error(w, "not an approval action", http.StatusBadRequest)
		return
	}
	result, msg := h.Process(r.Context(), act)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Pangate-Result", result)
	w.WriteHeader(http.StatusOK) // Slack shows an error to the user for anything else; the reason is in msg
	_, _ = io.WriteString(w, msg)
}

// Process applies the decision rules to an authenticated, parsed click (HTTP after the signature check, or
// a Socket Mode envelope), counts and logs the result, tells the clicking user privately why nothing was
// recorded if so, and returns the result and the reply text. Both transports call it; it is the only place
// clicks are authorised.
func (h *Handler) Process(ctx context.Context, act Action) (result, msg string) {
	result, msg = h.handle(ctx, act)
	h.results.WithLabelValues(result).Inc()
	h.log.Info("slack callback", "approval", act.ApprovalID, "user", act.User, "decision", act.Decision, "result", result)
	if act.Channel != "" && result != ResultDecided {
		// Tell the clicking user why nothing happened; only they see it. Best effort.
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if _, err := h.slack.PostEphemeralContext(ectx, act.Channel, act.User, slack.MsgOptionText(msg, false)); err != nil {
			h.log.Warn("slack ephemeral failed", "err", err.Error())
		}
		cancel()
	}
	return result, msg
}

// verify checks the signature (constant time) and that the timestamp is within five minutes.
func (h *Handler) verify(hdr http.Header, body []byte) error {
	if h.cfg.SigningSecret == "" {
		// Socket mode without a signing secret: an HMAC under an empty key proves nothing, so refuse all.
		return errors.New("no signing secret configured (socket mode): the HTTP interactions endpoint is closed")
	}
	sv, err := slack.NewSecretsVerifier(hdr, h.cfg.SigningSecret)
	if err != nil {
		return err
	}
	if _, err := sv.Write(body); err != nil {
		return err
	}
	return sv.Ensure()
}

// handle applies the rules to a verified, parsed click and returns the result and the reply text.
func (h *Handler) handle(ctx context.Context, act Action) (string, string) {
	a, ok := h.decider.Lookup(act.ApprovalID)
	if !ok {
		return ResultUnknown, fmt.Sprintf("pangate does not know approval %s (yet).", act.ApprovalID)
	}
	if !a.IsPending() {
		h.refresh(ctx, a)
		return ResultClosed, closedText(a)
	}
	if !h.authorised(ctx, act.User, a.Request.ApproverGroup) {
		return ResultUnauthorised, "You are not an authorised approver for this request; nothing was recorded."
	}
	u, err := h.slack.GetUserInfoContext(ctx, act.User)
	if err != nil || u == nil || u.Profile.Email == "" {
		return ResultNoEmail, "pangate could not resolve your Slack email (users.info), which the evidence needs; nothing was recorded."
	}
	email := u.Profile.Email
	checks, self, why := SelfCheck(a.Request.Identity, act.User, email, h.cfg.Owners)
	if self {
		return ResultSelfApproval, "You cannot decide this request: " + why + " (self-approval); nothing was recorded."
	}
	if a.Request.ReasonRequired && act.Reason == "" {
		return ResultNeedReason, "This rule requires a reason: type one in the Reason box, then click again."
	}
	name := u.RealName
	if name == "" {
		name = u.Name
	}
	d := schemas.ApprovalDecided{ApprovalID: a.ID, Decision: act.Decision, By: act.User, ByName: name, ByEmail: email,
		Reason: act.Reason, SelfChecks: checks}
	counted, after, err := h.decider.Decide(ctx, d)
	if err != nil {
		h.log.Error("publish decision failed", "approval", a.ID, "err", err.Error())
		return ResultPublishFailed, "pangate could not record your decision (Kafka unavailable); try again."
	}
	if !counted {
		return ResultLostRace, closedText(after)
	}
	return ResultDecided, fmt.Sprintf("Recorded: %s.", act.Decision)
}

// refresh replaces a closed approval's message with its outcome, in case the update after the decision was
// lost (for example the approver restarted in between). chat.update is idempotent.
func (h *Handler) refresh(ctx context.Context, a *state.Approval) {
	if a.Message == nil || h.ui == nil {
		return
	}
	if _, _, _, err := h.slack.UpdateMessageContext(ctx, a.Message.Channel, a.Message.TS,
		slack.MsgOptionBlocks(h.ui.Outcome(a)...), slack.MsgOptionText(h.ui.OutcomeText(a), false)); err != nil {
		h.log.Warn("slack update failed", "approval", a.ID, "err", err.Error())
	}
}

func closedText(a *state.Approval) string {
	if a == nil {
		return "This approval is already closed."
	}
	if a.Outcome == state.Expired {
		return "This approval already expired; nothing was recorded."
	}
	return fmt.Sprintf("Already %s by %s; nothing was recorded.", a.Outcome, slackui.Escape(a.DecidedBy()))
}

// authorised reports whether user may decide a request for approverGroup (a policy group name).
func (h *Handler) authorised(ctx context.Context, user, approverGroup string) bool {
	if h.approved[user] {
		return true
	}
	group := h.cfg.ApproverGroup
	if id, ok := h.cfg.Groups[approverGroup]; ok && approverGroup != "" {
		group = id
	}
	if group == "" {
		return false
	}
	members, err := h.members(ctx, group)
	if err != nil {
		h.log.Warn("usergroups.users.list failed; refusing", "group", group, "err", err.Error())
		return false
	}
	return members[user]
}

func (h *Handler) members(ctx context.Context, group string) (map[string]bool, error) {
	h.mu.Lock()
	e, ok := h.groups[group]
	h.mu.Unlock()
	if ok && time.Since(e.at) < h.cfg.GroupCacheTTL {
		return e.members, nil
	}
	ids, err := h.slack.GetUserGroupMembersContext(ctx, group)
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(ids))
	for _, id := range slices.Compact(ids) {
		m[id] = true
	}
	h.mu.Lock()
	h.groups[group] = groupEntry{members: m, at: time.Now()}
	h.mu.Unlock()
	return m, nil
}
