package sqlcomment

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"testing"

	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/schemas"
)

func newMasker(t testing.TB) *mask.Masker {
	t.Helper()
	m, err := mask.New(mask.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// otelPython is what opentelemetry-instrumentation-psycopg 0.66b1 (enable_commenter=True) appends to a
// statement sent without parameters: '%' doubled, numbers unquoted.
const otelPython = `SELECT 1 /*db_driver='psycopg%%3A3.3.9',dbapi_level='2.0',dbapi_threadsafety=2,driver_paramstyle='pyformat',libpq_version=170006,traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/`

func TestParseComment(t *testing.T) {
	for _, tc := range []struct {
		name    string
		comment string
		want    []Pair
		err     error
	}{
		{"spec example", `/*action='%2Fparam*d',controller='index',framework='spring',traceparent='00-5bd66ef5095369c7b0d1f8f4bd33716a-c532cb4098ac3dd2-01',tracestate='congo%3Dt61rcWkgMzE%2Crojo%3D00f067aa0ba902b7'*/`,
			[]Pair{{"action", "/param*d"}, {"controller", "index"}, {"framework", "spring"},
				{"traceparent", "00-5bd66ef5095369c7b0d1f8f4bd33716a-c532cb4098ac3dd2-01"}, {"tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"}}, nil},
		{"doubled percent and bare number", `/*db_driver='psycopg%%3A3.3.9',dbapi_threadsafety=2*/`,
			[]Pair{{"db_driver", "psycopg:3.3.9"}, {"dbapi_threadsafety", "2"}}, nil},
		{"escaped quote and backslash", `/*k='it\'s \\ fine'*/`, []Pair{{"k", `it's \ fine`}}, nil},
		{"spaces around commas and inside the delimiters", "/* a='1' ,\n b='2' */", []Pair{{"a", "1"}, {"b", "2"}}, nil},
		{"empty quoted value", `/*a=''*/`, []Pair{{"a", ""}}, nil},
		{"encoded key", `/*my%20key='v'*/`, []Pair{{"my key", "v"}}, nil},
		{"plain comment", `/* fetch the cards */`, nil, ErrNotContext},
		{"plain comment with equals later", `/* plain = note */`, nil, ErrNotContext},
		{"empty comment", `/**/`, nil, ErrNotContext},
		{"unterminated quote", `/*x='*/`, nil, ErrMalformed},
		{"missing value", `/*a=*/`, nil, ErrMalformed},
		{"trailing comma", `/*a='1',*/`, nil, ErrMalformed},
		{"junk after value", `/*a='1' b='2'*/`, nil, ErrMalformed},
		{"nested comment", `/*a='1' /* b='2' */ */`, nil, ErrMalformed},
		{"bad percent escape", `/*a='%zz'*/`, nil, ErrMalformed},
		{"oversized", "/*a='" + strings.Repeat("x", MaxCommentBytes) + "'*/", nil, ErrCommentLarge},
		{"oversized plain", "/* " + strings.Repeat("x", MaxCommentBytes) + " */", nil, ErrNotContext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseComment(tc.comment)
			if !errors.Is(err, tc.err) {
				t.Fatalf("ParseComment(%.60q) error %v, want %v", tc.comment, err, tc.err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("ParseComment(%.60q) = %v, want %v", tc.comment, got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sql       string
		want      []Pair
		malformed int
	}{
		{"no comment", "SELECT 1", nil, 0},
		{"otel python", otelPython, []Pair{{"db_driver", "psycopg:3.3.9"}, {"dbapi_level", "2.0"}, {"dbapi_threadsafety", "2"},
			{"driver_paramstyle", "pyformat"}, {"libpq_version", "170006"}, {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}, 0},
		{"before the semicolon", "SELECT 1 /*a='1'*/;", []Pair{{"a", "1"}}, 0},
		{"anywhere, in text order", "SELECT /*a='1'*/ 1 FROM t /* note */ WHERE x = 2 /*b='2'*/", []Pair{{"a", "1"}, {"b", "2"}}, 0},
		// Text that only looks like a comment is SQL to PostgreSQL's scanner, so it is no context.
		{"inside a string literal", "SELECT '/*purpose=''x''*/'", nil, 0},
		{"inside a dollar quote", "SELECT $q$ /*purpose='x'*/ $q$", nil, 0},
		{"inside a quoted name", `SELECT 1 AS "/*purpose='x'*/"`, nil, 0},
		{"line comment is not read", "SELECT 1 -- /*purpose='x'*/", nil, 0},
		// The comment ends at the first */ for the server: what follows is SQL (here a syntax error), and
		// the comment itself is malformed.
		{"quote cannot swallow SQL", `SELECT 1 /*x='*/ DELETE FROM t --'*/`, nil, 1},
		{"unterminated literal: no context", "SELECT 'x /*a='1'*/", nil, 0},
		{"NUL byte: no context", "SELECT 1 /*a='1'*/\x00", nil, 0},
		{"malformed next to good", "SELECT 1 /*a=*/ /*b='2'*/", []Pair{{"b", "2"}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, malformed := Parse(tc.sql)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || malformed != tc.malformed {
				t.Fatalf("Parse(%q) = %v, %d malformed; want %v, %d", tc.sql, got, malformed, tc.want, tc.malformed)
			}
		})
	}
}

func TestParseCapsComments(t *testing.T) {
	var b strings.Builder
	b.WriteString("SELECT 1")
	for i := range MaxComments + 3 {
		fmt.Fprintf(&b, " /*k%d='v'*/", i)
	}
	got, malformed := Parse(b.String())
	if len(got) != MaxComments || malformed != 3 {
		t.Fatalf("%d pairs, %d malformed; want %d, 3", len(got), malformed, MaxComments)
	}
}

// TestRoundTrip encodes pairs as sqlcommenter does (percent-encode, escape quotes, quote, sort, join) and
// reads them back.
func TestRoundTrip(t *testing.T) {
	values := []string{"", "plain", "a,b", "x='y'", "*/ DROP TABLE cards; /*", "ünïcode ✓", "100%", "it's", `back\slash`, "a b+c"}
	for _, v := range values {
		enc := strings.ReplaceAll(url.PathEscape(v), "'", `\'`)
		sql := "SELECT 1 /*key='" + enc + "'*/"
		got, malformed := Parse(sql)
		if malformed != 0 || len(got) != 1 || got[0] != (Pair{"key", v}) {
			t.Errorf("value %q as %q: got %v, %d malformed", v, sql, got, malformed)
		}
	}
}

func TestContext(t *testing.T) {
	m := newMasker(t)
	long := strings.Repeat("é", MaxValueBytes) // 2 bytes each: cut on a rune boundary
	for _, tc := range []struct {
		name string
		sql  string
		want *schemas.StatementContext
	}{
		{"none", "SELECT 1 /* just a note */", nil},
		{"values", "SELECT 1 /*purpose='refund%20review',step='2.1'*/",
			&schemas.StatementContext{Values: map[string]string{"purpose": "refund review", "step": "2.1"}}},
		{"malformed only", `SELECT 1 /*x='*/`, &schemas.StatementContext{Malformed: 1}},
		{"PAN in a value is masked", "SELECT 1 /*ticket='card%204111111111111111%20disputed'*/",
			&schemas.StatementContext{Values: map[string]string{"ticket": "card 411111******1111 disputed"}}},
		{"PAN spread by encoding is masked", "SELECT 1 /*ticket='4111%2D1111%2D1111%2D1111'*/",
			&schemas.StatementContext{Values: map[string]string{"ticket": "4111-11**-****-1111"}}},
		{"PAN in a key is masked", "SELECT 1 /*4111111111111111='x'*/",
			&schemas.StatementContext{Values: map[string]string{"411111******1111": "x"}}},
		{"first key wins", "SELECT 1 /*purpose='a'*/ /*purpose='b'*/",
			&schemas.StatementContext{Values: map[string]string{"purpose": "a"}, Dropped: 1}},
		{"invalid key dropped", "SELECT 1 /*a%20b='1',c='2'*/",
			&schemas.StatementContext{Values: map[string]string{"c": "2"}, Dropped: 1}},
		{"long key dropped", "SELECT 1 /*" + strings.Repeat("k", MaxKeyBytes+1) + "='1'*/",
			&schemas.StatementContext{Dropped: 1}},
		{"long value cut", "SELECT 1 /*a='" + url.PathEscape(long) + "'*/",
			&schemas.StatementContext{Values: map[string]string{"a": long[:MaxValueBytes] + Ellipsis}, Truncated: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Context(tc.sql, m)
			if (got == nil) != (tc.want == nil) {
				t.Fatalf("Context(%.80q) = %+v, want %+v", tc.sql, got, tc.want)
			}
			if got == nil {
				return
			}
			if !maps.Equal(got.Values, tc.want.Values) || got.Malformed != tc.want.Malformed ||
				got.Dropped != tc.want.Dropped || got.Truncated != tc.want.Truncated {
				t.Fatalf("Context(%.80q) = %+v, want %+v", tc.sql, got, tc.want)
			}
		})
	}
}

// TestContextPANNotCutIntoPieces: a value holding a PAN right at the cap is masked before it is cut, so
// the cut never leaves a tail of the number unmasked.
func TestContextPANNotCutIntoPieces(t *testing.T) {
	m := newMasker(t)
	v := strings.Repeat("x", MaxValueBytes-8) + "4111111111111111"
	got := Context("SELECT 1 /*a='"+v+"'*/", m)
	if got == nil || got.Truncated != 1 {
		t.Fatalf("got %+v, want one truncated value", got)
	}
	if strings.Contains(got.Values["a"], "41111111") {
		t.Fatalf("value %q keeps 8 digits of the card number", got.Values["a"])
	}
}

func TestContextCaps(t *testing.T) {
	m := newMasker(t)
	var b strings.Builder
	b.WriteString("SELECT 1 /*")
	for i := range MaxPairs + 5 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "k%02d='%s'", i, strings.Repeat("v", 200))
	}
	b.WriteString("*/")
	got := Context(b.String(), m)
	total := 0
	for k, v := range got.Values {
		total += len(k) + len(v)
	}
	if total > MaxTotalBytes {
		t.Fatalf("kept %d bytes, cap %d", total, MaxTotalBytes)
	}
	if int(got.Dropped)+len(got.Values) != MaxPairs+5 || len(got.Values) == 0 {
		t.Fatalf("kept %d, dropped %d of %d pairs", len(got.Values), got.Dropped, MaxPairs+5)
	}
	if got.Values["k00"] == "" {
		t.Fatal("the first pair must be kept")
	}
}

func BenchmarkContext(b *testing.B) {
	m := newMasker(b)
	for _, sql := range []string{"SELECT pan FROM cards WHERE id = $1", otelPython} {
		b.Run(fmt.Sprintf("%.20s", sql), func(b *testing.B) {
			for b.Loop() {
				Context(sql, m)
			}
		})
	}
}
