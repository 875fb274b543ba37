package classify

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"
)

func TestCacheHitMiss(t *testing.T) {
	c := NewCache(16)
	a := c.Classify("SELECT pan FROM cards WHERE id = 1")
	b := c.Classify("SELECT pan FROM cards WHERE id = 42")
	if h, m := c.Stats(); h != 1 || m != 1 {
		t.Fatalf("stats = %d hits, %d misses; want 1, 1", h, m)
	}
	if b[0].Text != "SELECT pan FROM cards WHERE id = 42" {
		t.Errorf("hit text = %q, want the caller's own text", b[0].Text)
	}
	if a[0].Fingerprint != b[0].Fingerprint || !slices.Equal(a[0].Columns, b[0].Columns) || a[0].Kind != b[0].Kind {
		t.Errorf("hit differs from miss: %+v vs %+v", a[0], b[0])
	}
	c.Classify("SELECT name FROM cards WHERE id = 1")
	if h, m := c.Stats(); h != 1 || m != 2 {
		t.Fatalf("stats = %d hits, %d misses; want 1, 2", h, m)
	}
}

func TestCacheMultiStatementText(t *testing.T) {
	c := NewCache(16)
	c.Classify("SELECT 'a' ; DELETE FROM t WHERE id = 1 -- x")
	got := c.Classify("SELECT 'longer literal' ; DELETE FROM t WHERE id = 12345 -- comment differs")
	if h, _ := c.Stats(); h != 1 {
		t.Fatalf("want a hit, got %d hits", h)
	}
	want := []string{"SELECT 'longer literal'", "DELETE FROM t WHERE id = 12345 -- comment differs"}
	if len(got) != 2 || got[0].Text != want[0] || got[1].Text != want[1] {
		t.Errorf("texts = %q, want %q", []string{got[0].Text, got[1].Text}, want)
	}
}

// A literal that changes what a statement does must not let a harmless variant's entry answer for it.
func TestCacheLiteralSensitive(t *testing.T) {
	c := NewCache(16)
	pairs := [][2]string{
		{"EXPLAIN (ANALYZE 0) DELETE FROM cards", "EXPLAIN (ANALYZE 1) DELETE FROM cards"},
		{"SELECT set_config('application_name', 'x', false)", "SELECT set_config('role', 'postgres', false)"},
		{"SELECT set_config('statement_timeout', '1', false)", "SELECT set_config('log_statement', 'none', false)"},
	}
	for _, p := range pairs {
		harmless := c.Classify(p[0])[0]
		risky := c.Classify(p[1])[0]
		direct := Classify(p[1])[0]
		if risky.Kind != direct.Kind || !slices.Equal(risky.Tags, direct.Tags) {
			t.Errorf("%q via cache = %s %v, direct = %s %v (harmless variant %s %v)",
				p[1], risky.Kind, risky.Tags, direct.Kind, direct.Tags, harmless.Kind, harmless.Tags)
		}
	}
}

// An unparseable string's error quotes the input: it must never be served for another text.
func TestCacheUnparseableExact(t *testing.T) {
	c := NewCache(16)
	a := c.Classify("SELEC '4111111111111111'")[0]
	b := c.Classify("SELEC '5500000000000004'")[0]
	if b.Text != "SELEC '5500000000000004'" || (a.Error != "" && a.Error == b.Error && strings.Contains(a.Error, "4111")) {
		t.Errorf("unparseable entry shared: %+v / %+v", a, b)
	}
	if b.Kind != KindUnparseable {
		t.Errorf("kind %s", b.Kind)
	}
	c.Classify("SELEC '5500000000000004'")
	if h, _ := c.Stats(); h != 1 {
		t.Errorf("identical unparseable text should hit, hits = %d", h)
	}
}

func TestCacheEviction(t *testing.T) {
	c := NewCache(2)
	c.Classify("SELECT a FROM t1")
	c.Classify("SELECT a FROM t2")
	c.Classify("SELECT a FROM t1") // t1 most recent
	c.Classify("SELECT a FROM t3") // evicts t2
	if c.Len() != 2 {
		t.Fatalf("len = %d, want 2", c.Len())
	}
	h0, _ := c.Stats()
	c.Classify("SELECT a FROM t1")
	h1, _ := c.Stats()
	c.Classify("SELECT a FROM t2")
	h2, _ := c.Stats()
	if h1 != h0+1 || h2 != h1 {
		t.Errorf("t1 should hit and t2 miss after eviction: hits %d→%d→%d", h0, h1, h2)
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := NewCache(8)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				sql := fmt.Sprintf("SELECT pan FROM cards_%d WHERE id = %d", i%12, g*1000+i)
				got := c.Classify(sql)
				if len(got) != 1 || got[0].Text != sql || got[0].Tables[0] != fmt.Sprintf("cards_%d", i%12) {
					t.Errorf("%q: %+v", sql, got)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if h, m := c.Stats(); h+m != 400 {
		t.Errorf("hits+misses = %d, want 400", h+m)
	}
}

func BenchmarkClassifyCold(b *testing.B) {
	sql := "SELECT c.pan, c.name, o.total FROM cards c JOIN orders o ON o.card_id = c.id WHERE o.created > now() - interval '1 day' AND c.id = 42"
	for i := 0; i < b.N; i++ {
		Classify(sql)
	}
}

func BenchmarkClassifyCacheHit(b *testing.B) {
	sql := "SELECT c.pan, c.name, o.total FROM cards c JOIN orders o ON o.card_id = c.id WHERE o.created > now() - interval '1 day' AND c.id = 42"
	c := NewCache(1024)
	c.Classify(sql)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Classify(sql)
	}
}

func BenchmarkScanKey(b *testing.B) {
	sql := "SELECT c.pan, c.name, o.total FROM cards c JOIN orders o ON o.card_id = c.id WHERE o.created > now() - interval '1 day' AND c.id = 42"
	for i := 0; i < b.N; i++ {
		scanKey(sql)
	}
}

// Every case of the classification table, and its literal variant answered from the original's cache
// entry, gets the classification the variant gets on its own.
func TestCacheVariantsMatchDirect(t *testing.T) {
	c := NewCache(1024)
	shared := 0
	for _, tc := range singleCases {
		variant := literalVariant(tc.sql)
		c.Classify(tc.sql)
		h0, _ := c.Stats()
		got := c.Classify(variant)
		if h1, _ := c.Stats(); h1 > h0 {
			shared++
		}
		want := Classify(variant)
		if len(got) != len(want) {
			t.Fatalf("%q: %d vs %d statements", variant, len(got), len(want))
		}
		for i := range want {
			a, b := got[i], want[i]
			if a.Text != b.Text || a.Kind != b.Kind || !slices.Equal(a.Tags, b.Tags) || !slices.Equal(a.Tables, b.Tables) ||
				!slices.Equal(a.Columns, b.Columns) || !slices.Equal(a.Functions, b.Functions) || a.Error != b.Error {
				t.Errorf("%q (variant of %q): cache %+v, direct %+v", variant, tc.sql, a, b)
			}
		}
	}
	if shared < 20 {
		t.Errorf("only %d variants were answered from the cache; the test exercises too little", shared)
	}
}

// scanTokens decodes the scanner's output itself; it must agree with pg.Scan token for token.
func TestScanTokensMatchesScan(t *testing.T) {
	for _, sql := range append(append([]string{}, fuzzSeeds...), keySeeds...) {
		got, ok := scanTokens(sql)
		res, err := pg.Scan(sql)
		if !ok || err != nil {
			if ok != (err == nil) {
				t.Errorf("%q: scanTokens ok=%v, pg.Scan error %v", sql, ok, err)
			}
			continue
		}
		var want []token
		for _, tk := range res.Tokens {
			if tk.Token != pg.Token_SQL_COMMENT && tk.Token != pg.Token_C_COMMENT {
				want = append(want, token{start: tk.Start, end: tk.End, typ: tk.Token})
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: scanTokens %v, pg.Scan %v", sql, got, want)
		}
	}
}

// Issue 11 part 3: the old normaliser read a string continued on the next line in the mode of its own
// quote, while PostgreSQL continues an E” string in escape mode. So
//
//	SELECT E'a'\n'\' ; DELETE FROM cards; --'   (one SELECT of one string: \' is an escaped quote)
//	SELECT 'a'\n'\' ; DELETE FROM cards; --'    (SELECT 'a\', then DELETE FROM cards)
//
// normalised to the same key, and whichever came first answered for the other.
func TestCacheKeyEStringContinuationIssue11(t *testing.T) {
	escape := "SELECT E'a'\n'\\' ; DELETE FROM cards; --'"
	standard := "SELECT 'a'\n'\\' ; DELETE FROM cards; --'"
	if k1, _, _ := scanKey(escape); k1 == func() string { k, _, _ := scanKey(standard); return k }() {
		t.Fatalf("%q and %q have the same cache key", escape, standard)
	}
	for _, order := range [][2]string{{escape, standard}, {standard, escape}} {
		c := NewCache(16)
		c.Classify(order[0])
		got := c.Classify(order[1])
		want := Classify(order[1])
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q after %q: cache %+v, direct %+v", order[1], order[0], got, want)
		}
	}
	if n := len(Classify(standard)); n != 2 {
		t.Errorf("%q: %d statements, want 2 (SELECT, DELETE)", standard, n)
	}
	if n := len(Classify(escape)); n != 1 {
		t.Errorf("%q: %d statements, want 1", escape, n)
	}
}

// Pairs the old normaliser or a careless key would conflate, and pairs that must share an entry.
func TestCacheKey(t *testing.T) {
	key := func(s string) string {
		k, _, ok := scanKey(s)
		if !ok {
			t.Fatalf("%q: scanner refused", s)
		}
		return k
	}
	same := [][2]string{
		{"SELECT * FROM t WHERE id=1", "SELECT * FROM t WHERE id = 2"},
		{"SELECT * FROM t WHERE n='a'", "SELECT * FROM t WHERE n=E'it\\'s'"},
		{"SELECT $$x$$", "SELECT $tag$y $$ z$tag$"},
		{"SELECT 'a'\n'b'", "SELECT 'c'"}, // one token either way
		{"SELECT 1 -- trace=abc\n", "SELECT 2 /* trace=def */"},
		{"SELECT x'1F'", "SELECT X'FF'"},
	}
	for _, p := range same {
		if key(p[0]) != key(p[1]) {
			t.Errorf("%q and %q have different keys", p[0], p[1])
		}
	}
	differ := [][2]string{
		{"SELECT * FROM t1", "SELECT * FROM t2"},
		{`SELECT "a" FROM t`, `SELECT "b" FROM t`},
		{"SELECT $1", "SELECT $2"},
		{"SELECT 'a' 'b'", "SELECT 'a'\n'b'"}, // two tokens (a syntax error) vs one
		{"SELECT 1", "SELECT 1.0"},            // ICONST vs FCONST
		{"SELECT 1", "SELECT '1'"},            // ICONST vs SCONST
		{"SELECT 2147483647", "SELECT 2147483648"},
		{"SELECT a.b", "SELECT ab"},
		{"SELECT x'1F'", "SELECT b'1'"},
	}
	for _, p := range differ {
		if key(p[0]) == key(p[1]) {
			t.Errorf("%q and %q share the key %q", p[0], p[1], key(p[0]))
		}
	}
}

// Constants the grammar does not keep as A_Const values are pinned: a text differing there is
// classified on its own.
func TestCachePinnedConstants(t *testing.T) {
	pairs := [][2]string{
		{"COPY cards FROM '/tmp/a'", "COPY cards FROM '/etc/x'"},
		{"FETCH 1 FROM c", "FETCH 1000 FROM c"},
		{"SELECT 1::float(10)", "SELECT 1::float(40)"},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 2'"},
	}
	for _, p := range pairs {
		c := NewCache(16)
		c.Classify(p[0])
		c.Classify(p[1])
		if h, m := c.Stats(); h != 0 || m != 2 {
			t.Errorf("%q then %q: %d hits %d misses, want 0/2", p[0], p[1], h, m)
		}
		c.Classify(p[1])
		if h, _ := c.Stats(); h != 1 {
			t.Errorf("%q again: want an exact hit, hits = %d", p[1], h)
		}
	}
	// A negative number is folded into its constant by the grammar: not pinned.
	c := NewCache(16)
	c.Classify("SELECT * FROM t WHERE id = -1")
	c.Classify("SELECT * FROM t WHERE id = -2")
	if h, _ := c.Stats(); h != 1 {
		t.Errorf("negative constants: hits = %d, want 1", h)
	}
}
