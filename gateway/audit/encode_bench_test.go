package audit

import (
	"testing"

	"github.com/pangate/pangate/schemas"
)

// benchStatement is a typical pgbench -S statement event.
var benchStatement = schemas.QueryExecuted{
	Statement: schemas.Statement{SQL: "SELECT abalance FROM pgbench_accounts WHERE aid = $1", Fingerprint: "a5f2c0b1d7e3f499",
		Params: []string{"?"}, Kind: "read", Tables: []string{"public.pgbench_accounts"}, Columns: []string{"public.pgbench_accounts.abalance"},
		Protocol: "simple", Index: 41},
	Role: "pangate_jit_bench_reader_0193", Outcome: "ok", CommandTag: "SELECT 1", Rows: 1, DurationUS: 180, MaskShape: "last4",
}

// BenchmarkEncodePeekMarshal is the per-event encoding before group commit: Chain.Peek (canonical data,
// envelope, SHA-256) then schemas.Marshal (canonical data and envelope again, with the hash).
func BenchmarkEncodePeekMarshal(b *testing.B) {
	c := schemas.NewChain(schemas.NewID(), schemas.Source{Instance: "bench", Version: "dev"})
	b.ReportAllocs()
	for b.Loop() {
		e, err := c.Peek(schemas.TypeQueryExecuted, benchStatement)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := schemas.Marshal(e); err != nil {
			b.Fatal(err)
		}
		c.Commit(e)
	}
}

// BenchmarkEncodePeekRecord is the per-event encoding Session uses: one canonical encoding into a reused
// buffer, hashed, and the record value spliced from it.
func BenchmarkEncodePeekRecord(b *testing.B) {
	c := schemas.NewChain(schemas.NewID(), schemas.Source{Instance: "bench", Version: "dev"})
	b.ReportAllocs()
	for b.Loop() {
		e, _, err := c.PeekRecord(schemas.TypeQueryExecuted, benchStatement)
		if err != nil {
			b.Fatal(err)
		}
		c.Commit(e)
	}
}

// TestPeekRecordIsMarshal: the spliced record value is byte for byte what schemas.Marshal writes, and its
// hash verifies.
func TestPeekRecordIsMarshal(t *testing.T) {
	c := schemas.NewChain(schemas.NewID(), schemas.Source{Instance: "unit\u2028<&>", Version: "dev\"q"})
	for i, data := range []any{benchStatement, schemas.SessionEnded{Reason: "client_terminate"}, struct{}{}} {
		typ := []string{schemas.TypeQueryExecuted, schemas.TypeSessionEnded, schemas.TypeSessionEnded}[i]
		e, v, err := c.PeekRecord(typ, data)
		if err != nil {
			t.Fatal(err)
		}
		want, err := schemas.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if string(v) != string(want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, v, want)
		}
		if err := schemas.VerifyEvent(e); err != nil {
			t.Fatal(err)
		}
		c.Commit(e)
	}
}
