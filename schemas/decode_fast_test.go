package schemas

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// exampleRecords returns one record per event type (plus variants with escapes and empty arrays).
func decodeExamples(t testing.TB) [][]byte {
	var out [][]byte
	for _, typ := range Types {
		d, err := Example(typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, sess := range []string{"s-1", "s\u00e9\"q\\\n\u0001"} {
			e, err := NewChain(sess, Source{Instance: "gw-1", Version: "1.0"}).Next(typ, d)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

// checkAgainstReference: when DecodeRecord accepts a record, Validate and VerifyEvent accept it too, and
// the envelope and data are exactly what Parse and encoding/json decode.
func checkAgainstReference(t *testing.T, rec []byte) bool {
	d, ok := DecodeRecord(rec)
	if !ok {
		return false
	}
	if err := Validate(rec); err != nil {
		t.Fatalf("DecodeRecord accepted what Validate refuses (%v):\n%s", err, rec)
	}
	e, err := Parse(rec)
	if err != nil {
		t.Fatalf("DecodeRecord accepted what Parse refuses (%v):\n%s", err, rec)
	}
	if err := VerifyEvent(e); err != nil {
		t.Fatalf("DecodeRecord accepted what VerifyEvent refuses (%v):\n%s", err, rec)
	}
	got := d.Event
	if !bytes.Equal(got.Data, e.Data) || string(got.Data) != d.DataRaw || d.Raw != string(rec) {
		t.Fatalf("data bytes differ: %s vs %s", got.Data, e.Data)
	}
	got.Data, e.Data = nil, nil
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("envelope differs:\nfast %+v\nref  %+v", got, e)
	}
	want, _ := NewData(d.Event.Type)
	if err := json.Unmarshal([]byte(d.DataRaw), want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Data, want) {
		t.Fatalf("data of %s differs:\nfast %#v\nref  %#v", d.Event.Type, d.Data, want)
	}
	return true
}

func TestDecodeRecordMatchesReference(t *testing.T) {
	for i, rec := range decodeExamples(t) {
		// Odd records have a session with escapes, which the fast validator leaves to the JSON Schema.
		if !checkAgainstReference(t, rec) && i%2 == 0 {
			t.Fatalf("DecodeRecord refused a canonical record the gateway writes:\n%s", rec)
		}
	}
}

// TestDecodeRecordLeavesTheRestToTheReference: records that are not canonical, or whose hash does not
// cover them, are never accepted by the fast path, whatever the slow path then decides.
func TestDecodeRecordLeavesTheRestToTheReference(t *testing.T) {
	rec := decodeExamples(t)[2*indexOf(TypeQueryExecuted)]
	for _, tc := range []struct {
		name string
		edit func(string) string
	}{
		{"space after colon", func(s string) string { return strings.Replace(s, `"seq":`, `"seq": `, 1) }},
		{"leading space", func(s string) string { return " " + s }},
		{"trailing newline", func(s string) string { return s + "\n" }},
		{"solidus escape", func(s string) string { return strings.Replace(s, `"gw-1"`, `"gw\/1"`, 1) }},
		{"unicode escape of a letter", func(s string) string { return strings.Replace(s, `"gw-1"`, `"\u0067w-1"`, 1) }},
		{"edited data", func(s string) string { return strings.Replace(s, `"kind":"read"`, `"kind":"ddl"`, 1) }},
		{"keys out of order", func(s string) string {
			return strings.Replace(s, `{"instance":"gw-1","version":"1.0"}`, `{"version":"1.0","instance":"gw-1"}`, 1)
		}},
		{"hash of other contents", func(s string) string {
			i := strings.Index(s, `"hash":"`) + 8
			return s[:i] + strings.Repeat("0", 64) + s[i+64:]
		}},
		{"number with exponent", func(s string) string { return strings.Replace(s, `"seq":0`, `"seq":0e0`, 1) }},
	} {
		edited := []byte(tc.edit(string(rec)))
		if bytes.Equal(edited, rec) {
			t.Fatalf("%s: the edit changed nothing", tc.name)
		}
		if _, ok := DecodeRecord(edited); ok {
			t.Errorf("%s: DecodeRecord accepted %s", tc.name, edited)
		}
	}
}

func indexOf(typ string) int {
	for i, t := range Types {
		if t == typ {
			return i
		}
	}
	return -1
}

// FuzzDecodeRecord: whatever the input, an accepted record is one the reference accepts, decoded the same.
func FuzzDecodeRecord(f *testing.F) {
	for _, rec := range decodeExamples(f) {
		f.Add(rec)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		checkAgainstReference(t, rec)
	})
}

func BenchmarkDecodeRecord(b *testing.B) {
	rec := decodeExamples(b)[2*indexOf(TypeQueryExecuted)]
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := DecodeRecord(rec); !ok {
			b.Fatal("refused")
		}
	}
}
