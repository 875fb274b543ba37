package classify

import (
	"slices"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"
)

var fuzzSeeds = []string{
	"SELECT pan FROM cards WHERE id = 1",
	"WITH d AS (DELETE FROM cards RETURNING *) SELECT * FROM d",
	"EXPLAIN (ANALYZE 0) DELETE FROM cards",
	"COPY (SELECT pan FROM cards) TO STDOUT",
	"SELECT 1; UPDATE t SET a = 2; -- c",
	"SELECT E'\\'', $a$ $ $a$, U&'\\0041', x'1F', 1e10, .5, 0x1F, 1_000 /* /* */ */",
	"SELECT set_config('role', 'x', false)",
	"selec 1",
	"SELECT 'unterminated",
	"SELECT $1, a$b, \"q\"\"id\"",
	"CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; SELECT 2; END",
}

func FuzzClassify(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	valid := map[Kind]bool{KindRead: true, KindWrite: true, KindDDL: true, KindRole: true, KindCopy: true,
		KindUtility: true, KindTransaction: true, KindUnparseable: true}
	f.Fuzz(func(t *testing.T, sql string) {
		got := Classify(sql)
		for _, s := range got {
			if !valid[s.Kind] {
				t.Fatalf("%q: invalid kind %q", sql, s.Kind)
			}
			if !strings.Contains(sql, s.Text) && s.Kind != KindUnparseable {
				t.Fatalf("%q: text %q is not part of the input", sql, s.Text)
			}
			if !slices.IsSorted(s.Tags) || !slices.IsSorted(s.Tables) || !slices.IsSorted(s.Columns) {
				t.Fatalf("%q: unsorted lists %+v", sql, s)
			}
			if (len(got) > 1) != s.HasTag(TagMultiStatement) {
				t.Fatalf("%q: multi_statement tag wrong for %d statements", sql, len(got))
			}
			if (s.Kind == KindUnparseable) != s.HasTag(TagUnparseable) {
				t.Fatalf("%q: unparseable kind/tag mismatch: %+v", sql, s)
			}
		}
		// The cache gives the same answer on a miss and on the following hit.
		c := NewCache(4)
		miss := c.Classify(sql)
		hit := c.Classify(sql)
		if len(miss) != len(got) || len(hit) != len(got) {
			t.Fatalf("%q: cache returned %d/%d statements, direct %d", sql, len(miss), len(hit), len(got))
		}
		for i := range got {
			if hit[i].Text != got[i].Text || hit[i].Kind != got[i].Kind || !slices.Equal(hit[i].Tags, got[i].Tags) ||
				!slices.Equal(hit[i].Tables, got[i].Tables) || hit[i].Fingerprint != got[i].Fingerprint {
				t.Fatalf("%q: cache hit %+v differs from direct %+v", sql, hit[i], got[i])
			}
		}
		// The cache's security property: a text differing only in literal values, answered from the
		// entry of the original, gets the classification it would get on its own.
		variant := literalVariant(sql)
		if variant == sql {
			return
		}
		direct := Classify(variant)
		if len(direct) == 1 && direct[0].Kind == KindUnparseable {
			return // the variant's literal is malformed: the server refuses it whatever we say
		}
		shared := c.Classify(variant)
		if len(shared) != len(direct) {
			t.Fatalf("%q → %q: cache gave %d statements, direct %d", sql, variant, len(shared), len(direct))
		}
		for i := range direct {
			a, b := shared[i], direct[i]
			if a.Text != b.Text || a.Kind != b.Kind || !slices.Equal(a.Tags, b.Tags) || !slices.Equal(a.Tables, b.Tables) ||
				!slices.Equal(a.Columns, b.Columns) || !slices.Equal(a.Functions, b.Functions) || a.CopyIn != b.CopyIn || a.CopyOut != b.CopyOut {
				t.Fatalf("%q → variant %q: cache %+v, direct %+v", sql, variant, a, b)
			}
		}
	})
}

// literalVariant replaces every literal the normaliser found with a different literal of the same sort.
func literalVariant(sql string) string {
	_, spans := normalize(sql)
	var b strings.Builder
	last := 0
	for _, s := range spans {
		if s.comment {
			continue
		}
		b.WriteString(sql[last:s.origStart])
		lit := sql[s.origStart:s.origEnd]
		if isDigit(lit[0]) || lit[0] == '.' {
			b.WriteString("7")
		} else {
			b.WriteString("'zz'")
		}
		last = s.origEnd
	}
	b.WriteString(sql[last:])
	return b.String()
}

// FuzzNormalize checks the normaliser against PostgreSQL's own scanner: every span it replaces as a
// literal lies within one literal token (ending where the token ends, or at whitespace inside a
// continued string), and every comment it blanks is exactly a comment token. Replacing anything else
// could let a cached classification answer for a different statement.
func FuzzNormalize(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	literal := map[pg.Token]bool{pg.Token_SCONST: true, pg.Token_USCONST: true, pg.Token_BCONST: true,
		pg.Token_XCONST: true, pg.Token_ICONST: true, pg.Token_FCONST: true}
	comment := map[pg.Token]bool{pg.Token_SQL_COMMENT: true, pg.Token_C_COMMENT: true}
	f.Fuzz(func(t *testing.T, sql string) {
		key, spans := normalize(sql)
		if key2 := Normalize(sql); key2 != key {
			t.Fatalf("%q: not deterministic", sql)
		}
		if strings.IndexByte(sql, 0) >= 0 {
			return // PostgreSQL never sees a NUL (Classify refuses it); the scanner would stop there
		}
		scan, err := pg.Scan(sql)
		if err != nil {
			return
		}
		toks := scan.GetTokens()
		for _, s := range spans {
			var tok *pg.ScanToken
			for _, tk := range toks {
				if int(tk.Start) <= s.origStart && s.origEnd <= int(tk.End) {
					tok = tk
					break
				}
			}
			if tok == nil {
				t.Fatalf("%q: span %q is inside no scanner token", sql, sql[s.origStart:s.origEnd])
			}
			if s.comment {
				if !comment[tok.Token] || int(tok.Start) != s.origStart || int(tok.End) != s.origEnd {
					t.Fatalf("%q: comment span %q vs token %v %q", sql, sql[s.origStart:s.origEnd], tok.Token, sql[tok.Start:tok.End])
				}
				continue
			}
			if !literal[tok.Token] {
				t.Fatalf("%q: literal span %q is a %v token %q", sql, sql[s.origStart:s.origEnd], tok.Token, sql[tok.Start:tok.End])
			}
			if s.origEnd != int(tok.End) && !isSpace(sql[s.origEnd]) {
				t.Fatalf("%q: literal span %q ends inside token %q", sql, sql[s.origStart:s.origEnd], sql[tok.Start:tok.End])
			}
			if s.origStart != int(tok.Start) && !isSpace(sql[s.origStart-1]) {
				t.Fatalf("%q: literal span %q starts inside token %q", sql, sql[s.origStart:s.origEnd], sql[tok.Start:tok.End])
			}
		}
	})
}
