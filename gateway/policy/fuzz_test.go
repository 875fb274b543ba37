package policy

import (
	"errors"
	"os"
	"testing"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/schemas"
)

// FuzzParsePolicy: any bytes either load or are refused with ErrInvalid; a loaded policy evaluates and
// grants without panicking.
func FuzzParsePolicy(f *testing.F) {
	if data, err := os.ReadFile(pciPath); err == nil {
		f.Add(data)
	}
	f.Add([]byte("version: 1\nrules:\n  - {name: a, when: 'kind == \"read\"', action: allow}\ndefault: {action: deny}\n"))
	f.Add([]byte("version: 1\ngrants:\n  - {name: g, when: 'claims.x == \"y\"', roles: [r]}\nrules: []\ndefault: {action: hold, approvers: ops, timeout: 1m}\n"))
	f.Add([]byte("version: 1\nweights: {no_where: 5}\nrules:\n  - name: s\n    when: |\n      score > 3 &&\n      tables.exists(t, t.startsWith(\"c\"))\n    action: deny\ndefault: {action: allow}\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("version: 1\nrules: &r [{name: a, when: 'true', action: allow}]\ndefault: *r\n"))
	stmts := classify.Classify("SELECT pan FROM cards; DELETE FROM t")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		id := schemas.Identity{Issuer: "i", Subject: "s", Claims: map[string]string{"x": "y"}}
		overall, each := p.EvaluateAll(Input{Identity: id}, stmts)
		if len(each) != len(stmts) {
			t.Fatalf("%d decisions", len(each))
		}
		switch overall.Action {
		case Allow, Deny, Hold:
		default:
			t.Fatalf("invalid action %q", overall.Action)
		}
		p.Grants(id, "t", "")
		p.Grants(id, "t", "r")
	})
}
