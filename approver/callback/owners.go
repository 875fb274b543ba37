package callback

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pangate/pangate/schemas"
)

// WorkloadOwner names the people who own a workload: they may not approve the statements their own
// workload sends, even though the workload's identity (a CI job, a service account) carries no email to
// compare with theirs. A request's workload matches when its subject or its repository claim matches
// (exactly, or by prefix when the pattern ends in "*"), and, if Issuer is set, its issuer is that one.
type WorkloadOwner struct {
	Issuer     string   `yaml:"issuer"`
	Subject    string   `yaml:"subject"`
	Repository string   `yaml:"repository"`
	Owners     []string `yaml:"owners"` // emails, compared case-insensitively with the approver's Slack email
}

// Validate says what is wrong with o.
func (o WorkloadOwner) Validate() error {
	if o.Subject == "" && o.Repository == "" {
		return errors.New("workload_owners entry names neither subject nor repository: set one of them to the workload's OIDC subject or repository claim")
	}
	if len(o.Owners) == 0 {
		return fmt.Errorf("workload_owners entry %s lists no owners: list their emails", o.name())
	}
	for _, e := range o.Owners {
		if !strings.Contains(e, "@") {
			return fmt.Errorf("workload_owners entry %s: owner %q is not an email", o.name(), e)
		}
	}
	return nil
}

func (o WorkloadOwner) name() string {
	if o.Repository != "" {
		return fmt.Sprintf("repository %q", o.Repository)
	}
	return fmt.Sprintf("subject %q", o.Subject)
}

func (o WorkloadOwner) matches(id schemas.Identity) bool {
	if o.Issuer != "" && o.Issuer != id.Issuer {
		return false
	}
	return match(o.Subject, id.Subject) || match(o.Repository, id.Claims["repository"])
}

// match is exact, or a prefix match when pattern ends in "*". An empty pattern or value never matches.
func match(pattern, v string) bool {
	if pattern == "" || v == "" {
		return false
	}
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(v, p)
	}
	return pattern == v
}

// Self-approval checks, as recorded in ApprovalDecided.SelfChecks ("<check>:<result>"; docs/approvals.md).
const (
	CheckSubjectDiffers = "subject:differs"         // the approver's Slack user id, terminal user name and email all differ from the request's subject
	CheckSubjectSame    = "subject:same"            // one of them is the subject
	CheckEmailDiffers   = "requester_email:differs" // the request's email claim is not the approver's email
	CheckEmailSame      = "requester_email:same"    // it is
	CheckEmailAbsent    = "requester_email:absent"  // the workload identity carries no email claim: not comparable
	CheckNotOwner       = "owners:not_owner"        // the workload has owners (workload_owners) and the approver is none of them
	CheckOwner          = "owners:owner"            // the approver owns the workload
	CheckNoOwners       = "owners:none"             // no workload_owners entry matches the workload
)

// SelfCheck runs the self-approval checks of an approver (a Slack user id or a terminal user name, and
// the approver's email) against the request's identity and the owners of its workload. checks lists every
// check made, for the decision event; self is true when any of them found the approver to be the requester
// or an owner of the requesting workload, and why then says which.
func SelfCheck(id schemas.Identity, user, email string, owners []WorkloadOwner) (checks []string, self bool, why string) {
	same := func(a, b string) bool {
		return a != "" && b != "" && strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	if same(user, id.Subject) || same(email, id.Subject) {
		checks, self, why = append(checks, CheckSubjectSame), true, "you are the request's subject"
	} else {
		checks = append(checks, CheckSubjectDiffers)
	}
	switch reqEmail := id.Claims["email"]; {
	case strings.TrimSpace(reqEmail) == "":
		checks = append(checks, CheckEmailAbsent)
	case same(reqEmail, email) || same(reqEmail, user):
		checks, self = append(checks, CheckEmailSame), true
		if why == "" {
			why = "your email is the request's email"
		}
	default:
		checks = append(checks, CheckEmailDiffers)
	}
	matched, owner := false, ""
	for _, o := range owners {
		if !o.matches(id) {
			continue
		}
		matched = true
		for _, e := range o.Owners {
			if same(e, email) {
				owner = o.name()
			}
		}
	}
	switch {
	case owner != "":
		checks, self = append(checks, CheckOwner), true
		if why == "" {
			why = "you own the requesting workload (workload_owners " + owner + ")"
		}
	case matched:
		checks = append(checks, CheckNotOwner)
	default:
		checks = append(checks, CheckNoOwners)
	}
	return checks, self, why
}

// SelfApproval reports whether the approver (Slack user id or terminal user, and email) is the identity that
// made the request: its subject or its email claim. SelfCheck also knows the workload's owners.
func SelfApproval(id schemas.Identity, user, email string) bool {
	_, self, _ := SelfCheck(id, user, email, nil)
	return self
}
