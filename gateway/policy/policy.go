package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/schemas"
)

// Action is what the gateway does with a statement.
type Action string

// Actions.
const (
	Allow Action = "allow" // forward the statement
	Deny  Action = "deny"  // refuse it with the rule's reason, record query.blocked
	Hold  Action = "hold"  // wait for an approval decision before forwarding
)

// DefaultRule is the Decision.Rule when no rule matched and the policy's default decided.
const DefaultRule = "default"

// Errors.
var (
	// ErrInvalid is wrapped by every reason a policy file is refused (each an *Error with file and line).
	ErrInvalid = errors.New("invalid policy")
	// ErrNoGrant is wrapped by Grants' error when no grant rule matches the identity.
	ErrNoGrant = errors.New("no grant rule matches")
	// ErrRoleNotGranted is wrapped by Grants' error when the identity asks for a role no matching grant
	// rule gives.
	ErrRoleNotGranted = errors.New("role not granted")
	// ErrDatabaseNotGranted is wrapped by GrantsFor's error when grant rules match the identity but none
	// allows the database the session opens.
	ErrDatabaseNotGranted = errors.New("database not granted")
)

// Error is one problem in a policy file, with its position.
type Error struct {
	File string
	Line int // 1-based; 0 when the problem has no position (an empty file)
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Unwrap lets errors.Is(err, ErrInvalid) hold.
func (e *Error) Unwrap() error { return ErrInvalid }

// Input is what a statement rule sees.
type Input struct {
	Identity  schemas.Identity
	Target    string // gateway target (the upstream the session connected to)
	Database  string // database name the client asked for
	Role      string // requested role
	Statement classify.Statement
	// Cardholder is true when the statement touched a table or column tagged as cardholder data
	// (decided by the gateway from its mask config).
	Cardholder bool
	// Batch holds the kinds of every statement of the same query string (EvaluateAll fills it), so a
	// rule can say `"write" in batch_kinds`. Empty means just this statement.
	Batch []classify.Kind
	// Derivations are the ways a value computed from cardholder data leaves the statement other than
	// as a plain reference (classify.Statement.Derived: "cast", "function:lower", "side_effect:cast",
	// "write:plain", …), as the gateway decided from its tags. Evaluate drops those of the policy's
	// masking_functions; derives_cardholder_data is true when any is left (docs/policy.md).
	Derivations []string
	// Context is the statement's sqlcommenter-style context as the gateway records it (masked, capped:
	// schemas.StatementContext.Values; gateway/sqlcomment), policy variable context: why the workload says
	// it sent the statement, e.g. "purpose" or "ticket". Nil means none.
	Context map[string]string
	// Score is filled by Evaluate from the tags and objects (see Policy.Score); a caller's value is ignored.
	Score int
}

// Decision is the outcome of Evaluate.
type Decision struct {
	Action         Action        `json:"action"`
	Rule           string        `json:"rule"`                      // name of the rule that decided, or DefaultRule
	Reason         string        `json:"reason,omitempty"`          // shown to the client for deny, to approvers for hold
	Score          int           `json:"score"`                     // risk score of the statement
	ApproverGroup  string        `json:"approver_group,omitempty"`  // for hold: who may approve
	Timeout        time.Duration `json:"timeout_ns,omitempty"`      // for hold: how long to wait before the approval expires
	ReasonRequired bool          `json:"reason_required,omitempty"` // for hold: the approver must give a reason
}

// Policy is a loaded, compiled policy. It is immutable and safe for concurrent use.
type Policy struct {
	name    string
	hash    string
	weights map[string]int
	// masking are the masking_functions: a call to one of them over cardholder data is no derivation.
	masking map[string]bool
	grants  []*grant
	rules   []*rule
	def     rule
}

type rule struct {
	name           string
	line           int
	when           string
	prg            cel.Program
	action         Action
	reason         string
	approvers      string
	timeout        time.Duration
	reasonRequired bool
}

type grant struct {
	name  string
	line  int
	when  string
	prg   cel.Program
	roles []string
	// databases the grant allows a session to open; empty: any the target allows (issue 13.6).
	databases []string
}

// Name returns the name the policy was parsed under (the file path for Load).
func (p *Policy) Name() string { return p.name }

// Hash returns the hex SHA-256 of the policy file bytes (for the policy.loaded event).
func (p *Policy) Hash() string { return p.hash }

// Rules returns the number of statement rules plus grant rules (the default not counted).
func (p *Policy) Rules() int { return len(p.rules) + len(p.grants) }

// RuleNames returns the statement rule names in order, then DefaultRule.
func (p *Policy) RuleNames() []string {
	out := make([]string, 0, len(p.rules)+1)
	for _, r := range p.rules {
		out = append(out, r.name)
	}
	return append(out, DefaultRule)
}

func (r *rule) decision(score int, derivations []string) Decision {
	reason := r.reason
	if strings.Contains(reason, derivationsPlaceholder) {
		list := strings.Join(derivations, ", ")
		if list == "" {
			list = "none"
		}
		reason = strings.ReplaceAll(reason, derivationsPlaceholder, list)
	}
	d := Decision{Action: r.action, Rule: r.name, Reason: reason, Score: score}
	if r.action == Hold {
		d.ApproverGroup, d.Timeout, d.ReasonRequired = r.approvers, r.timeout, r.reasonRequired
	}
	return d
}

// celVars converts native values to CEL values once, so the rules evaluated in turn share them instead
// of each converting the same lists again.
func celVars(v map[string]any) any {
	for k, x := range v {
		v[k] = types.DefaultTypeAdapter.NativeToValue(x)
	}
	act, err := interpreter.NewActivation(v)
	if err != nil {
		return v
	}
	return act
}

func identityVars(id schemas.Identity) map[string]any {
	claims := id.Claims
	if claims == nil {
		claims = map[string]string{}
	}
	groups := id.Groups
	if groups == nil {
		groups = []string{}
	}
	return map[string]any{
		"issuer":  id.Issuer,
		"subject": id.Subject,
		"claims":  claims,
		"groups":  groups,
		"human":   id.Human,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (p *Policy) vars(in Input) map[string]any {
	v := identityVars(in.Identity)
	st := in.Statement
	batch := make([]string, 0, len(in.Batch))
	for _, k := range in.Batch {
		batch = append(batch, string(k))
	}
	if len(batch) == 0 {
		batch = append(batch, string(st.Kind))
	}
	v["target"] = in.Target
	v["database"] = in.Database
	v["role"] = in.Role
	v["kind"] = string(st.Kind)
	v["tags"] = nonNil(st.Tags)
	v["tables"] = nonNil(st.Tables)
	v["columns"] = nonNil(st.Columns)
	v["functions"] = nonNil(st.Functions)
	v["sql"] = st.Text
	v["fingerprint"] = st.Fingerprint
	v["copy_in"] = st.CopyIn
	v["copy_out"] = st.CopyOut
	v["cardholder"] = in.Cardholder
	v["score"] = int64(in.Score)
	v["batch_kinds"] = batch
	v["derivations"] = nonNil(in.Derivations)
	v["derives_cardholder_data"] = len(in.Derivations) > 0
	ctx := in.Context
	if ctx == nil {
		ctx = map[string]string{}
	}
	v["context"] = ctx
	return v
}

// derivationsPlaceholder in a rule's reason is replaced by the statement's derivations, so that the
// client and the approver read which expression kind was held ("function:lower, cast").
const derivationsPlaceholder = "{derivations}"

// MaskingFunctions returns the policy's masking_functions (lower-cased, as written in the file): calls
// the gateway lets out of cardholder data without a derivation. The map must not be modified.
func (p *Policy) MaskingFunctions() map[string]bool {
	if p == nil {
		return nil
	}
	return p.masking
}

// IsMaskingFunction reports whether name (a function as written in SQL, lower-cased, "pg_catalog."
// dropped) is one of the policy's masking_functions.
func (p *Policy) IsMaskingFunction(name string) bool {
	return p != nil && p.masking[strings.TrimPrefix(strings.ToLower(name), "pg_catalog.")]
}

// withoutMasking drops the derivations that are calls of masking functions ("function:<f>",
// "side_effect:function:<f>", "write:function:<f>").
func (p *Policy) withoutMasking(ds []string) []string {
	if len(p.masking) == 0 || len(ds) == 0 {
		return ds
	}
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		k := strings.TrimPrefix(strings.TrimPrefix(d, "side_effect:"), "write:")
		if f, ok := strings.CutPrefix(k, "function:"); ok && p.IsMaskingFunction(f) {
			continue
		}
		out = append(out, d)
	}
	return out
}

// Evaluate returns the decision of the first statement rule that matches in, or the default. It never
// panics; a rule that fails to evaluate (a missing claim, a runaway expression) denies, naming the rule.
func (p *Policy) Evaluate(in Input) (d Decision) {
	if p == nil {
		return Decision{Action: Deny, Rule: DefaultRule, Reason: "no policy loaded"}
	}
	in.Score = p.Score(in)
	in.Derivations = p.withoutMasking(in.Derivations)
	defer func() {
		if r := recover(); r != nil {
			d = Decision{Action: Deny, Rule: DefaultRule, Reason: fmt.Sprintf("policy evaluation failed: %v", r), Score: in.Score}
		}
	}()
	vars := celVars(p.vars(in))
	for _, r := range p.rules {
		ok, err := evalBool(r.prg, vars)
		if err != nil {
			return Decision{Action: Deny, Rule: r.name, Score: in.Score,
				Reason: fmt.Sprintf("policy rule %q could not be evaluated (%v); denied to be safe", r.name, err)}
		}
		if ok {
			return r.decision(in.Score, in.Derivations)
		}
	}
	return p.def.decision(in.Score, in.Derivations)
}

func evalBool(prg cel.Program, vars any) (bool, error) {
	out, _, err := prg.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("expression gave %v, not a bool", out.Type())
	}
	return b, nil
}

// EvaluateAll evaluates every statement of one query string with base as the common input (Statement
// and Batch are set per statement; base.Cardholder applies to all, or use EvaluateEach). The overall
// decision is the first deny, else the hold with the highest score, else the first statement's allow.
// An empty stmts is allowed (the client sent an empty query).
func (p *Policy) EvaluateAll(base Input, stmts []classify.Statement) (overall Decision, each []Decision) {
	ins := make([]Input, len(stmts))
	for i, s := range stmts {
		ins[i] = base
		ins[i].Statement = s
	}
	return p.EvaluateEach(ins)
}

// EvaluateEach is EvaluateAll for inputs that differ in more than the statement (for example Cardholder
// per statement). Batch is filled from the inputs' statements.
func (p *Policy) EvaluateEach(ins []Input) (overall Decision, each []Decision) {
	batch := make([]classify.Kind, len(ins))
	for i, in := range ins {
		batch[i] = in.Statement.Kind
	}
	each = make([]Decision, len(ins))
	for i, in := range ins {
		in.Batch = batch
		each[i] = p.Evaluate(in)
	}
	return Combine(each), each
}

// Combine folds per-statement decisions into one for the whole query string (Pick's rule): the first deny,
// else the hold with the highest score (the first among equals), else the first allow.
func Combine(each []Decision) Decision {
	if len(each) == 0 {
		return Decision{Action: Allow, Rule: DefaultRule, Reason: "empty query"}
	}
	i, deny := Pick(len(each), func(i int) Action { return each[i].Action }, func(i int) int { return each[i].Score })
	switch {
	case deny && each[i].Action != Deny:
		d := each[i]
		d.Action = Deny
		return d
	case i >= 0:
		return each[i]
	}
	return each[0]
}

// Pick is the one rule for combining the decisions on the statements of a query string, over any
// decision type (the gateway's proxy has its own): it returns the index of the first deny — or of the
// first action it does not know, which fails closed as a deny — with deny set; else the index of the hold
// with the highest score (the first among equals); else -1 (everything allowed; an empty action counts as
// allow).
func Pick(n int, action func(int) Action, score func(int) int) (i int, deny bool) {
	held := -1
	for i := 0; i < n; i++ {
		switch action(i) {
		case Allow, "":
		case Hold:
			if held < 0 || score(i) > score(held) {
				held = i
			}
		default:
			return i, true
		}
	}
	return held, false
}

// Grants returns the database roles a session of id may be granted on target, and the name of the grant
// rule that gave them. Grant rules are tried in order. With requestedRole empty, the roles of the first
// matching rule are returned; otherwise just requestedRole, from the first matching rule that lists it.
// The error wraps ErrNoGrant or ErrRoleNotGranted and is worded for the client (the gateway sends it
// with SQLSTATE 28000); it names the subject but never a token.
func (p *Policy) Grants(id schemas.Identity, target, requestedRole string) (roles []string, rule string, err error) {
	return p.GrantsFor(id, target, "", requestedRole)
}

// GrantsFor is Grants for a session that opens database: a grant rule that lists databases applies only
// to those (an empty database skips the check). When rules match but none allows database, the error wraps
// ErrDatabaseNotGranted and names the database and the ones that are allowed.
func (p *Policy) GrantsFor(id schemas.Identity, target, database, requestedRole string) (roles []string, rule string, err error) {
	if p == nil {
		return nil, "", fmt.Errorf("%w: no policy loaded", ErrNoGrant)
	}
	defer func() {
		if r := recover(); r != nil {
			roles, rule, err = nil, "", fmt.Errorf("%w: policy evaluation failed", ErrNoGrant)
		}
	}()
	vars := identityVars(id)
	vars["target"] = target
	vars["role"] = requestedRole
	act := celVars(vars)
	var offered, otherDBs []string
	for _, g := range p.grants {
		ok, err := evalBool(g.prg, act)
		if err != nil {
			return nil, g.name, fmt.Errorf("%w: grant rule %q could not be evaluated for subject %q: %v", ErrNoGrant, g.name, id.Subject, err)
		}
		if !ok {
			continue
		}
		if database != "" && len(g.databases) > 0 && !slices.Contains(g.databases, database) {
			otherDBs = append(otherDBs, g.databases...)
			continue
		}
		if requestedRole == "" {
			return slices.Clone(g.roles), g.name, nil
		}
		if slices.Contains(g.roles, requestedRole) {
			return []string{requestedRole}, g.name, nil
		}
		offered = append(offered, g.roles...)
	}
	if offered == nil && otherDBs != nil {
		slices.Sort(otherDBs)
		return nil, "", fmt.Errorf("%w: subject %q may not open database %q on target %q (policy allows: %s)",
			ErrDatabaseNotGranted, id.Subject, database, target, strings.Join(slices.Compact(otherDBs), ", "))
	}
	if offered != nil {
		slices.Sort(offered)
		offered = slices.Compact(offered)
		return nil, "", fmt.Errorf("%w: subject %q may not use role %q on target %q (policy grants: %s)",
			ErrRoleNotGranted, id.Subject, requestedRole, target, strings.Join(offered, ", "))
	}
	return nil, "", fmt.Errorf("%w: no grant rule of the policy matches subject %q (issuer %q) on target %q",
		ErrNoGrant, id.Subject, id.Issuer, target)
}
