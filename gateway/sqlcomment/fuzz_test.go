package sqlcomment

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzContext feeds statement texts to the reader: it must never panic, and what it records must hold
// no card number, only valid keys and values within the caps.
func FuzzContext(f *testing.F) {
	for _, s := range []string{
		otelPython,
		"SELECT 1 /*purpose='refund%20review',step='2.1'*/;",
		`SELECT 1 /*x='*/ DELETE FROM t --'*/`,
		"SELECT 1 /*ticket='4111%2D1111%2D1111%2D1111',4111111111111111='x'*/",
		"SELECT '/*a=''b''*/' /*k='it\\'s',n=2 , m='%%25'*/",
		"SELECT 1 /*a='1' /* b='2' */ */",
	} {
		f.Add(s)
	}
	m := newMasker(f)
	f.Fuzz(func(t *testing.T, sql string) {
		c := Context(sql, m)
		if c == nil {
			return
		}
		if len(c.Values) > MaxPairs {
			t.Fatalf("%d pairs kept, cap %d", len(c.Values), MaxPairs)
		}
		total := 0
		for k, v := range c.Values {
			total += len(k) + len(v)
			if k == "" || len(k) > MaxKeyBytes || !utf8.ValidString(v) {
				t.Fatalf("key %q value %q", k, v)
			}
			if len(v) > MaxValueBytes+len(Ellipsis) {
				t.Fatalf("value of %d bytes, cap %d", len(v), MaxValueBytes)
			}
			for _, s := range []string{k, strings.TrimSuffix(v, Ellipsis)} {
				if _, n := m.Stored(s); n != 0 {
					t.Fatalf("recorded %q still holds %d card numbers", s, n)
				}
			}
		}
		if total > MaxTotalBytes {
			t.Fatalf("%d bytes kept, cap %d", total, MaxTotalBytes)
		}
	})
}
