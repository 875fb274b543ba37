package proxy

import (
	"context"
	"time"

	"github.com/pangate/pangate/gateway/auth"
	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/gateway/hold"
	"github.com/pangate/pangate/gateway/jit"
	"github.com/pangate/pangate/schemas"
)

// The proxy's dependencies are interfaces declared here, where they are consumed, so that unit tests can
// run the whole wire path with fakes and main can plug the real packages in.

// Verifier checks the OIDC token a client sends as its password (gateway/auth.Verifier). A refusal should be
// an *auth.Error; any other error is reported as "issuer_unavailable".
type Verifier interface {
	VerifyToken(ctx context.Context, token string) (auth.Claims, error)
}

// Credentials issues and revokes the JIT role a session connects as (gateway/jit.Manager), per target. At a
// session's end the role is disabled, the end recorded, and only then dropped (Revoke): see
// session.close.
type Credentials interface {
	Issue(ctx context.Context, session string, grants []string, notAfter time.Time) (jit.Credential, error)
	Disable(ctx context.Context, c jit.Credential) error
	Revoke(ctx context.Context, c jit.Credential) error
}

// Classifier classifies SQL strings (gateway/classify.Cache).
type Classifier interface {
	Classify(sql string) []classify.Statement
}

// Policy decides which roles an identity may use and what happens to each statement.
type Policy interface {
	// Grants returns the database roles the JIT role is granted for identity asking for role on target,
	// and the rule that allowed it; an error refuses the login (its message goes to the client).
	Grants(id schemas.Identity, target, role string) (grants []string, rule string, err error)
	// Evaluate decides one statement.
	Evaluate(in Input) Decision
	// Hash identifies the policy in force (schemas.SessionStarted.PolicyHash).
	Hash() string
}

// Input is what Policy.Evaluate sees of a statement.
type Input struct {
	Identity   schemas.Identity
	Target     string
	Database   string
	Role       string // requested role
	Statement  classify.Statement
	Cardholder bool
	// Batch holds the kinds of every statement of the same query string (policy batch_kinds); nil for a
	// statement sent alone (extended protocol).
	Batch []classify.Kind
	// DerivesCardholder and Derivations: a value derived from cardholder data leaves the statement other
	// than plain or through a masking function, and how (policy derives_cardholder_data, derivations;
	// lineage.go).
	DerivesCardholder bool
	Derivations       []string
	// Context is the statement's recorded sqlcommenter-style context (policy variable context; nil: none).
	Context map[string]string
}

// Policy actions.
const (
	ActionAllow = "allow"
	ActionDeny  = "deny"
	ActionHold  = "hold"
)

// Decision is a policy's verdict on one statement.
type Decision struct {
	Action         string // allow, deny, hold
	Rule           string
	Reason         string
	Score          int
	ApproverGroup  string
	Timeout        time.Duration
	ReasonRequired bool
}

// Holder asks a human to approve a held statement (gateway/hold.Holder). nil: held statements are refused.
type Holder interface {
	Request(ctx context.Context, req schemas.ApprovalRequested) (hold.Decision, error)
}

// AllowAll is the development policy used when no policy file is configured: an identity gets exactly the
// role it asks for and every statement is allowed. It is recorded with AllowAllHash.
type AllowAll struct{}

// Grants grants the requested role.
func (AllowAll) Grants(_ schemas.Identity, _, role string) ([]string, string, error) {
	return []string{role}, "allow-all", nil
}

// Evaluate allows.
func (AllowAll) Evaluate(Input) Decision { return Decision{Action: ActionAllow, Rule: "allow-all"} }

// Hash is the SHA-256 of no policy bytes at all (the empty string).
func (AllowAll) Hash() string { return AllowAllHash }

// AllowAllHash is the policy hash recorded when no policy file is configured: SHA-256 of zero bytes.
const AllowAllHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
