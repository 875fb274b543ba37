package classify

import (
	"fmt"
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
