// Package slackui renders approvals as Slack Block Kit messages and reads the button clicks back.
//
// A request message shows who (OIDC issuer and subject, workload claims), which target, database and
// granted roles (not the generated just-in-time role name), what data the statement touches (cardholder
// flag, tagged result columns, the planner's row estimate when the gateway knows it), the masked SQL in a
// code block, the risk reasons and the expiry, an optional reason input and Approve / Deny buttons whose
// value is the approval id. Approving an export of cardholder data (COPY … TO of a statement that touches
// it) asks for confirmation first (a Block Kit confirm dialog on the Approve button). Once closed, the
// message is replaced by the same facts under a header naming the outcome, and no buttons.
//
// Everything that came from a client or a token is hostile text: it is passed through the PAN masker
// (defensively: the gateway already masked the SQL) and escaped for Slack's mrkdwn (&, <, > and backticks),
// so it can neither mention users, inject links, nor break out of the code block.
package slackui

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/pangate/pangate/approver/state"
	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/schemas"
)

// Block and action ids of the request message. The buttons carry the approval id as their value.
const (
	ActionApprove = "pangate_approve"
	ActionDeny    = "pangate_deny"
	BlockActions  = "pangate_decide"
	BlockReason   = "pangate_reason"
	ActionReason  = "pangate_reason_input"
)

// Slack's limits: a section's text is at most 3000 characters; keep a margin for the fences.
const (
	maxSectionText = 2900
	maxFieldText   = 1900
	maxReasonInput = 500
)

// backtickLookalike replaces backticks (U+0060) in hostile text: a backtick could close the code block.
const backtickLookalike = "ˋ" // U+02CB MODIFIER LETTER GRAVE ACCENT

// Escape applies Slack's mrkdwn escaping to s: &, < and > become entities and backticks a look-alike, so
// the text is shown literally and cannot form links, mentions or code fences.
func Escape(s string) string {
	if !strings.ContainsAny(s, "&<>`") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for _, r := range s {
		b.WriteString(escapeRune(r))
	}
	return b.String()
}

func escapeRune(r rune) string {
	switch r {
	case '&':
		return "&amp;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	case '`':
		return backtickLookalike
	case utf8.RuneError:
		return "\uFFFD"
	}
	return string(r)
}

// escapeMax escapes s and cuts it, never inside an entity, so the result has at most limit bytes.
func escapeMax(s string, limit int) string {
	e := Escape(s)
	if len(e) <= limit {
		return e
	}
	const more = "…"
	var b strings.Builder
	for _, r := range s {
		x := escapeRune(r)
		if b.Len()+len(x)+len(more) > limit {
			break
		}
		b.WriteString(x)
	}
	b.WriteString(more)
	return b.String()
}

// Renderer builds the messages. It is safe for concurrent use.
type Renderer struct {
	masker *mask.Masker
	now    func() time.Time
}

// NewRenderer returns a Renderer that masks every hostile string with m before escaping it.
func NewRenderer(m *mask.Masker) *Renderer {
	return &Renderer{masker: m, now: time.Now}
}

// maskOnly masks PANs in s (for plain_text objects, which Slack does not parse as mrkdwn).
func (r *Renderer) maskOnly(s string) string {
	if r.masker != nil {
		s, _ = r.masker.Text(s)
	}
	return s
}

// clean masks PANs and escapes s for mrkdwn, within limit bytes.
func (r *Renderer) clean(s string, limit int) string {
	if r.masker != nil {
		s, _ = r.masker.Text(s)
	}
	return escapeMax(s, limit)
}

// Fallback is the notification text shown where blocks are not (push notifications, screen readers).
func (r *Renderer) Fallback(a *state.Approval) string {
	txt := fmt.Sprintf("pangate: approval needed for a %s statement on %s by %s",
		a.Request.Statement.Kind, a.Request.Target, a.Request.Identity.Subject)
	return r.clean(txt, maxFieldText)
}

// Request renders the message posted for a pending approval: facts, reason input, Approve and Deny.
func (r *Renderer) Request(a *state.Approval) []slack.Block {
	blocks := r.facts(a, "Approval needed")
	in := slack.NewPlainTextInputBlockElement(slack.NewTextBlockObject(slack.PlainTextType, "Reason (optional; required for some rules)", false, false), ActionReason)
	in.MaxLength = maxReasonInput
	ib := slack.NewInputBlock(BlockReason, slack.NewTextBlockObject(slack.PlainTextType, "Reason", false, false), nil, in)
	ib.Optional = true
	approve := slack.NewButtonBlockElement(ActionApprove, a.ID, slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)).WithStyle(slack.StylePrimary)
	if CardholderExport(a.Request.Statement) {
		approve = approve.WithConfirm(r.exportConfirm(a))
	}
	deny := slack.NewButtonBlockElement(ActionDeny, a.ID, slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false)).WithStyle(slack.StyleDanger)
	return append(blocks, ib, slack.NewActionBlock(BlockActions, approve, deny))
}

// CardholderExport reports whether st copies cardholder data out of the database (COPY … TO, including
// COPY (query) TO, of a statement that touches tagged data): approving it asks for confirmation.
func CardholderExport(st schemas.Statement) bool {
	return st.Cardholder && slices.Contains(st.RiskTags, tagCopyOut)
}

// tagCopyOut is the gateway's risk tag for COPY … TO (gateway/classify TagCopyOut).
const tagCopyOut = "copy_out"

// exportConfirm is the dialog Slack shows before it sends an Approve click on a cardholder export.
func (r *Renderer) exportConfirm(a *state.Approval) *slack.ConfirmationBlockObject {
	st := a.Request.Statement
	what := "cardholder data"
	if len(st.Tables) > 0 {
		what += " from " + strings.Join(st.Tables, ", ")
	}
	rows := "an unknown number of rows"
	if a.Request.ExpectedRows > 0 {
		rows = fmt.Sprintf("about %d rows", a.Request.ExpectedRows)
	}
	text := fmt.Sprintf("This statement exports %s (%s) out of the database, as %s. Card numbers leave masked, but names, expiry dates and other tagged data may not. Approve the export?",
		what, rows, a.Request.Identity.Subject)
	c := slack.NewConfirmationBlockObject(
		slack.NewTextBlockObject(slack.PlainTextType, "Export cardholder data?", false, false),
		slack.NewTextBlockObject(slack.PlainTextType, truncRunes(plain(r.maskOnly(text)), 300), false, false),
		slack.NewTextBlockObject(slack.PlainTextType, "Approve export", false, false),
		slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false))
	return c.WithStyle(slack.StyleDanger)
}

// headers name the state of the message in its header.
var headers = map[string]string{
	state.Approved:  "Approved",
	state.Denied:    "Denied",
	state.Withdrawn: "Withdrawn",
	state.Expired:   "Expired",
}

// Outcome renders the closed approval: the same facts under a header naming the outcome, the outcome,
// and no buttons.
func (r *Renderer) Outcome(a *state.Approval) []slack.Block {
	head, ok := headers[a.Outcome]
	if !ok {
		head = "Approval needed"
	}
	blocks := r.facts(a, head)
	var line string
	switch a.Outcome {
	case state.Approved:
		line = fmt.Sprintf(":white_check_mark: *Approved* by %s", r.who(a))
	case state.Denied:
		line = fmt.Sprintf(":no_entry: *Denied* by %s", r.who(a))
	case state.Withdrawn:
		line = ":leftwards_arrow_with_hook: *Withdrawn*: the client cancelled or disconnected"
	case state.Expired:
		line = ":hourglass: *Expired*: nobody decided in time"
	default:
		line = "*Pending*"
	}
	if a.Decision.Reason != "" && a.Outcome != state.Withdrawn {
		line += "\n>" + r.clean(a.Decision.Reason, maxReasonInput*6)
	}
	if !a.ClosedAt.IsZero() {
		line += "\n" + slackDate(a.ClosedAt)
	}
	return append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, line, false, false), nil, nil))
}

// OutcomeText is the fallback text of a closed approval.
func (r *Renderer) OutcomeText(a *state.Approval) string {
	switch a.Outcome {
	case state.Approved, state.Denied:
		return r.clean(fmt.Sprintf("pangate approval %s: %s by %s", a.ID, a.Outcome, a.DecidedBy()), maxFieldText)
	}
	return r.clean(fmt.Sprintf("pangate approval %s: %s", a.ID, a.Outcome), maxFieldText)
}

func (r *Renderer) who(a *state.Approval) string {
	d := a.Decision
	if isSlackID(d.By) {
		return "<@" + d.By + ">" // a Slack user id (only letters and digits): safe to mention
	}
	s := d.By
	if d.ByName != "" {
		s = d.ByName + " (" + d.By + ")"
	}
	return r.clean(s, 200)
}

func isSlackID(s string) bool {
	if len(s) < 2 || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// facts renders the parts common to the request and the outcome, under a header starting with state.
func (r *Renderer) facts(a *state.Approval, state string) []slack.Block {
	q := a.Request
	st := q.Statement
	head := slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType,
		truncRunes(plain(r.maskOnly(fmt.Sprintf("%s: %s statement on %s", state, st.Kind, q.Target))), 140), false, false))

	id := q.Identity
	who := fmt.Sprintf("*Who*\n%s\n_%s_", r.clean(id.Subject, 300), r.clean(id.Issuer, 300))
	workload := "*Workload*\n" + r.workload(id.Claims)
	expiry := "*Expires*\n" + slackDate(a.Expires)
	fields := []*slack.TextBlockObject{
		slack.NewTextBlockObject(slack.MarkdownType, who, false, false),
		slack.NewTextBlockObject(slack.MarkdownType, workload, false, false),
		slack.NewTextBlockObject(slack.MarkdownType, r.target(q), false, false),
		slack.NewTextBlockObject(slack.MarkdownType, r.data(q), false, false),
		slack.NewTextBlockObject(slack.MarkdownType, expiry, false, false),
	}
	sql := "```" + r.clean(st.SQL, maxSectionText-8) + "```"

	var risk []string
	if q.Reason != "" {
		risk = append(risk, "• "+r.clean(q.Reason, 500))
	}
	if q.Rule != "" {
		risk = append(risk, "• rule "+r.clean(q.Rule, 200))
	}
	for _, tag := range st.RiskTags {
		risk = append(risk, "• "+r.clean(tag, 200))
	}
	if st.RiskScore != 0 {
		risk = append(risk, fmt.Sprintf("• risk score %d", st.RiskScore))
	}
	if st.Cardholder {
		risk = append(risk, "• touches cardholder data")
	}
	if len(st.Tables) > 0 {
		risk = append(risk, "• tables "+r.clean(strings.Join(st.Tables, ", "), 500))
	}
	if q.ReasonRequired {
		risk = append(risk, "• a reason is required to decide")
	}
	riskText := "*Why held*\n" + strings.Join(risk, "\n")
	if len(riskText) > maxSectionText {
		riskText = riskText[:maxSectionText]
		for !utf8.ValidString(riskText) {
			riskText = riskText[:len(riskText)-1]
		}
	}
	ctx := slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
		fmt.Sprintf("approval %s · session %s · gateway %s", r.clean(a.ID, 80), r.clean(q.Session, 80), r.clean(q.GatewayInst, 120)), false, false))
	return []slack.Block{
		head,
		slack.NewSectionBlock(nil, fields, nil),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, sql, false, false), nil, nil),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, riskText, false, false), nil, nil),
		ctx,
	}
}

// target says where the statement runs and with which privileges: the target, the database and the roles
// the session's just-in-time role was granted. The just-in-time role's own name is generated per session
// and tells an approver nothing, so it is shown only when the request carries no granted roles (a gateway
// older than these fields).
func (r *Renderer) target(q schemas.ApprovalRequested) string {
	s := "*Target*\n" + r.clean(q.Target, 300)
	if q.Database != "" {
		s += " · database `" + r.clean(q.Database, 200) + "`"
	}
	switch {
	case len(q.Granted) > 0:
		s += "\nas `" + r.clean(strings.Join(q.Granted, ", "), 400) + "`"
		if q.RequestedRole != "" && !slices.Contains(q.Granted, q.RequestedRole) {
			s += " (asked for `" + r.clean(q.RequestedRole, 200) + "`)"
		}
	case q.RequestedRole != "":
		s += "\nas `" + r.clean(q.RequestedRole, 200) + "`"
	default:
		s += "\nas `" + r.clean(q.Role, 200) + "` (just-in-time role)"
	}
	return s
}

// data says what the statement touches: the cardholder flag, the result columns that carry tagged
// (cardholder) data, the columns referenced and the planner's row estimate.
func (r *Renderer) data(q schemas.ApprovalRequested) string {
	st := q.Statement
	lines := []string{"*Data*"}
	switch {
	case CardholderExport(st):
		lines = append(lines, ":warning: exports cardholder data")
	case st.Cardholder:
		lines = append(lines, "cardholder data: *yes*")
	default:
		lines = append(lines, "cardholder data: no")
	}
	if len(st.ResultCardholder) > 0 {
		lines = append(lines, "tagged columns: "+r.clean(strings.Join(st.ResultCardholder, ", "), 400))
	}
	if len(st.Columns) > 0 {
		lines = append(lines, "columns: "+r.clean(strings.Join(st.Columns, ", "), 600))
	}
	if q.ExpectedRows > 0 {
		lines = append(lines, fmt.Sprintf("expected rows ≈ %d (planner estimate)", q.ExpectedRows))
	} else {
		lines = append(lines, "expected rows: unknown")
	}
	s := strings.Join(lines, "\n")
	if len(s) > maxFieldText {
		s = s[:maxFieldText]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// workloadClaims are shown first, in this order; other claims follow sorted.
var workloadClaims = []string{"repository", "workflow", "service_account", "azp", "email"}

func (r *Renderer) workload(claims map[string]string) string {
	if len(claims) == 0 {
		return "_none_"
	}
	seen := map[string]bool{}
	var lines []string
	for _, k := range workloadClaims {
		if v, ok := claims[k]; ok {
			lines = append(lines, r.clean(k, 60)+": "+r.clean(v, 200))
			seen[k] = true
		}
	}
	var rest []string
	for k := range claims {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		if len(lines) >= 8 {
			lines = append(lines, "…")
			break
		}
		lines = append(lines, r.clean(k, 60)+": "+r.clean(claims[k], 200))
	}
	s := strings.Join(lines, "\n")
	if len(s) > maxFieldText {
		s = s[:maxFieldText]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// slackDate renders t with Slack's date formatting (shown in the reader's time zone) and a UTC fallback.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time_secs}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04:05 UTC"))
}

// plain prepares text for plain_text objects (no mrkdwn there, so only length and control characters matter).
func plain(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func truncRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	return string(rs[:n-1]) + "…"
}
