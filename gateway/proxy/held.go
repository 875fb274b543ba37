package proxy

// Denied and held statements: refusals, approval requests and the notice the client sees meanwhile.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pangate/pangate/gateway/hold"
	"github.com/pangate/pangate/schemas"
)

// blockByPolicy handles a deny or hold decision; it returns false when a hold was approved.
func (ss *session) blockByPolicy(r *run, d Decision) bool {
	reason, msg := schemas.BlockPolicyDeny, "pangate: statement denied by policy"
	if d.Rule != "" {
		msg += " rule " + d.Rule
	}
	if d.Reason != "" {
		msg += ": " + d.Reason
	}
	if d.Action == ActionHold {
		if ss.srv.deps.Holder != nil {
			if ref, ok := ss.hold(r, d); ok {
				r.approval = ref // query.executed names who approved the statement that ran
				return false
			}
			return true
		}
		reason, msg = schemas.BlockApprovalUnavailable, "pangate: statement requires approval, but the approval service is not configured"
	}
	msg = maskText(ss.srv, msg)
	r.rule = d.Rule
	ss.rec.blocked(r, reason, msg, SQLStatePolicyDenied, nil)
	ss.pendingErr = errorFrame(SQLStatePolicyDenied, "ERROR", msg)
	return true
}

// hold is the seam for approvals (gateway/hold): it records approval.requested in the session's chain,
// waits for the decision and records it on the statement. It returns whether the statement may run.
func (ss *session) hold(r *run, d Decision) (*schemas.ApprovalRef, bool) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Minute
	}
	req := schemas.ApprovalRequested{ApprovalID: schemas.NewID(), Session: ss.id, Identity: ss.claims.Identity,
		Target: ss.target, Role: ss.cred.Role, Database: ss.database, RequestedRole: ss.role, Granted: ss.cred.Granted, Statement: r.st, Rule: d.Rule, Reason: maskText(ss.srv, d.Reason),
		ApproverGroup: d.ApproverGroup, ReasonRequired: d.ReasonRequired,
		Expires: schemas.FormatTime(time.Now().Add(timeout)), GatewayInst: ss.srv.cfg.Instance,
		ExpectedRows: ss.expectedRows(r)}
	if _, err := ss.ev.Emit(schemas.TypeApprovalRequested, req); err != nil {
		ss.pendingErr = errorFrame(SQLStateAuditUnavailable, "ERROR", "pangate: the audit log is unavailable; the statement was not run")
		return nil, false
	}
	ss.noticeHeld(req)
	w := ss.watchHold()
	dec, err := ss.srv.deps.Holder.Request(w.ctx, req)
	ss.stopHold(w)
	if cause := context.Cause(w.ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // the client went away or cancelled: never run it, whatever was decided
	}
	ref := &schemas.ApprovalRef{ID: req.ApprovalID, Decision: dec.Outcome, By: cleanText(ss.srv, dec.By),
		ByEmail: cleanText(ss.srv, dec.ByEmail), Reason: cleanText(ss.srv, dec.Reason)}
	if err == nil && dec.Approved() {
		r.st.RiskTags = append(r.st.RiskTags[:len(r.st.RiskTags):len(r.st.RiskTags)], string(schemas.OutcomeApproved))
		return ref, true
	}
	reason, code := schemas.BlockedByApproval(schemas.ApprovalOutcome(dec.Outcome)), SQLStatePolicyDenied
	var msg string
	switch {
	case errors.Is(err, hold.ErrClientGone), errors.Is(err, hold.ErrClientTimeout):
		reason = schemas.BlockApprovalWithdrawn
		ref.Decision = string(schemas.OutcomeWithdrawn)
		msg = fmt.Sprintf("pangate: statement not run: approval %s was withdrawn because the client went away or cancelled", req.ApprovalID)
	case errors.Is(err, hold.ErrPublish):
		// The approval could not be recorded (or closed) in Kafka: an audit failure like any other.
		reason, code, msg = schemas.BlockAuditUnavailable, SQLStateAuditUnavailable,
			"pangate: the audit log (Kafka) did not acknowledge the approval events of this statement, so it was not run; retry when the audit log is available"
	case dec.Outcome == "" && errors.Is(err, hold.ErrNotRunning):
		reason, msg = schemas.BlockApprovalUnavailable, "pangate: statement requires approval, but the approval service is not running; retry later"
	case dec.Outcome == "" || dec.Outcome == hold.Expired:
		reason = schemas.BlockApprovalExpired
		ref.Decision = hold.Expired
		msg = fmt.Sprintf("pangate: statement not approved: approval %s expired after %s without a decision", req.ApprovalID, shortDuration(timeout))
	default:
		msg = fmt.Sprintf("pangate: statement %s by %s", dec.Outcome, decider(ss.srv, dec))
		if ref.Reason != "" {
			msg += ": " + ref.Reason
		}
		msg += fmt.Sprintf(" (approval %s)", req.ApprovalID)
	}
	msg = maskText(ss.srv, msg)
	r.rule = d.Rule
	ss.rec.blocked(r, reason, msg, code, ref)
	ss.pendingErr = errorFrame(code, "ERROR", msg)
	return ref, false
}

// maxDeciderText caps a decider's reason (free text typed in Slack) in messages and events.
const maxDeciderText = 300

// cleanText makes text that came from approvers (Slack names, reasons) safe to show and record: control
// characters (newlines, escapes that could forge log lines or terminal output) become spaces, the length
// is capped and card data is masked.
func cleanText(s *Server, t string) string {
	var b strings.Builder
	n := 0
	for _, c := range t {
		if n >= maxDeciderText {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(c) || c == utf8.RuneError || unicode.Is(unicode.Cf, c) {
			c = ' '
		}
		b.WriteRune(c)
		n++
	}
	return maskText(s, strings.TrimSpace(b.String()))
}

// decider names who decided an approval: "email (name)", or whichever of them, or the Slack user id.
func decider(s *Server, d hold.Decision) string {
	email, name := cleanText(s, d.ByEmail), cleanText(s, d.ByName)
	switch {
	case email != "" && name != "":
		return email + " (" + name + ")"
	case email != "":
		return email
	case name != "":
		return name
	case d.By != "":
		return cleanText(s, d.By)
	}
	return "an approver"
}

// shortDuration writes 15m rather than 15m0s.
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// flushFrame asks the server to send what it has buffered (PostgreSQL holds back ParseComplete,
// BindComplete and results of the extended protocol until Sync or Flush); it has no response.
var flushFrame = []byte{'H', 0, 0, 0, 4}

// noticeHeld tells the client that its statement waits for approval, in frame order: the notice is queued
// behind every response still expected, and sent as soon as those are written (by the upstream goroutine),
// or at once when there are none. Client goroutine, before it blocks on the approval.
func (ss *session) noticeHeld(req schemas.ApprovalRequested) {
	msg := "pangate: statement held for approval " + req.ApprovalID
	if req.Rule != "" {
		msg += " by rule " + req.Rule
	}
	if req.Reason != "" {
		msg += " (" + req.Reason + ")"
	}
	if req.ApproverGroup != "" {
		msg += "; approvers: " + req.ApproverGroup
	}
	msg += "; expires " + req.Expires
	f := noticeFrame("00000", maskText(ss.srv, cleanLine(msg)))
	ss.relayMu.Lock()
	pending := ss.q.len() > 0
	ss.q.push(&item{kind: itNotice, errFrame: f})
	if !pending {
		// Nothing is expected from upstream, and holding relayMu proves the upstream goroutine has written
		// everything it popped: the notice is next in line.
		if err := ss.emitNotices(); err != nil {
			ss.srv.log.Debug("hold notice not sent", "session", ss.id, "err", err)
		}
	}
	ss.relayMu.Unlock()
	if pending {
		// The responses ahead of the notice may sit in PostgreSQL's output buffer (extended protocol, no
		// Sync yet) and the messages that ask for them in ours: send both now. Outside relayMu: a write
		// upstream may wait for the upstream goroutine to drain the server.
		_ = ss.write(flushFrame)
		_ = ss.uw.Flush()
	}
}

// cleanLine replaces control characters (policy texts are configuration, but a notice is shown verbatim).
func cleanLine(t string) string {
	return strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return ' '
		}
		return c
	}, t)
}
