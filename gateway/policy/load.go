package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
	"go.yaml.in/yaml/v3"
)

// Limits that keep a hostile or broken policy file from costing much.
const (
	maxPolicyBytes = 1 << 20
	maxRules       = 1000
	// evalCostLimit bounds one expression's evaluation (CEL cost units), so a rule iterating over large
	// lists cannot stall every session.
	evalCostLimit  = 100_000
	defaultTimeout = 15 * time.Minute
	maxTimeout     = 7 * 24 * time.Hour
	maxProblems    = 20
	policyVersion  = 1
)

var roleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$-]{0,62}$`)

// Load reads and compiles the policy file at path. An invalid policy is refused with an error wrapping
// ErrInvalid whose message lists each problem as "path:line: reason".
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Parse(path, data)
}

// Parse compiles a policy from data; name is used in error messages (usually the file path).
func Parse(name string, data []byte) (*Policy, error) {
	l := &loader{file: name}
	p := l.parse(data)
	if len(l.problems) > 0 {
		// In file order, so the first line printed is the first problem in the file.
		sort.SliceStable(l.problems, func(i, j int) bool {
			return l.problems[i].(*Error).Line < l.problems[j].(*Error).Line
		})
		return nil, errors.Join(l.problems...)
	}
	sum := sha256.Sum256(data)
	p.name, p.hash = name, hex.EncodeToString(sum[:])
	return p, nil
}

type loader struct {
	file     string
	problems []error
	stmtEnv  *cel.Env
	grantEnv *cel.Env
}

func (l *loader) errorf(line int, format string, args ...any) {
	if len(l.problems) < maxProblems {
		l.problems = append(l.problems, &Error{File: l.file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// identity variables, shared by grant and statement rules.
var identityDecls = []cel.EnvOption{
	cel.Variable("issuer", cel.StringType),
	cel.Variable("subject", cel.StringType),
	cel.Variable("claims", cel.MapType(cel.StringType, cel.StringType)),
	cel.Variable("groups", cel.ListType(cel.StringType)),
	cel.Variable("human", cel.BoolType),
	cel.Variable("target", cel.StringType),
	cel.Variable("role", cel.StringType),
}

var statementDecls = []cel.EnvOption{
	cel.Variable("database", cel.StringType),
	cel.Variable("kind", cel.StringType),
	cel.Variable("tags", cel.ListType(cel.StringType)),
	cel.Variable("tables", cel.ListType(cel.StringType)),
	cel.Variable("columns", cel.ListType(cel.StringType)),
	cel.Variable("functions", cel.ListType(cel.StringType)),
	cel.Variable("sql", cel.StringType),
	cel.Variable("fingerprint", cel.StringType),
	cel.Variable("copy_in", cel.BoolType),
	cel.Variable("copy_out", cel.BoolType),
	cel.Variable("cardholder", cel.BoolType),
	cel.Variable("score", cel.IntType),
	cel.Variable("batch_kinds", cel.ListType(cel.StringType)),
	cel.Variable("derives_cardholder_data", cel.BoolType),
	cel.Variable("derivations", cel.ListType(cel.StringType)),
	cel.Variable("context", cel.MapType(cel.StringType, cel.StringType)),
}

// The environments are built once: building one costs milliseconds, and an Env is safe for concurrent use.
var envs = sync.OnceValues(func() ([2]*cel.Env, error) {
	common := append([]cel.EnvOption{ext.Strings()}, identityDecls...)
	grant, err := cel.NewEnv(common...)
	if err != nil {
		return [2]*cel.Env{}, err
	}
	stmt, err := cel.NewEnv(append(common, statementDecls...)...)
	return [2]*cel.Env{stmt, grant}, err
})

func newEnvs() (stmt, grant *cel.Env, err error) {
	e, err := envs()
	return e[0], e[1], err
}

func (l *loader) parse(data []byte) *Policy {
	p := &Policy{weights: DefaultWeights}
	if len(data) > maxPolicyBytes {
		l.errorf(0, "policy file is %d bytes, more than the %d allowed", len(data), maxPolicyBytes)
		return p
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 0
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		l.errorf(line, "not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return p
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		l.errorf(0, "empty policy: want a mapping with version, grants, rules and default")
		return p
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		l.errorf(root.Line, "the policy must be a mapping with version, grants, rules and default, not a %s", kindName(root))
		return p
	}
	var err error
	l.stmtEnv, l.grantEnv, err = newEnvs()
	if err != nil {
		l.errorf(0, "internal: CEL environment: %v", err)
		return p
	}
	fields := l.mapping(root, "policy", "version", "weights", "approvals", "masking_functions", "grants", "rules", "default")
	if v, ok := fields["version"]; !ok {
		l.errorf(root.Line, "missing version: (want version: %d)", policyVersion)
	} else if n, err := strconv.Atoi(v.Value); err != nil || v.Kind != yaml.ScalarNode || n != policyVersion {
		l.errorf(v.Line, "version %q is not supported (want %d)", v.Value, policyVersion)
	}
	if w, ok := fields["weights"]; ok {
		p.weights = l.weights(w)
	}
	if m, ok := fields["masking_functions"]; ok {
		p.masking = l.maskingFunctions(m)
	}
	hold := rule{timeout: defaultTimeout}
	if a, ok := fields["approvals"]; ok {
		l.approvals(a, &hold)
	}
	if g, ok := fields["grants"]; ok {
		p.grants = l.grants(g)
	}
	if r, ok := fields["rules"]; ok {
		p.rules = l.rules(r, hold)
	} else {
		l.errorf(root.Line, "missing rules: (a list of statement rules; the first whose `when` is true decides)")
	}
	if d, ok := fields["default"]; ok {
		if def := l.rule(d, hold, true); def != nil {
			p.def = *def
		}
	} else {
		l.errorf(lastLine(root), "missing default: (the action when no rule matches, e.g. `default: {action: deny, reason: \"…\"}`)")
	}
	return p
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias"
	default:
		return "scalar"
	}
}

func lastLine(n *yaml.Node) int {
	line := n.Line
	for _, c := range n.Content {
		if l := lastLine(c); l > line {
			line = l
		}
	}
	return line
}

// mapping returns the values of a mapping node by key, reporting unknown and duplicate keys.
func (l *loader) mapping(n *yaml.Node, what string, known ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		l.errorf(n.Line, "%s must be a mapping, not a %s", what, kindName(n))
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := out[k.Value]; dup {
			l.errorf(k.Line, "%s: key %q given twice", what, k.Value)
			continue
		}
		ok := false
		for _, kn := range known {
			if k.Value == kn {
				ok = true
			}
		}
		if !ok {
			l.errorf(k.Line, "%s: unknown key %q (known: %s)", what, k.Value, strings.Join(known, ", "))
			continue
		}
		out[k.Value] = v
	}
	return out
}

func (l *loader) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		l.errorf(n.Line, "%s must be a scalar, not a %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (l *loader) boolean(n *yaml.Node, what string) bool {
	s, ok := l.scalar(n, what)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		l.errorf(n.Line, "%s: %q is not true or false", what, s)
	}
	return b
}

func (l *loader) duration(n *yaml.Node, what string) time.Duration {
	s, ok := l.scalar(n, what)
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > maxTimeout {
		l.errorf(n.Line, "%s: %q is not a duration between 1s and %s (e.g. 15m)", what, s, maxTimeout)
		return 0
	}
	return d
}

func (l *loader) weights(n *yaml.Node) map[string]int {
	out := make(map[string]int, len(DefaultWeights))
	for k, v := range DefaultWeights {
		out[k] = v
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n.Line, "weights must be a mapping of tag: weight, not a %s", kindName(n))
		return out
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			l.errorf(k.Line, "weights: %q given twice", k.Value)
		}
		seen[k.Value] = true
		if _, ok := DefaultWeights[k.Value]; !ok {
			l.errorf(k.Line, "weights: unknown key %q (a risk tag, or cardholder, human, write, table)", k.Value)
			continue
		}
		w, err := strconv.Atoi(v.Value)
		if err != nil || v.Kind != yaml.ScalarNode || w < 0 || w > 1000 {
			l.errorf(v.Line, "weights: %s: %q is not a whole number between 0 and 1000", k.Value, v.Value)
			continue
		}
		out[k.Value] = w
	}
	return out
}

var funcName = regexp.MustCompile(`^([a-z_][a-z0-9_$]*\.)?[a-z_][a-z0-9_$]*$`)

// maskingFunctions reads masking_functions: a list of function names ("mask_pan", "app.mask_pan").
func (l *loader) maskingFunctions(n *yaml.Node) map[string]bool {
	out := map[string]bool{}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n.Line, "masking_functions must be a list of function names, not a %s", kindName(n))
		return out
	}
	for _, e := range n.Content {
		name, ok := l.scalar(e, "masking_functions entry")
		if !ok {
			continue
		}
		name = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(name)), "pg_catalog.")
		if !funcName.MatchString(name) {
			l.errorf(e.Line, "masking_functions: %q is not a function name; write it as in SQL, e.g. mask_pan or app.mask_pan (no arguments)", e.Value)
			continue
		}
		out[name] = true
	}
	return out
}

func (l *loader) approvals(n *yaml.Node, hold *rule) {
	f := l.mapping(n, "approvals", "approvers", "timeout", "reason_required")
	if v, ok := f["approvers"]; ok {
		hold.approvers, _ = l.scalar(v, "approvals.approvers")
	}
	if v, ok := f["timeout"]; ok {
		hold.timeout = l.duration(v, "approvals.timeout")
	}
	if v, ok := f["reason_required"]; ok {
		hold.reasonRequired = l.boolean(v, "approvals.reason_required")
	}
}

// compile type-checks a CEL expression that must give a bool, mapping errors to file lines.
func (l *loader) compile(env *cel.Env, n *yaml.Node, what string) cel.Program {
	src, ok := l.scalar(n, what)
	if !ok {
		return nil
	}
	if strings.TrimSpace(src) == "" {
		l.errorf(n.Line, "%s: empty expression (use `true` to match everything)", what)
		return nil
	}
	// The expression's first line is on the node's line, or the next one for a block scalar (| or >).
	base := n.Line
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		base++
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		for _, e := range iss.Errors() {
			line := base
			if e.Location != nil && e.Location.Line() > 0 {
				line = base + e.Location.Line() - 1
			}
			col := 0
			if e.Location != nil {
				col = e.Location.Column() + 1
			}
			l.errorf(line, "%s: CEL error at column %d of the expression: %s", what, col, e.Message)
		}
		return nil
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		l.errorf(base, "%s: the expression gives %s, it must give a bool", what, t)
		return nil
	}
	prg, err := env.Program(ast, cel.CostLimit(evalCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		l.errorf(base, "%s: %v", what, err)
		return nil
	}
	return prg
}

func (l *loader) grants(n *yaml.Node) []*grant {
	if n.Kind != yaml.SequenceNode {
		l.errorf(n.Line, "grants must be a list of grant rules, not a %s", kindName(n))
		return nil
	}
	if len(n.Content) > maxRules {
		l.errorf(n.Line, "%d grant rules, more than %d", len(n.Content), maxRules)
		return nil
	}
	var out []*grant
	names := map[string]int{}
	for _, item := range n.Content {
		f := l.mapping(item, "grant", "name", "when", "roles", "databases", "description")
		g := &grant{line: item.Line}
		if v, ok := f["name"]; ok {
			g.name, _ = l.scalar(v, "grant name")
		}
		if g.name == "" {
			l.errorf(item.Line, "grant rule without a name")
		} else if first, dup := names[g.name]; dup {
			l.errorf(item.Line, "grant rule name %q is already used at line %d", g.name, first)
		} else {
			names[g.name] = item.Line
		}
		what := fmt.Sprintf("grant %q: when", g.name)
		if v, ok := f["when"]; ok {
			g.when = v.Value
			g.prg = l.compile(l.grantEnv, v, what)
		} else {
			l.errorf(item.Line, "grant %q: missing when: (a CEL condition on issuer, subject, claims, groups, human, target, role)", g.name)
		}
		if v, ok := f["roles"]; !ok || v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			l.errorf(item.Line, "grant %q: roles must be a non-empty list of database role names", g.name)
		} else {
			for _, r := range v.Content {
				if r.Kind != yaml.ScalarNode || !roleName.MatchString(r.Value) {
					l.errorf(r.Line, "grant %q: %q is not a valid role name (letters, digits, _ $ -; at most 63)", g.name, r.Value)
					continue
				}
				g.roles = append(g.roles, r.Value)
			}
		}
		if v, ok := f["databases"]; ok {
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				l.errorf(v.Line, "grant %q: databases must be a non-empty list of database names (omit it to allow every database the target allows)", g.name)
			} else {
				for _, d := range v.Content {
					if d.Kind != yaml.ScalarNode || d.Value == "" || len(d.Value) > 63 {
						l.errorf(d.Line, "grant %q: %q is not a database name (1-63 bytes)", g.name, d.Value)
						continue
					}
					g.databases = append(g.databases, d.Value)
				}
			}
		}
		out = append(out, g)
	}
	return out
}

func (l *loader) rules(n *yaml.Node, hold rule) []*rule {
	if n.Kind != yaml.SequenceNode {
		l.errorf(n.Line, "rules must be a list of statement rules, not a %s", kindName(n))
		return nil
	}
	if len(n.Content) > maxRules {
		l.errorf(n.Line, "%d rules, more than %d", len(n.Content), maxRules)
		return nil
	}
	var out []*rule
	names := map[string]int{}
	for _, item := range n.Content {
		r := l.rule(item, hold, false)
		if r == nil {
			continue
		}
		if r.name == DefaultRule {
			l.errorf(item.Line, "rule name %q is reserved for the default", DefaultRule)
		} else if first, dup := names[r.name]; dup {
			l.errorf(item.Line, "rule name %q is already used at line %d", r.name, first)
		} else if r.name != "" {
			names[r.name] = item.Line
		}
		out = append(out, r)
	}
	return out
}

// rule parses one statement rule, or the default (which has no name and no condition).
func (l *loader) rule(n *yaml.Node, hold rule, isDefault bool) *rule {
	known := []string{"name", "when", "action", "reason", "approvers", "timeout", "reason_required", "description"}
	if isDefault {
		known = []string{"action", "reason", "approvers", "timeout", "reason_required", "description"}
	}
	f := l.mapping(n, map[bool]string{true: "default", false: "rule"}[isDefault], known...)
	r := &rule{line: n.Line, approvers: hold.approvers, timeout: hold.timeout, reasonRequired: hold.reasonRequired}
	label := "default"
	if isDefault {
		r.name = DefaultRule
	} else {
		if v, ok := f["name"]; ok {
			r.name, _ = l.scalar(v, "rule name")
		}
		if r.name == "" {
			l.errorf(n.Line, "rule without a name")
		}
		label = fmt.Sprintf("rule %q", r.name)
		if v, ok := f["when"]; ok {
			r.when = v.Value
			r.prg = l.compile(l.stmtEnv, v, label+": when")
		} else {
			l.errorf(n.Line, "%s: missing when: (a CEL condition, e.g. kind == \"read\")", label)
		}
	}
	if v, ok := f["action"]; !ok {
		l.errorf(n.Line, "%s: missing action: (allow, deny or hold)", label)
	} else {
		switch a := Action(v.Value); a {
		case Allow, Deny, Hold:
			r.action = a
		default:
			l.errorf(v.Line, "%s: unknown action %q (want allow, deny or hold)", label, v.Value)
		}
	}
	if v, ok := f["reason"]; ok {
		r.reason, _ = l.scalar(v, label+": reason")
	}
	if v, ok := f["approvers"]; ok {
		r.approvers, _ = l.scalar(v, label+": approvers")
	}
	if v, ok := f["timeout"]; ok {
		r.timeout = l.duration(v, label+": timeout")
	}
	if v, ok := f["reason_required"]; ok {
		r.reasonRequired = l.boolean(v, label+": reason_required")
	}
	if r.reason == "" {
		switch r.action {
		case Deny:
			r.reason = fmt.Sprintf("denied by policy rule %q", r.name)
		case Hold:
			r.reason = fmt.Sprintf("held for approval by policy rule %q", r.name)
		}
	}
	if r.action == Hold && r.approvers == "" {
		l.errorf(n.Line, "%s: hold needs approvers: (here or in approvals:) naming the group that may approve", label)
	}
	return r
}
