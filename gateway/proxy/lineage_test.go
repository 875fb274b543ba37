package proxy

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/internal/mask"
)

// lineageMasker tags cards.pan (a column, in the given schema or any) and cardholders.* (a whole table).
func lineageMasker(t testing.TB, cards string) *mask.Masker {
	t.Helper()
	m, err := mask.New(mask.Config{Columns: []string{cards + ".pan", "cardholders.*"}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDerivesCardholder(t *testing.T) {
	m := lineageMasker(t, "cards")
	tables := map[string]bool{"cards": true, "public.cards": true, "cardholders": true}
	tagged := func(table, column string) bool {
		if column == "*" {
			return tables[table]
		}
		return m.Tagged(table, column)
	}
	masking := map[string]bool{"app.mask_pan": true}
	for _, tc := range []struct {
		sql   string
		kinds []string
	}{
		{`SELECT pan FROM cards`, nil},
		{`SELECT pan AS p FROM public.cards WHERE id = $1`, nil},
		{`SELECT id FROM cards WHERE pan = $1`, nil},
		{`SELECT app.mask_pan(pan) FROM cards`, nil},
		{`SELECT upper(note) FROM cards`, nil},
		{`SELECT lower(pan) FROM cards`, []string{"function:lower"}},
		{`SELECT pan::bigint * 10 FROM cards`, []string{"operator:*", "side_effect:cast"}},
		{`SELECT row_to_json(c) FROM cards c`, []string{"function:row_to_json"}},
		{`SELECT name || '' FROM cardholders`, []string{"operator:||"}},
		{`SELECT h.expiry::text FROM cardholders h`, []string{"cast"}},
		{`SELECT pan FROM cards UNION ALL SELECT name FROM cardholders`, []string{"set_operation"}},
	} {
		st := classify.Classify(tc.sql)[0]
		derives, kinds := derivesCardholder(st, tagged, masking)
		if derives != (len(tc.kinds) > 0) || !slices.Equal(kinds, tc.kinds) {
			t.Errorf("%s: derives %v %q, want %q", tc.sql, derives, kinds, tc.kinds)
		}
	}
}

// recordPolicy allows everything and keeps the inputs it saw; it names app.mask_pan a masking function.
type recordPolicy struct {
	AllowAll
	mu  sync.Mutex
	ins []Input
}

func (p *recordPolicy) Evaluate(in Input) Decision {
	p.mu.Lock()
	p.ins = append(p.ins, in)
	p.mu.Unlock()
	return Decision{Action: ActionAllow, Rule: "ok"}
}

func (p *recordPolicy) MaskingFunctions() map[string]bool {
	return map[string]bool{"app.mask_pan": true}
}

// TestDecideSeesDerivations: the policy input of each statement carries the derivations computed with
// the gateway's mask tags and the policy's masking functions.
func TestDecideSeesDerivations(t *testing.T) {
	pol := &recordPolicy{}
	h := newHarnessPolicy(t, pol)
	// A schema-qualified tag, as main passes it: unqualified "cards" in SQL may be public.cards.
	h.srv.deps.Masker = lineageMasker(t, "public.cards")
	h.srv.cfg.cardholderTables = map[string]struct{}{"public.cards": {}, "cardholders": {}}
	fe, c, _ := h.client(t, "good")
	untilReady(t, fe)
	want := map[string]string{
		"SELECT pan FROM cards":                       "",
		"SELECT app.mask_pan(pan) FROM cards":         "",
		"SELECT encode(pan::bytea, 'hex') FROM cards": "function:encode,side_effect:cast",
		"SELECT to_json(h) FROM cardholders h":        "function:to_json",
	}
	for sql := range want {
		_, err := c.Write(queryFrame(sql))
		must(t, err)
		untilReady(t, fe)
	}
	pol.mu.Lock()
	defer pol.mu.Unlock()
	seen := 0
	for _, in := range pol.ins {
		w, ok := want[in.Statement.Text]
		if !ok {
			continue
		}
		seen++
		if in.DerivesCardholder != (w != "") || strings.Join(in.Derivations, ",") != w {
			t.Errorf("%s: DerivesCardholder %v Derivations %q, want %q", in.Statement.Text, in.DerivesCardholder, in.Derivations, w)
		}
	}
	if seen != len(want) {
		t.Fatalf("policy saw %d of the %d statements", seen, len(want))
	}
}
