package policy

import (
	"os"
	"strings"
	"testing"

	"github.com/pangate/pangate/gateway/classify"
)

// purposeRule is the commented example rule of the default policy, uncommented.
func purposeRule(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(pciPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "  # - name: deny-cardholder-read-without-purpose"):
			in = true
		case in && !strings.HasPrefix(l, "  #   "):
			in = false
		}
		if in {
			out = append(out, "  "+strings.TrimPrefix(l, "  # "))
		}
	}
	if len(out) < 4 {
		t.Fatalf("%s: the commented example rule deny-cardholder-read-without-purpose is missing (found %d lines)", pciPath, len(out))
	}
	return strings.Join(out, "\n")
}

// TestPurposeExampleRule: the default policy's commented example refuses a cardholder read without a
// purpose or ticket in its context, with a message naming what to add, and lets the others through.
func TestPurposeExampleRule(t *testing.T) {
	p, err := Parse("purpose.yaml", []byte("version: 1\nrules:\n"+purposeRule(t)+"\ndefault: {action: allow}\n"))
	if err != nil {
		t.Fatal(err)
	}
	read := classify.Classify("SELECT pan FROM cards")[0]
	write := classify.Classify("UPDATE cards SET brand = 'x' WHERE id = 1")[0]
	for _, tc := range []struct {
		name       string
		in         Input
		wantAction Action
	}{
		{"cardholder read without context", Input{Statement: read, Cardholder: true}, Deny},
		{"cardholder read with other keys only", Input{Statement: read, Cardholder: true, Context: map[string]string{"traceparent": "00-…", "step": "1"}}, Deny},
		{"cardholder read with purpose", Input{Statement: read, Cardholder: true, Context: map[string]string{"purpose": "refund review"}}, Allow},
		{"cardholder read with ticket", Input{Statement: read, Cardholder: true, Context: map[string]string{"ticket": "PAY-1"}}, Allow},
		{"read without cardholder data", Input{Statement: read}, Allow},
		{"cardholder write", Input{Statement: write, Cardholder: true}, Allow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := p.Evaluate(tc.in)
			if d.Action != tc.wantAction {
				t.Fatalf("%+v", d)
			}
			if d.Action == Deny && (!strings.Contains(d.Reason, "purpose=") || !strings.Contains(d.Reason, "ticket=")) {
				t.Fatalf("reason %q does not tell the workload what to add", d.Reason)
			}
		})
	}
}

// TestPolicyCheckReadsContext: `policy check` gives a statement's comments to the rules as the gateway
// does.
func TestPolicyCheckReadsContext(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/p.yaml"
	if err := os.WriteFile(path, []byte("version: 1\nrules:\n"+purposeRule(t)+"\ndefault: {action: allow}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	for _, tc := range []struct {
		sql  string
		exit int
	}{
		{"SELECT pan FROM cards", CheckDenied},
		{"SELECT pan FROM cards /*purpose='refund%20review'*/", CheckAllowed},
		// a literal that looks like a comment is no context
		{"SELECT pan FROM cards WHERE brand = '/*purpose=''x''*/'", CheckDenied},
	} {
		out.Reset()
		if got := RunCheck([]string{"-policy", path, "-sql", tc.sql, "-cardholder"}, &out, &errb); got != tc.exit {
			t.Errorf("%q: exit %d, want %d\n%s%s", tc.sql, got, tc.exit, out.String(), errb.String())
		}
	}
}
