package proxy

import (
	"encoding/binary"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

const panInt8 = 4111111111111111

func int8Bytes(v int64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(v))
	return b
}

// TestCachedStatementMaskedByItsOwnLayout pins the masking-order bug: the first DataRow of an Execute that
// follows no RowDescription (a statement prepared once, as pgx's QueryExecModeCacheStatement and JDBC do)
// was masked with the previous statement's row layout, so a binary int8 PAN passed as "text".
func TestCachedStatementMaskedByItsOwnLayout(t *testing.T) {
	h := newHarness(t)
	h.pg.results = map[string]fakeResult{
		"SELECT pan_num FROM cards": {
			desc: &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("pan_num"), DataTypeOID: 20, DataTypeSize: 8, TypeModifier: -1, Format: 1}}},
			rows: []*pgproto3.DataRow{{Values: [][]byte{int8Bytes(panInt8)}}},
		},
		"SELECT name FROM merchants": {
			desc: &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("name"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}},
			rows: []*pgproto3.DataRow{{Values: [][]byte{[]byte("acme")}}},
		},
	}
	fe, _, _ := h.client(t, "good")
	untilReady(t, fe)
	for _, p := range []struct{ name, sql string }{{"pans", "SELECT pan_num FROM cards"}, {"names", "SELECT name FROM merchants"}} {
		fe.SendParse(&pgproto3.Parse{Name: p.name, Query: p.sql})
		fe.SendDescribe(&pgproto3.Describe{ObjectType: 'S', Name: p.name})
	}
	fe.SendSync(&pgproto3.Sync{})
	must(t, fe.Flush())
	if types, _ := untilReady(t, fe); types != "1tT1tTZ" {
		t.Fatalf("prepare: %q", types)
	}
	// Execute the other statement, then the PAN statement twice, binary results, no Describe of the portal.
	for _, stmt := range []string{"names", "pans", "names", "pans"} {
		fe.SendBind(&pgproto3.Bind{PreparedStatement: stmt, ResultFormatCodes: []int16{1}})
		fe.SendExecute(&pgproto3.Execute{})
		fe.SendSync(&pgproto3.Sync{})
		must(t, fe.Flush())
		types, vals := untilReady(t, fe)
		if types != "2DCZ" || len(vals) != 1 {
			t.Fatalf("execute %s: %q %q", stmt, types, vals)
		}
		if stmt != "pans" {
			continue
		}
		if len(vals[0]) != 8 {
			t.Fatalf("int8 value of %d bytes", len(vals[0]))
		}
		got := int64(binary.BigEndian.Uint64([]byte(vals[0])))
		if got == panInt8 {
			t.Fatal("a binary int8 PAN reached the client unmasked")
		}
		if got/10000 == 0 || got%10000 != 1111 {
			t.Fatalf("masked int8 %d, want first six and last four kept", got)
		}
	}
}
