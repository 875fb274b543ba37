package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// checkValidateSame fails t unless Validate decides b as the JSON Schemas alone do.
func checkValidateSame(t *testing.T, b []byte) {
	t.Helper()
	ref := validateSchema(b)
	if fastValid(b) && ref != nil {
		t.Fatalf("fast path accepts %q, JSON Schema says %v", b, ref)
	}
	got := Validate(b)
	if (got == nil) != (ref == nil) {
		t.Fatalf("input %q: Validate %v, JSON Schema %v", b, got, ref)
	}
	if got != nil && !errors.Is(got, ErrInvalid) {
		t.Fatalf("input %q: error %v does not wrap ErrInvalid", b, got)
	}
}

// replacement values for every member, picked to hit each rule's edge: wrong JSON types, null, integers
// written as JSON Schema still counts them (1.0, 1e2, -0), negatives for unsigned members, strings that
// almost match a pattern, escaped strings, lengths around the session limits.
var replacements = []any{
	nil, true, false, "", "x", "\u00e9", json.Number("0"), json.Number("1"), json.Number("-1"), json.Number("-0"),
	json.Number("1.0"), json.Number("1e2"), json.Number("1.5"), json.Number("123456789012345678901234567890"),
	json.Number("-123456789012345678901234567890"), json.Number("1E0"),
	map[string]any{}, map[string]any{"a": "b"}, map[string]any{"a": json.Number("1")}, []any{}, []any{nil}, []any{"x"},
	[]any{json.Number("1")}, []any{[]any{"x"}}, []any{map[string]any{}},
	"2026-11-27T10:00:00.000000Z", "2026-11-27T10:00:00.00000Z", "2026-11-27T10:00:00.000000Z\n", "2026-11-27 10:00:00.000000Z",
	"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
	"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0", "01936a6e-0000-7000-8000-000000000001", "01936A6E-0000-7000-8000-000000000001",
	"01936a6e-0000-7000-8000-0000000000011", strings.Repeat("é", 128), strings.Repeat("é", 129), strings.Repeat("a", 128), strings.Repeat("a", 129),
	"query.executed", "gateway.started", "query.teleported", "a\"b\\c\n\u0001\u2028<>&",
}

// walkMembers calls f with every object in v (the record as decoded with UseNumber), depth first.
func walkMembers(v any, f func(m map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(x)
		for _, e := range x {
			walkMembers(e, f)
		}
	case []any:
		for _, e := range x {
			walkMembers(e, f)
		}
	}
}

func decodeNumbers(t testing.TB, b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func encodeHTMLFree(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// structuralMutations returns records derived from rec by one edit at one member: deleted, replaced by
// each replacement value, or an extra member added to an object.
func structuralMutations(t testing.TB, rec []byte, perSite int) [][]byte {
	var out [][]byte
	r := rand.New(rand.NewPCG(uint64(len(rec)), 9))
	// Count the objects and their members once, then mutate a fresh copy per edit (the maps are shared).
	type site struct {
		obj int
		key string
	}
	var sites []site
	nobj := 0
	walkMembers(decodeNumbers(t, rec), func(m map[string]any) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sites = append(sites, site{nobj, k})
		}
		sites = append(sites, site{nobj, ""}) // "" stands for: add an extra member
		nobj++
	})
	edit := func(s site, f func(m map[string]any)) []byte {
		doc := decodeNumbers(t, rec)
		n := 0
		walkMembers(doc, func(m map[string]any) {
			if n == s.obj {
				f(m)
			}
			n++
		})
		return encodeHTMLFree(t, doc)
	}
	for _, s := range sites {
		if s.key == "" {
			out = append(out, edit(s, func(m map[string]any) { m["extra_member"] = "x" }))
			continue
		}
		out = append(out, edit(s, func(m map[string]any) { delete(m, s.key) }))
		// A seeded sample of the replacements per member keeps the test quick; the fuzz target explores more.
		for _, i := range r.Perm(len(replacements))[:perSite] {
			out = append(out, edit(s, func(m map[string]any) { m[s.key] = replacements[i] }))
		}
	}
	return out
}

func exampleRecords(t testing.TB) [][]byte {
	var recs [][]byte
	for _, e := range sampleSession(t, "01936a6e-0000-7000-8000-0000000000dd") {
		rec, err := Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

func TestValidateMatchesSchemaOnExamples(t *testing.T) {
	for _, rec := range exampleRecords(t) {
		if !fastValid(rec) {
			t.Errorf("fast path does not accept the example %s", rec)
		}
		checkValidateSame(t, rec)
	}
}

func TestValidateMatchesSchemaOnMutations(t *testing.T) {
	n, accepted := 0, 0
	for _, rec := range exampleRecords(t) {
		muts := structuralMutations(t, rec, 12)
		// Textual variants the structural edits cannot produce: escaped keys and values, duplicate members,
		// whitespace, trailing data.
		s := string(rec)
		muts = append(muts,
			[]byte(strings.Replace(s, `"type":`, `"\u0074ype":`, 1)),
			[]byte(strings.Replace(s, `"v":1`, `"v":1,"v":1`, 1)),
			[]byte(strings.Replace(s, `"v":1`, `"v":2,"v":1`, 1)),
			[]byte(strings.Replace(s, `"v":1`, `"v":1,"v":2`, 1)),
			[]byte(strings.Replace(s, `"seq":`, `"seq":-1,"seq":`, 1)),
			[]byte(strings.Replace(s, `"data":{`, `"data":{},"data":{`, 1)),
			[]byte(strings.Replace(s, `"type":"`, `"type":"x","type":"`, 1)),
			[]byte(strings.Replace(s, `"time":"2`, `"time":"\u0032`, 1)),
			[]byte(strings.Replace(s, `"instance":"`, `"instance":"\u0067`, 1)),
			[]byte(strings.Replace(s, `"gateway":{`, `"gateway":{"instance":1,`, 1)),
			[]byte(strings.Replace(s, `"session":"`, "\"session\":\"\xff", 1)),
			[]byte(" \n"+s+"\t\r\n"), []byte(s+"]"), []byte(s+"{}"), []byte(s+" x"), []byte("["+s+"]"),
		)
		for _, m := range muts {
			checkValidateSame(t, m)
			n++
			if fastValid(m) {
				accepted++
			}
		}
	}
	if accepted == 0 || accepted == n {
		t.Fatalf("mutations are not discriminating: fast path accepted %d of %d", accepted, n)
	}
	t.Logf("%d mutated records, %d accepted by the fast path", n, accepted)
}

func TestValidateMatchesSchemaOnByteMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	recs := exampleRecords(t)
	for i := 0; i < 5000; i++ {
		checkValidateSame(t, mutate(r, recs[r.IntN(len(recs))]))
	}
}

// TestFastTablesMatchSchemaFiles renders each fast table back to the JSON Schema it stands for and compares
// it with jsonSchemaOf, which generates the committed files: a rule changed on one side only fails here.
func TestFastTablesMatchSchemaFiles(t *testing.T) {
	fastTables.once.Do(loadFastTables)
	for _, typ := range Types {
		v, _ := NewData(typ)
		want := jsonSchemaOf(reflect.TypeOf(v), "")
		got := renderFast(fastTables.data[typ])
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(got)
		if !bytes.Equal(wj, gj) {
			t.Errorf("%s: fast table\n%s\nJSON Schema\n%s", typ, gj, wj)
		}
	}
	// The envelope's gateway member too.
	want, _ := json.Marshal(envelopeSchema()["properties"].(map[string]any)["gateway"])
	gw := renderFast(gatewaySchema)
	gw["properties"].(map[string]any)["instance"] = map[string]any{"type": "string", "minLength": 1}
	if got, _ := json.Marshal(gw); !bytes.Equal(got, want) {
		t.Errorf("gateway: fast %s, JSON Schema %s", got, want)
	}
	if envelopeMembers != [10]string(envelopeSchema()["required"].([]string)) {
		t.Errorf("envelope members %v differ from the schema's required list", envelopeMembers)
	}
}

func renderFast(s *fschema) map[string]any {
	switch s.kind {
	case fString:
		m := map[string]any{"type": "string"}
		if s.pattern != nil {
			switch reflect.ValueOf(s.pattern).Pointer() {
			case reflect.ValueOf(matchTime).Pointer():
				m["pattern"] = timePattern
			case reflect.ValueOf(matchHash).Pointer():
				m["pattern"] = hashPattern
			default:
				m["pattern"] = "?"
			}
		}
		return m
	case fBool:
		return map[string]any{"type": "boolean"}
	case fInt:
		return map[string]any{"type": "integer"}
	case fUint:
		return map[string]any{"type": "integer", "minimum": 0}
	case fArray:
		return map[string]any{"type": []string{"array", "null"}, "items": renderFast(s.elem)}
	case fMap:
		return map[string]any{"type": "object", "additionalProperties": renderFast(s.elem)}
	case fStruct:
		props := map[string]any{}
		required := []string{}
		for i, f := range s.fields {
			props[f.name] = renderFast(f.s)
			if s.need&(1<<i) != 0 {
				required = append(required, f.name)
			}
		}
		return map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
	}
	return nil
}

// TestPatternMatchers holds the hand-written matchers to the regular expressions of the schema files.
func TestPatternMatchers(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		re    string
		match func([]byte) bool
		good  string
	}{
		{timePattern, matchTime, "2026-11-27T10:00:00.000000Z"},
		{hashPattern, matchHash, GenesisPrev},
		{uuidPattern, matchUUID, "01936a6e-0000-7000-8000-00000000c0de"},
	} {
		re := regexp.MustCompile(c.re)
		alphabet := []byte("0123456789abcdefABCDEFTZ:-.xg \n\x00")
		for i := 0; i < 20000; i++ {
			s := []byte(c.good)
			for n := r.IntN(3); n >= 0; n-- {
				switch j := r.IntN(len(s) + 1); r.IntN(3) {
				case 0:
					if j < len(s) {
						s[j] = alphabet[r.IntN(len(alphabet))]
					}
				case 1:
					s = append(s[:j], append([]byte{alphabet[r.IntN(len(alphabet))]}, s[j:]...)...)
				default:
					if j < len(s) {
						s = append(s[:j], s[j+1:]...)
					}
				}
			}
			if re.Match(s) != c.match(s) {
				t.Fatalf("%s on %q: regexp %v, matcher %v", c.re, s, re.Match(s), c.match(s))
			}
		}
	}
}

func FuzzValidateDifferential(f *testing.F) {
	for _, rec := range exampleRecords(f) {
		f.Add(rec)
	}
	recs := exampleRecords(f)
	for i, m := range structuralMutations(f, recs[9], len(replacements)) { // query.executed: the deepest type
		if i%7 == 0 {
			f.Add(m)
		}
	}
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkValidateSame(t, b)
	})
}
