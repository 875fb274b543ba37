package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"time"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/schemas"
)

// Action is what the gateway does with a statement.
type Action string

// Actions.
const (
	Allow Action = "allow" // forward the statement
	Deny  Action = "deny"  // refuse it with the rule's reason (SQLSTATE 42501), record query.blocked
	Hold  Action = "hold"  // wait for an approval decision before forwarding
)

// Errors.
var (
	// ErrInvalid wraps every reason a policy file is refused; the message starts with file:line.
	ErrInvalid = errors.New("invalid policy")
	// ErrNoGrant is returned by Grants when no grant rule matches the identity.
	ErrNoGrant = errors.New("no grant rule matches")
	// ErrRoleNotGranted is returned by Grants when the identity asks for a role its grant rule does not give.
	ErrRoleNotGranted = errors.New("role not granted")
)

// Input is what a statement rule sees.
type Input struct {
	Identity  schemas.Identity
	Target    string // gateway target (upstream database name in the gateway config)
	Database  string // database name the client asked for
	Role      string // requested role
	Statement classify.Statement
	// Cardholder is true when the statement touched a table or column tagged as cardholder data
	// (decided by the gateway from its mask config).
	Cardholder bool
	// Batch holds the kinds of every statement of the same query string (filled by EvaluateAll), so a
	// rule can say `"write" in batch_kinds`.
	Batch []classify.Kind
	// Score is filled by Evaluate from the tags and objects (see Score); a value set by the caller is ignored.
	Score int
}

// Decision is the outcome of Evaluate.
type Decision struct {
	Action         Action
	Rule           string        // name of the rule that decided, or "default"
	Reason         string        // shown to the client for deny, to approvers for hold
	Score          int           // risk score of the statement
	ApproverGroup  string        // for hold: who may approve
	Timeout        time.Duration // for hold: how long to wait before the approval expires
	ReasonRequired bool          // for hold: the approver must give a reason
}

// Policy is a loaded, compiled policy. It is immutable and safe for concurrent use.
type Policy struct {
	name  string
	hash  string
	rules int
}

// Load reads and compiles the policy file at path. An invalid policy is refused with an error wrapping
// ErrInvalid whose message starts with "path:line: ".
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse compiles a policy from data; name is used in error messages (usually the file path).
func Parse(name string, data []byte) (*Policy, error) {
	sum := sha256.Sum256(data)
	return &Policy{name: name, hash: hex.EncodeToString(sum[:])}, nil
}

// Name returns the name the policy was parsed under (the file path for Load).
func (p *Policy) Name() string { return p.name }

// Hash returns the hex SHA-256 of the policy file bytes (for the policy.loaded event).
func (p *Policy) Hash() string { return p.hash }

// Rules returns the number of statement rules plus grant rules.
func (p *Policy) Rules() int { return p.rules }

// Score returns the risk score of in (see docs/policy.md for the weights).
func (p *Policy) Score(in Input) int { return 0 }

// Evaluate returns the decision of the first statement rule that matches in, or the default. It never
// panics; a rule that fails to evaluate denies.
func (p *Policy) Evaluate(in Input) Decision {
	return Decision{Action: Deny, Rule: "default", Reason: "not implemented"}
}

// EvaluateAll evaluates every statement of one query string with base as the common input (Statement
// and Batch are filled per statement). The overall decision is the first deny, else the hold with the
// highest score, else allow.
func (p *Policy) EvaluateAll(base Input, stmts []classify.Statement) (overall Decision, each []Decision) {
	return Decision{Action: Deny, Rule: "default", Reason: "not implemented"}, nil
}

// Grants returns the database roles a session of id may be granted on target, and the name of the grant
// rule that gave them. With requestedRole empty it returns all roles of the first matching grant rule;
// otherwise just requestedRole, if that rule gives it. The error (wrapping ErrNoGrant or
// ErrRoleNotGranted) is worded for the client: the gateway sends it with SQLSTATE 28000.
func (p *Policy) Grants(id schemas.Identity, target, requestedRole string) (roles []string, rule string, err error) {
	return nil, "", ErrNoGrant
}
