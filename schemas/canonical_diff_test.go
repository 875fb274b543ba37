package schemas

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// checkCanonicalSame fails t unless Canonical and canonicalReference agree on b: same bytes, or both
// refusing with ErrNotCanonicalizable.
func checkCanonicalSame(t *testing.T, b []byte) {
	t.Helper()
	want, werr := canonicalReference(b)
	got, gerr := Canonical(b)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("input %q: reference err %v, scanner err %v", b, werr, gerr)
	}
	if werr != nil {
		if !errors.Is(gerr, ErrNotCanonicalizable) {
			t.Fatalf("input %q: error %v does not wrap ErrNotCanonicalizable", b, gerr)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("input %q:\nreference %q\nscanner   %q", b, want, got)
	}
}

// canonicalEdgeCases are inputs where encoding/json has a quirk the scanner must share.
var canonicalEdgeCases = []string{
	``, ` `, `1`, `-`, `-0`, `0`, `00`, `01`, `-01`, `1.`, `.1`, `1.0`, `1e3`, `1E+3`, `-1`, `+1`, `1 `, ` 1`,
	`1]`, `1}`, `1 ]x`, `{}}`, `[]]`, `{}]`, `"a"}`, `null]]]`, `1x`, `1 2`, `{} {}`, `[] x`, `{"a":1}  }garbage`,
	`true`, `tru`, `truex`, `nul`, `false `, `[`, `]`, `{`, `}`, `[1,]`, `{"a":1,}`, `{,}`, `[,1]`, `{"a"}`, `{"a":}`,
	`{"a" : 1 , "b" : [ ] }`, "\t\n\r {\"a\"\n:\r1}", "\v1", "\u00a01",
	`{"a":1,"a":2}`, `{"a":1.5,"a":1}`, `{"a":1,"a":1.5}`, `{"a":1,"\u0061":2}`, `{"\u0061":1,"a":2}`,
	`{"b":1,"a":2,"b":3,"a":{"x":1},"a":[1]}`, `{"a":{"x":1.5},"a":{"y":2}}`,
	`"\ud800"`, `"\ud800\udc00"`, `"\udc00\ud800"`, `"\ud800\u0041"`, `"\ud800x"`, `"\ud83d\ude00"`, `"\uD83D\uDE00"`,
	`"\u0000\u001f\u007f\u0080\u2028"`, `"\/\b\f\n\r\t\"\\"`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\x01\"", "\"a\x7f\"",
	`{"\n":1,"\u0001":2," ":3}`, `{"é":1,"e":2,"\u00e9":3}`, `["a","\"",1,-2,true,false,null,{},[]]`,
	"\"\xff\"", "\"\xed\xa0\x80\"", "{\"a\":\"\xc3\"}",
	`123456789012345678901234567890`, `-123456789012345678901234567890`,
}

func TestCanonicalMatchesReference(t *testing.T) {
	for _, c := range canonicalEdgeCases {
		checkCanonicalSame(t, []byte(c))
	}
	for _, e := range sampleSession(t, "s-canon") {
		rec, err := Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		checkCanonicalSame(t, rec)
		checkCanonicalSame(t, e.Data)
		// Pretty-printed and reordered forms canonicalise the same way in both.
		checkCanonicalSame(t, []byte(strings.ReplaceAll(string(rec), ",", " ,\n\t")))
	}
}

func TestCanonicalNestingDepth(t *testing.T) {
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		for _, pair := range [][2]string{{"[", "]"}, {`{"a":`, "}"}} {
			doc := strings.Repeat(pair[0], depth) + strings.Repeat(pair[1], depth)
			checkCanonicalSame(t, []byte(doc))
		}
	}
	if _, err := Canonical([]byte(strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1))); err == nil {
		t.Fatal("depth beyond encoding/json's limit accepted")
	}
}

// mutate applies a few random byte-level edits that tend to stay near valid JSON.
func mutate(r *rand.Rand, b []byte) []byte {
	out := append([]byte(nil), b...)
	tokens := []string{`"`, `\`, `\u`, `\ud800`, `{`, `}`, `[`, `]`, `,`, `:`, ` `, `0`, `-`, `.5`, `e3`, `null`, `"a":1,`, `"é"`, "\xff", `\n`}
	for n := 1 + r.IntN(3); n > 0 && len(out) > 0; n-- {
		i := r.IntN(len(out))
		switch r.IntN(4) {
		case 0: // delete a run
			j := min(len(out), i+1+r.IntN(8))
			out = append(out[:i], out[j:]...)
		case 1: // insert a token
			tok := tokens[r.IntN(len(tokens))]
			out = append(out[:i], append([]byte(tok), out[i:]...)...)
		case 2: // duplicate a run (duplicate keys, nested copies)
			j := min(len(out), i+1+r.IntN(40))
			run := append([]byte(nil), out[i:j]...)
			k := r.IntN(len(out))
			out = append(out[:k], append(run, out[k:]...)...)
		default: // flip a byte
			out[i] = byte(r.IntN(128))
		}
	}
	return out
}

func TestCanonicalMutationsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var seeds [][]byte
	for _, e := range sampleSession(t, "s-mut") {
		rec, _ := Marshal(e)
		seeds = append(seeds, rec)
	}
	for _, c := range canonicalEdgeCases {
		seeds = append(seeds, []byte(c))
	}
	for i := 0; i < 20000; i++ {
		checkCanonicalSame(t, mutate(r, seeds[r.IntN(len(seeds))]))
	}
}

func FuzzCanonicalDifferential(f *testing.F) {
	for _, c := range canonicalEdgeCases {
		f.Add([]byte(c))
	}
	for _, e := range sampleSession(f, "s-fuzz-canon") {
		rec, _ := Marshal(e)
		f.Add(rec)
		f.Add(mutate(rand.New(rand.NewPCG(uint64(len(rec)), 7)), rec))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkCanonicalSame(t, b)
	})
}
