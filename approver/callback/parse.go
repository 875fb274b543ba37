package callback

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/pangate/pangate/approver/slackui"
	"github.com/pangate/pangate/schemas"
)

// ErrPayload is returned by Parse for a body that is not a click on an approval button.
var ErrPayload = errors.New("callback: not an approval button click")

// Limits on fields read from a payload; anything longer is refused rather than cut.
const (
	maxIDLen     = 128
	maxReasonLen = 500
)

// Action is a click on Approve or Deny, as read from a block_actions payload.
type Action struct {
	ApprovalID string
	Decision   string // approved or denied
	User       string // Slack user id
	UserName   string
	Team       string
	Channel    string
	MessageTS  string
	Reason     string // from the reason input, trimmed; may be empty
}

// Parse reads a form-encoded interaction body ("payload=<json>") into an Action. It never trusts the body:
// only block_actions with exactly one of the approval buttons, an id-shaped value and a user id are accepted.
// Call it only after the signature was verified.
func Parse(body []byte) (Action, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return Action{}, fmt.Errorf("%w: body is not form-encoded: %v", ErrPayload, err)
	}
	payload := form.Get("payload")
	if payload == "" {
		return Action{}, fmt.Errorf("%w: no payload field", ErrPayload)
	}
	var ic slack.InteractionCallback
	if err := json.Unmarshal([]byte(payload), &ic); err != nil {
		return Action{}, fmt.Errorf("%w: payload is not JSON: %v", ErrPayload, err)
	}
	return FromCallback(ic)
}

// FromCallback reads a decoded interaction (from an HTTP body via Parse, or from a Socket Mode "interactive"
// envelope) into an Action, with the same refusals as Parse. Call it only on an authenticated source: a
// verified HTTP signature or the Socket Mode connection the approver opened with its app-level token.
func FromCallback(ic slack.InteractionCallback) (Action, error) {
	if ic.Type != slack.InteractionTypeBlockActions {
		return Action{}, fmt.Errorf("%w: type %q", ErrPayload, truncate(string(ic.Type)))
	}
	acts := ic.ActionCallback.BlockActions
	if len(acts) != 1 || acts[0] == nil {
		return Action{}, fmt.Errorf("%w: %d actions, want 1", ErrPayload, len(acts))
	}
	a := Action{ApprovalID: acts[0].Value, User: ic.User.ID, UserName: ic.User.Name, Team: ic.Team.ID,
		Channel: ic.Channel.ID, MessageTS: ic.Container.MessageTs}
	if a.UserName == "" {
		a.UserName = ic.User.Name
	}
	switch acts[0].ActionID {
	case slackui.ActionApprove:
		a.Decision = string(schemas.OutcomeApproved)
	case slackui.ActionDeny:
		a.Decision = string(schemas.OutcomeDenied)
	default:
		return Action{}, fmt.Errorf("%w: action %q", ErrPayload, truncate(acts[0].ActionID))
	}
	if !idLike(a.ApprovalID) {
		return Action{}, fmt.Errorf("%w: button value is not an approval id", ErrPayload)
	}
	if !idLike(a.User) {
		return Action{}, fmt.Errorf("%w: no user id", ErrPayload)
	}
	if a.Channel == "" {
		a.Channel = ic.Container.ChannelID
	}
	if a.MessageTS == "" {
		a.MessageTS = ic.Message.Timestamp
	}
	if !utf8.ValidString(a.UserName) || len(a.UserName) > maxIDLen {
		a.UserName = ""
	}
	if !idLike(a.Channel) {
		a.Channel = ""
	}
	if ic.BlockActionState != nil {
		if blk, ok := ic.BlockActionState.Values[slackui.BlockReason]; ok {
			if in, ok := blk[slackui.ActionReason]; ok {
				a.Reason = strings.TrimSpace(in.Value)
			}
		}
	}
	if len(a.Reason) > maxReasonLen*4 || utf8.RuneCountInString(a.Reason) > maxReasonLen || !utf8.ValidString(a.Reason) {
		return Action{}, fmt.Errorf("%w: reason longer than %d characters or not UTF-8", ErrPayload, maxReasonLen)
	}
	return a, nil
}

// idLike accepts the characters of Slack ids, UUIDs and message timestamps.
func idLike(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.ToValidUTF8(s, "?")
}
