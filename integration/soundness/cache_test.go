package soundness_test

import (
	"fmt"
	"testing"
)

// TestCacheKeyPoisoning (issue 11, root cause 3): pairs of texts a hand-written normaliser conflates but
// PostgreSQL lexes differently. The harmless one is sent first (and again, so its decision is cached); the
// malicious one, an UPDATE of every marker row that the policy holds, must be classified on its own and
// never run. The harmless one must run (a key that conflates the other way refuses harmless statements).
func TestCacheKeyPoisoning(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := startGateway(t, f, gwOpts{})
	upd := fmt.Sprintf("UPDATE %s SET v = %d", f.Marker, evil)
	pairs := []struct{ name, harmless, malicious string }{
		// E'' continued on the next line stays an E'' string: \' escapes there, so '\'' closes after ''.
		{"EStringContinuation", "SELECT E'a'\n'b'", "SELECT E'a'\n'\\''; " + upd + "; --'"},
		// The reverse: harmless to PostgreSQL ('\' escapes the quote in the continued E string), an UPDATE to
		// a lexer that reads the continuation as a standard string.
		{"EStringContinuationReverse", "SELECT E'a'\n'\\' ; " + upd + "; --'", "SELECT E'a'\n'\\''; " + upd + "; --'"},
		{"DollarQuoteNested", "SELECT $a$ $b$ ' $b$ $a$", "SELECT $a$ $b$ ' $a$; " + upd + "; --$b$ $a$"},
		{"DollarQuoteTagged", "SELECT $a$'$a$", "SELECT $a$'$a$; " + upd + "; --'"},
		{"NestedComment", "SELECT 1 /* /* */ ; " + upd + "; */", "SELECT 1 /* */ ; " + upd + "; /* */"},
		{"DashDashInString", "SELECT '--'' ; " + upd + "; --'", "SELECT '--' ; " + upd + "; --'"},
		{"UnicodeEscape", "SELECT U&'!0027' UESCAPE '!'", "SELECT U&'!0027' UESCAPE '!'; " + upd},
		{"BackslashInStandardString", "SELECT 'a\\' AS x", "SELECT 'a\\'; " + upd + "; --'"},
		{"QuotedIdentifier", `SELECT 1 AS "'"`, `SELECT 1 AS "'"; ` + upd + `; --"`},
	}
	var vs []variant
	for _, c := range pairs {
		vs = append(vs, variant{name: c.name, run: func(t *testing.T, w *wire, p *probe) {
			for i := 0; i < 2; i++ {
				ms := w.Query(c.harmless)
				if e := errorOf(ms); e != nil {
					t.Errorf("harmless %q refused: %v", c.harmless, *e)
				}
			}
			ms := w.Query(c.malicious)
			notRunIfRefused(p, ms, upd)
			if e := errorOf(ms); !refusedByGateway(e) {
				t.Errorf("%q (an UPDATE of every row) answered %v; want pangate's refusal (hold-unbounded-write)", c.malicious, ms)
			}
		}})
	}
	runVariants(t, g, f, vs)
}
