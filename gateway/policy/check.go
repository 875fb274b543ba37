package policy

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/schemas"
)

// Exit statuses of RunCheck.
const (
	CheckAllowed = 0 // every statement allowed (and the grant, if claims were given)
	CheckUsage   = 2 // bad flags, unreadable or invalid policy
	CheckHeld    = 3 // at least one statement held, none denied
	CheckDenied  = 4 // a statement denied, or the identity may not have the role
)

// CheckResult is RunCheck's -json output.
type CheckResult struct {
	Policy     string           `json:"policy"`
	PolicyHash string           `json:"policy_hash"`
	Grant      *CheckGrant      `json:"grant,omitempty"`
	Statements []CheckStatement `json:"statements"`
	Decision   Decision         `json:"decision"`
	Exit       int              `json:"exit"`
}

// CheckGrant is the grant part of a CheckResult.
type CheckGrant struct {
	Roles []string `json:"roles,omitempty"`
	Rule  string   `json:"rule,omitempty"`
	Error string   `json:"error,omitempty"`
}

// CheckStatement is one statement's classification and decision in a CheckResult.
type CheckStatement struct {
	Statement  classify.Statement `json:"statement"`
	Cardholder bool               `json:"cardholder"`
	// Derivations are the ways cardholder data leaves the statement other than plain or masked
	// (policy variable derivations; derives_cardholder_data when not empty).
	Derivations []string `json:"derivations,omitempty"`
	// Context is the statement's sqlcommenter-style context (policy variable context).
	Context  map[string]string `json:"context,omitempty"`
	Decision Decision          `json:"decision"`
}

// RunCheck is the `policy check` command: it tests a query string and an identity against a policy file
// and prints the grant, each statement's classification and the decision with the rule that made it.
//
//	-policy FILE        policy file (default deploy/policy/pci.yaml)
//	-sql "…"            the query string (may hold several statements)
//	-claims '{…}'       token claims as JSON: iss, sub, groups ([]string), human (bool); other claims
//	                    become Identity.Claims (non-strings JSON-encoded)
//	-target T -database D -role R
//	-cardholder         treat every statement as touching cardholder data
//	-cardholder-objects cards,public.cards.pan   tables or table.column names that are cardholder data
//	                    (a table name tags every column of it, as the gateway's mask.tables does)
//	-json               print a CheckResult as JSON
//
// Exit status: 0 allowed, 3 held, 4 denied (statement or grant), 2 usage or invalid policy.
func RunCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policy check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("policy", "deploy/policy/pci.yaml", "policy file")
	sql := fs.String("sql", "", "SQL query string to check (required)")
	claimsJSON := fs.String("claims", "", `token claims as JSON, e.g. '{"iss":"https://issuer","sub":"repo:acme/etl","repository":"acme/etl"}'`)
	target := fs.String("target", "", "gateway target name")
	database := fs.String("database", "", "database name")
	role := fs.String("role", "", "requested database role (empty: any the policy grants)")
	cardholder := fs.Bool("cardholder", false, "treat every statement as touching cardholder data")
	objects := fs.String("cardholder-objects", "", "comma-separated tables or table.column names holding cardholder data")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return CheckUsage
	}
	if *sql == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "policy check: give the statement with -sql \"…\" (and no other arguments)")
		fs.Usage()
		return CheckUsage
	}
	p, err := Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "policy check: %v\n", err)
		return CheckUsage
	}
	var id schemas.Identity
	if *claimsJSON != "" {
		if id, err = identityFromClaims(*claimsJSON); err != nil {
			fmt.Fprintf(stderr, "policy check: -claims: %v\n", err)
			return CheckUsage
		}
	}
	res := CheckResult{Policy: *path, PolicyHash: p.Hash()}
	exit := CheckAllowed
	if *claimsJSON != "" {
		roles, rule, err := p.Grants(id, *target, *role)
		res.Grant = &CheckGrant{Roles: roles, Rule: rule}
		if err != nil {
			res.Grant.Error = err.Error()
			exit = CheckDenied
		}
	}
	stmts := classify.Classify(*sql)
	tagged := splitList(*objects)
	ins := make([]Input, len(stmts))
	for i, s := range stmts {
		ins[i] = Input{Identity: id, Target: *target, Database: *database, Role: *role, Statement: s,
			Cardholder: *cardholder || touches(s, tagged), Derivations: s.Derived(objectTagger(tagged), p.IsMaskingFunction),
			Context: statementContext(s.Text)}
	}
	overall, each := p.EvaluateEach(ins)
	for i, s := range stmts {
		res.Statements = append(res.Statements, CheckStatement{Statement: s, Cardholder: ins[i].Cardholder,
			Derivations: p.withoutMasking(ins[i].Derivations), Context: ins[i].Context, Decision: each[i]})
	}
	res.Decision = overall
	switch {
	case exit == CheckDenied || overall.Action == Deny:
		exit = CheckDenied
	case overall.Action == Hold:
		exit = CheckHeld
	}
	res.Exit = exit
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "policy check: %v\n", err)
			return CheckUsage
		}
		return exit
	}
	printCheck(stdout, p, id, *claimsJSON != "", res)
	return exit
}

func identityFromClaims(s string) (schemas.Identity, error) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return schemas.Identity{}, err
	}
	id := schemas.Identity{Claims: map[string]string{}}
	for k, v := range raw {
		switch k {
		case "iss":
			id.Issuer, _ = v.(string)
		case "sub":
			id.Subject, _ = v.(string)
		case "human":
			id.Human, _ = v.(bool)
		case "groups":
			list, ok := v.([]any)
			if !ok {
				return id, fmt.Errorf("groups must be a list of strings")
			}
			for _, g := range list {
				if gs, ok := g.(string); ok {
					id.Groups = append(id.Groups, gs)
				}
			}
		default:
			if vs, ok := v.(string); ok {
				id.Claims[k] = vs
			} else {
				b, _ := json.Marshal(v)
				id.Claims[k] = string(b)
			}
		}
	}
	return id, nil
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// touches reports whether s touches one of the tagged tables or table.column names. It is how the
// gateway's mask config decides, roughly, for the command line; the gateway has its own.
func touches(s classify.Statement, tagged []string) bool {
	for _, obj := range tagged {
		for _, t := range s.Tables {
			if t == obj || strings.HasPrefix(obj, t+".") {
				return true
			}
		}
		for _, c := range s.Columns {
			if c == obj {
				return true
			}
		}
	}
	return false
}

// objectTagger answers classify.Statement.Derived's question for the -cardholder-objects list: a
// "table.column" (or "schema.table.column") entry tags that column, a table entry every column of the
// table; "table" or "schema.table" in the question matches an entry without schema too.
func objectTagger(objects []string) func(table, column string) bool {
	type tag struct{ table, column string }
	var tags []tag
	for _, o := range objects {
		o = strings.ToLower(o)
		parts := strings.Split(o, ".")
		switch len(parts) {
		case 1:
			tags = append(tags, tag{o, "*"})
		default:
			// "a.b" is a table.column or a schema.table: count both readings.
			tags = append(tags, tag{strings.Join(parts[:len(parts)-1], "."), parts[len(parts)-1]})
			if len(parts) == 2 {
				tags = append(tags, tag{o, "*"})
			}
		}
	}
	matchTable := func(tagTable, table string) bool {
		if tagTable == table {
			return true
		}
		i := strings.LastIndexByte(table, '.')
		return i >= 0 && !strings.Contains(tagTable, ".") && table[i+1:] == tagTable
	}
	return func(table, column string) bool {
		table, column = strings.ToLower(table), strings.ToLower(column)
		for _, t := range tags {
			switch {
			case table == "":
				if t.column == column && t.column != "*" {
					return true
				}
			case !matchTable(t.table, table):
			case t.column == "*" || column == "*" || t.column == column:
				return true
			}
		}
		return false
	}
}

func printCheck(w io.Writer, p *Policy, id schemas.Identity, haveClaims bool, res CheckResult) {
	fmt.Fprintf(w, "policy:    %s (sha256 %s, %d rules)\n", res.Policy, res.PolicyHash[:12], p.Rules())
	if haveClaims {
		keys := make([]string, 0, len(id.Claims))
		for k := range id.Claims {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var claims []string
		for _, k := range keys {
			claims = append(claims, fmt.Sprintf("%s=%q", k, id.Claims[k]))
		}
		fmt.Fprintf(w, "identity:  iss=%q sub=%q groups=%v human=%v %s\n", id.Issuer, id.Subject, id.Groups, id.Human, strings.Join(claims, " "))
		if res.Grant.Error != "" {
			fmt.Fprintf(w, "grant:     REFUSED: %s\n", res.Grant.Error)
		} else {
			fmt.Fprintf(w, "grant:     %s (rule %q)\n", strings.Join(res.Grant.Roles, ", "), res.Grant.Rule)
		}
	} else {
		fmt.Fprintln(w, "grant:     not checked (no -claims)")
	}
	for i, cs := range res.Statements {
		s := cs.Statement
		text := s.Text
		if len(text) > 200 {
			text = text[:200] + "…"
		}
		fmt.Fprintf(w, "statement %d: %s\n", i+1, text)
		fmt.Fprintf(w, "  kind=%s tags=[%s] tables=[%s] columns=[%s] functions=[%s] cardholder=%v score=%d\n",
			s.Kind, strings.Join(s.Tags, " "), strings.Join(s.Tables, " "), strings.Join(s.Columns, " "),
			strings.Join(s.Functions, " "), cs.Cardholder, cs.Decision.Score)
		if s.Error != "" {
			fmt.Fprintf(w, "  parse error: %s\n", s.Error)
		}
		if len(cs.Derivations) > 0 {
			fmt.Fprintf(w, "  derives cardholder data: %s\n", strings.Join(cs.Derivations, ", "))
		}
		fmt.Fprintf(w, "  decision: %s\n", describe(cs.Decision))
	}
	if len(res.Statements) == 0 {
		fmt.Fprintln(w, "statements: none (empty query)")
	}
	fmt.Fprintf(w, "result:    %s\n", describe(res.Decision))
}

func describe(d Decision) string {
	s := fmt.Sprintf("%s by rule %q", strings.ToUpper(string(d.Action)), d.Rule)
	if d.Reason != "" {
		s += ": " + d.Reason
	}
	if d.Action == Hold {
		s += fmt.Sprintf(" [approvers %s, timeout %s, reason required %v]", d.ApproverGroup, d.Timeout, d.ReasonRequired)
	}
	return s
}
