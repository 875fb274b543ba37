package schemas

import "testing"

// The benchmarks use only the exported API, so the same file measures the previous implementation too.

func benchRecords(b *testing.B) [][]byte {
	var recs [][]byte
	for _, e := range sampleSession(b, "01936a6e-0000-7000-8000-0000000000be") {
		rec, err := Marshal(e)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// BenchmarkCanonical canonicalises one query.executed record (the gateway's per-statement event).
func BenchmarkCanonical(b *testing.B) {
	rec := benchRecords(b)[9]
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if _, err := Canonical(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashEvent hashes one query.executed event (canonical data + envelope + SHA-256).
func BenchmarkHashEvent(b *testing.B) {
	e := sampleSession(b, "01936a6e-0000-7000-8000-0000000000be")[9]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := HashEvent(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidate validates one query.executed record (the indexer's per-record check).
func BenchmarkValidate(b *testing.B) {
	rec := benchRecords(b)[9]
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if err := Validate(rec); err != nil {
			b.Fatal(err)
		}
	}
}
