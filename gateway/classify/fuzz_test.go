package classify

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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

// literalVariant replaces every constant token PostgreSQL's scanner finds with a different constant of
// the same token type.
func literalVariant(sql string) string {
	if strings.IndexByte(sql, 0) >= 0 {
		return sql
	}
	res, err := pg.Scan(sql)
	if err != nil {
		return sql
	}
	var b strings.Builder
	last := 0
	for _, t := range res.Tokens {
		var repl string
		switch t.Token {
		case pg.Token_ICONST:
			repl = "7"
		case pg.Token_FCONST:
			repl = "7.5"
		case pg.Token_SCONST:
			repl = "'zz'"
		case pg.Token_USCONST:
			repl = "U&'zz'"
		case pg.Token_BCONST:
			repl = "b'1'"
		case pg.Token_XCONST:
			repl = "x'1f'"
		default:
			continue
		}
		if int(t.Start) < last || int(t.End) > len(sql) {
			return sql
		}
		b.WriteString(sql[last:t.Start])
		b.WriteString(repl)
		last = int(t.End)
	}
	b.WriteString(sql[last:])
	return b.String()
}

// spacingVariant rewrites the non-empty gaps between tokens (whitespace and comments) chosen by the bits
// of mode: a comment, a newline, or nothing but one space.
func spacingVariant(sql string, mode uint16) string {
	if strings.IndexByte(sql, 0) >= 0 {
		return sql
	}
	res, err := pg.Scan(sql)
	if err != nil {
		return sql
	}
	var b strings.Builder
	last := 0
	gap := 0
	for _, t := range res.Tokens {
		if t.Token == pg.Token_SQL_COMMENT || t.Token == pg.Token_C_COMMENT {
			continue
		}
		if int(t.Start) < last || int(t.End) > len(sql) {
			return sql
		}
		if int(t.Start) > last && last > 0 {
			switch (mode >> (2 * (gap % 8))) & 3 {
			case 0:
				b.WriteString(sql[last:t.Start])
			case 1:
				b.WriteString(" /* trace=1 */ ")
			case 2:
				b.WriteString("\n")
			case 3:
				b.WriteString(" -- c\n")
			}
			gap++
		} else {
			b.WriteString(sql[last:t.Start])
		}
		b.WriteString(sql[t.Start:t.End])
		last = int(t.End)
	}
	b.WriteString(sql[last:])
	return b.String()
}

// treeModuloConstants returns pg.Parse's tree of sql with every location and every A_Const's value
// zeroed (the kind of constant is kept), as protobuf bytes.
func treeModuloConstants(t *testing.T, sql string) ([]byte, bool) {
	tree, err := pg.Parse(sql)
	if err != nil {
		return nil, false
	}
	zeroLocations(tree.ProtoReflect())
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(tree)
	if err != nil {
		t.Fatalf("marshal parse tree of %q: %v", sql, err)
	}
	return b, true
}

func zeroLocations(m protoreflect.Message) {
	if m == nil || !m.IsValid() {
		return
	}
	if a, ok := m.Interface().(*pg.A_Const); ok {
		switch v := a.Val.(type) {
		case *pg.A_Const_Ival:
			a.Val = &pg.A_Const_Ival{Ival: &pg.Integer{}}
		case *pg.A_Const_Fval:
			a.Val = &pg.A_Const_Fval{Fval: &pg.Float{}}
		case *pg.A_Const_Sval:
			a.Val = &pg.A_Const_Sval{Sval: &pg.String{}}
		case *pg.A_Const_Bsval:
			a.Val = &pg.A_Const_Bsval{Bsval: &pg.BitString{}}
		case *pg.A_Const_Boolval:
			a.Val = &pg.A_Const_Boolval{Boolval: &pg.Boolean{}}
		default:
			_ = v
		}
		a.Location = 0
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.Int32Kind && (strings.HasSuffix(string(fd.Name()), "location") || fd.Name() == "stmt_len"):
			m.Clear(fd)
		case fd.Message() == nil || fd.IsMap():
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				zeroLocations(l.Get(i).Message())
			}
		default:
			zeroLocations(v.Message())
		}
		return true
	})
}

// FuzzCacheKeySameTree is the differential check of the cache key (issue 11): whenever the Cache answers a
// text from the entry of another text, PostgreSQL's parse trees of the two are equal apart from constant
// values and locations, and the answer equals classifying the text on its own. Variants change
// constants (same token type) and the whitespace/comments between tokens.
func FuzzCacheKeySameTree(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, uint16(0x1b))
	}
	for _, s := range keySeeds {
		f.Add(s, uint16(0x2d))
	}
	f.Fuzz(func(t *testing.T, sql string, mode uint16) {
		for _, variant := range []string{literalVariant(sql), spacingVariant(sql, mode), spacingVariant(literalVariant(sql), mode)} {
			if variant == sql {
				continue
			}
			c := NewCache(4)
			c.Classify(sql)
			h0, _ := c.Stats()
			got := c.Classify(variant)
			if h1, _ := c.Stats(); h1 == h0 {
				continue // not answered from sql's entry
			}
			a, okA := treeModuloConstants(t, sql)
			b, okB := treeModuloConstants(t, variant)
			if !okA {
				t.Fatalf("%q: an unparseable text's entry answered for %q", sql, variant)
			}
			if !okB {
				// The server refuses the variant whatever we say (for example a malformed U&'' escape):
				// nothing runs. Never the reverse: sql parsed.
				continue
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("%q and %q share a cache entry but parse differently", sql, variant)
			}
			want := Classify(variant)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%q answered from the entry of %q:\n cache  %+v\n direct %+v", variant, sql, got, want)
			}
		}
	})
}

// keySeeds are texts around the scanner's corner cases: strings continued across lines, escape strings,
// constants the grammar does not keep as constants.
var keySeeds = []string{
	"SELECT 'a'\n'b' FROM t",
	"SELECT E'a\\'\n'b', 1 FROM t",
	"SELECT E'\\'' AS x FROM cards; DELETE FROM cards",
	"COPY t FROM '/tmp/a'",
	"FETCH 5 FROM c",
	"SELECT 1::float(10), -1, - 2.5, x'1f', b'10', U&'d\\0061t' UESCAPE '!'",
	"EXPLAIN (ANALYZE 0) DELETE FROM cards",
	"SET client_encoding = 'UTF8'",
	"SELECT set_config('application_name', 'x', false)",
	"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
	"SELECT * FROM t /* trace=abc */ WHERE id = 1 -- end",
}
