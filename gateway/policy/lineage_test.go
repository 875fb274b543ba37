package policy

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/pangate/pangate/gateway/classify"
)

// cardsPan tags cards.pan (and cards as a table holding cardholder data), as the example gateway config does.
func cardsPan(table, column string) bool {
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		table = table[i+1:]
	}
	return table == "cards" && (column == "pan" || column == "*")
}

// TestPCIHoldsDerivedCardholder: the default policy holds a statement deriving cardholder data before
// any allow rule, names the expression kind in its reason, and allows plain references and tagged
// columns used only to filter.
func TestPCIHoldsDerivedCardholder(t *testing.T) {
	p := loadPCI(t)
	for _, tc := range []struct {
		sql    string
		action Action
		kind   string
	}{
		{"SELECT lower(pan) FROM cards", Hold, "function:lower"},
		{"SELECT pan::bigint * 10 FROM cards", Hold, "operator:*"},
		{"SELECT row_to_json(c) FROM cards c", Hold, "function:row_to_json"},
		{"SELECT 1 FROM cards WHERE pg_notify('c', pan) IS NULL", Hold, "side_effect:function:pg_notify"},
		{"INSERT INTO exfil SELECT pan FROM cards", Hold, "write:plain"},
		{"SELECT pan FROM cards", Allow, ""},
		{"SELECT id FROM cards WHERE pan = $1", Allow, ""},
		{"SELECT count(*) FROM cards GROUP BY pan", Allow, ""},
	} {
		st := classify.Classify(tc.sql)[0]
		in := Input{Identity: etl, Target: "payments", Statement: st, Cardholder: true,
			Derivations: st.Derived(cardsPan, p.IsMaskingFunction)}
		d := p.Evaluate(in)
		if d.Action != tc.action {
			t.Errorf("%q: %s by %q (%s), want %s", tc.sql, d.Action, d.Rule, d.Reason, tc.action)
			continue
		}
		if tc.action == Hold && (d.Rule != "hold-derived-cardholder" || !strings.Contains(d.Reason, tc.kind)) {
			t.Errorf("%q: held by %q with reason %q, want hold-derived-cardholder naming %q", tc.sql, d.Rule, d.Reason, tc.kind)
		}
	}
}

const maskingPolicy = `version: 1
masking_functions: [app.mask_pan, Right]
rules:
  - name: hold-derived
    when: derives_cardholder_data
    action: hold
    reason: "derived: {derivations}"
    approvers: team
  - name: count
    when: size(derivations) == 0 && kind == "read"
    action: allow
default:
  action: deny
`

// TestMaskingFunctions: the policy's masking_functions are no derivation, in any channel; other
// derivations stay, and the variables agree.
func TestMaskingFunctions(t *testing.T) {
	p, err := Parse("masking.yaml", []byte(maskingPolicy))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		derivations []string
		rule        string
		reason      string
	}{
		{[]string{"function:app.mask_pan"}, "count", ""},
		{[]string{"function:right", "side_effect:function:right", "write:function:app.mask_pan"}, "count", ""},
		{[]string{"function:mask_pan"}, "hold-derived", "derived: function:mask_pan"}, // unqualified: another function
		{[]string{"cast", "function:right"}, "hold-derived", "derived: cast"},
		{nil, "count", ""},
	} {
		d := p.Evaluate(Input{Statement: classify.Statement{Kind: classify.KindRead}, Derivations: tc.derivations})
		if d.Rule != tc.rule || d.Reason != tc.reason {
			t.Errorf("%q: rule %q reason %q, want %q %q", tc.derivations, d.Rule, d.Reason, tc.rule, tc.reason)
		}
	}
	if !p.IsMaskingFunction("pg_catalog.right") || p.IsMaskingFunction("left") || len(p.MaskingFunctions()) != 2 {
		t.Errorf("masking functions %v", p.MaskingFunctions())
	}
}

func TestMaskingFunctionsInvalid(t *testing.T) {
	for _, bad := range []string{`masking_functions: mask_pan`, `masking_functions: ["right(pan, 4)"]`, `masking_functions: ["a.b.c"]`} {
		src := strings.Replace(maskingPolicy, "masking_functions: [app.mask_pan, Right]", bad, 1)
		_, err := Parse("bad.yaml", []byte(src))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "bad.yaml:2: masking_functions") {
			t.Errorf("%s: error %v, want bad.yaml:2: masking_functions …", bad, err)
		}
	}
}

// TestCheckShowsDerivation: `policy check` prints the derivation and the hold.
func TestCheckShowsDerivation(t *testing.T) {
	var out, errb bytes.Buffer
	code := RunCheck([]string{"-policy", pciPath, "-sql", "SELECT encode(pan::bytea, 'hex') FROM cards", "-cardholder-objects", "cards.pan"}, &out, &errb)
	if code != CheckHeld || !strings.Contains(out.String(), "derives cardholder data: function:encode") ||
		!strings.Contains(out.String(), `HOLD by rule "hold-derived-cardholder"`) {
		t.Errorf("exit %d, output:\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	code = RunCheck([]string{"-policy", pciPath, "-sql", "SELECT name || '' FROM cardholders", "-cardholder-objects", "cardholders"}, &out, &errb)
	if code != CheckHeld || !strings.Contains(out.String(), "operator:||") {
		t.Errorf("whole-table object: exit %d, output:\n%s", code, out.String())
	}
}
