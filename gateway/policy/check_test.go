package policy

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func runCheck(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := RunCheck(args, &out, &errb)
	return code, out.String(), errb.String()
}

const etlClaims = `{"iss":"https://token.actions.githubusercontent.com","sub":"repo:acme/payments-etl:ref:refs/heads/main","repository":"acme/payments-etl","ref":"refs/heads/main","run_number":7}`

func TestRunCheck(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"allow read", []string{"-policy", pciPath, "-sql", "SELECT pan FROM cards WHERE id = 1", "-claims", etlClaims},
			CheckAllowed, []string{`grant:     app_reader, app_writer (rule "ci-etl-writer")`, `ALLOW by rule "allow-read"`, "kind=read"}},
		{"hold delete", []string{"-policy", pciPath, "-sql", "DELETE FROM cards"},
			CheckHeld, []string{`HOLD by rule "hold-unbounded-write"`, "approvers payments-approvers", "not checked"}},
		{"hold copy out of cardholder table", []string{"-policy", pciPath, "-sql", "COPY (SELECT c.pan FROM public.cards c) TO STDOUT", "-cardholder-objects", "public.cards.pan"},
			CheckHeld, []string{`HOLD by rule "hold-copy-out-cardholder"`, "cardholder=true"}},
		{"deny external", []string{"-policy", pciPath, "-sql", "SELECT pg_read_file('/etc/passwd')"},
			CheckDenied, []string{`DENY by rule "deny-external-access"`, "external_access"}},
		{"grant refused", []string{"-policy", pciPath, "-sql", "SELECT 1", "-claims", `{"iss":"https://evil","sub":"mallory"}`},
			CheckDenied, []string{"grant:     REFUSED", "mallory"}},
		{"role not granted", []string{"-policy", pciPath, "-sql", "SELECT 1", "-role", "app_admin", "-claims", etlClaims},
			CheckDenied, []string{`may not use role "app_admin"`}},
		{"multi statement", []string{"-policy", pciPath, "-sql", "SELECT 1; INSERT INTO t VALUES (1)"},
			CheckHeld, []string{"statement 2: INSERT INTO t VALUES (1)", `"hold-multi-statement-write"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCheck(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestRunCheckJSON(t *testing.T) {
	code, out, errs := runCheck("-policy", pciPath, "-json", "-sql", "CREATE TABLE x (a int)", "-claims", etlClaims)
	if code != CheckHeld {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	var res CheckResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if res.Decision.Action != Hold || res.Decision.Rule != "hold-ddl" || !res.Decision.ReasonRequired ||
		len(res.Statements) != 1 || res.Statements[0].Statement.Kind != "ddl" || res.Grant == nil || res.Grant.Rule != "ci-etl-writer" || len(res.PolicyHash) != 64 {
		t.Errorf("%+v", res)
	}
}

func TestRunCheckUsage(t *testing.T) {
	if code, _, errs := runCheck("-policy", pciPath); code != CheckUsage || !strings.Contains(errs, "-sql") {
		t.Errorf("missing -sql: %d %s", code, errs)
	}
	if code, _, errs := runCheck("-policy", "testdata/nope.yaml", "-sql", "SELECT 1"); code != CheckUsage || errs == "" {
		t.Errorf("missing policy: %d %s", code, errs)
	}
	if code, _, errs := runCheck("-policy", pciPath, "-sql", "SELECT 1", "-claims", "{not json"); code != CheckUsage || !strings.Contains(errs, "-claims") {
		t.Errorf("bad claims: %d %s", code, errs)
	}
	if code, _, _ := runCheck("-nope"); code != CheckUsage {
		t.Errorf("unknown flag: %d", code)
	}
}
