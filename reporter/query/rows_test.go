package query_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pangate/pangate/integration/stack"
	. "github.com/pangate/pangate/reporter/query"
)

// httpAddr is the stack's ClickHouse HTTP interface (PANGATE_CLICKHOUSE_HTTP_ADDR, from the environment or
// .stack/env).
func httpAddr(t *testing.T) string {
	t.Helper()
	const key = "PANGATE_CLICKHOUSE_HTTP_ADDR"
	if v := os.Getenv(key); v != "" {
		return v
	}
	root, err := stack.ModuleRoot()
	if err == nil {
		var b []byte
		if b, err = os.ReadFile(filepath.Join(root, ".stack", "env")); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(strings.TrimPrefix(strings.TrimSpace(l), "export "), key+"="); ok {
					return strings.Trim(v, `'"`)
				}
			}
		}
	}
	t.Fatalf("no %s in the environment or .stack/env: start the stack with: %s", key, stack.StartCommand)
	return ""
}

// bothReaders returns the same store read natively and over HTTP (database default: the test reads
// system.numbers only).
func bothReaders(t *testing.T) (native, overHTTP *DB) {
	t.Helper()
	e := stack.Env(t)
	conn := stack.ClickHouse(t)
	cfg := Config{Addr: e.ClickHouseAddr, Database: "default", User: e.ClickHouseUser, Password: e.ClickHousePassword}
	native = NewUnchecked(conn, cfg)
	cfg.HTTPAddr = httpAddr(t)
	return native, NewUnchecked(conn, cfg)
}

func collect(t *testing.T, db *DB, sql string) (*Table, error) {
	t.Helper()
	tb := &Table{}
	err := db.StreamRows(context.Background(), sql, func(c []string) error {
		tb.Columns = slices.Clone(c)
		return nil
	}, func(r []string) error {
		tb.Rows = append(tb.Rows, CopyRow(r))
		return nil
	})
	return tb, err
}

// TestStreamRowsHTTPMatchesNative: a result read in RowBinary over HTTP renders every cell as the native
// reader does (the CSV populations must not change with clickhouse.http_addr, issue 16): times (epoch
// microseconds in ts and *_at columns, empty for 0), arrays joined with ";", every integer width, floats
// and strings with tabs, newlines, quotes and non-ASCII; a type the RowBinary reader does not know (Date)
// is read natively.
func TestStreamRowsHTTPMatchesNative(t *testing.T) {
	native, overHTTP := bothReaders(t)
	for _, tc := range []struct {
		name, sql string
		http      bool // read in RowBinary over HTTP
	}{
		{"every type", `SELECT number * 1000003 + 1759276800000000 AS ts, if(number % 3 = 0, toUInt64(0), number * 7 + 1759276800000000) AS decided_at,
       concat('SELECT ''', toString(number), '''\t"x"\n', if(number % 5 = 0, 'é€', '')) AS sql, arrayMap(i -> concat('t', toString(i)), range(number % 4)) AS tables,
       toUInt8(number % 256) AS human, toInt64(number) - 2500 AS delta, toUInt32(number * 3) AS code, toInt32(1000 - number) AS i32,
       toUInt16(number % 65536) AS u16, number / 7 AS ratio, toUInt64(number * number) AS count, '' AS empty
FROM system.numbers LIMIT 5000`, true},
		{"empty result", `SELECT toUInt64(number) AS ts, toString(number) AS sql FROM system.numbers LIMIT 0`, true},
		{"unknown type, read natively", `SELECT toDate('2026-10-01') + number AS day, toString(number) AS sql FROM system.numbers LIMIT 10`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if h, err := ReadsOverHTTP(overHTTP, tc.sql); err != nil || h != tc.http {
				t.Fatalf("read over HTTP: %v (%v), want %v", h, err, tc.http)
			}
			want, err := collect(t, native, tc.sql)
			if err != nil {
				t.Fatal(err)
			}
			got, err := collect(t, overHTTP, tc.sql)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Columns, want.Columns) || len(got.Rows) != len(want.Rows) {
				t.Fatalf("over HTTP: columns %v, %d rows; natively %v, %d rows", got.Columns, len(got.Rows), want.Columns, len(want.Rows))
			}
			for i := range want.Rows {
				if !slices.Equal(got.Rows[i], want.Rows[i]) {
					t.Fatalf("row %d over HTTP:\n%q\nnatively:\n%q", i, got.Rows[i], want.Rows[i])
				}
			}
			if tc.name == "every type" {
				r0, r1 := want.Rows[0], want.Rows[1]
				if r0[0] != "2025-10-01T00:00:00.000000Z" || r0[1] != "" || r1[1] == "" || r1[3] != "t0" || want.Rows[3][3] != "t0;t1;t2" {
					t.Fatalf("rendering: row 0 %q, row 1 %q", r0, r1)
				}
			}
		})
	}
}

// TestStreamRowsHTTPErrorMidStream: a query that fails after ClickHouse has started sending rows (its
// exception text is appended to the RowBinary stream) is an error, not a short population.
func TestStreamRowsHTTPErrorMidStream(t *testing.T) {
	_, overHTTP := bothReaders(t)
	n := 0
	err := overHTTP.StreamRows(context.Background(), `SELECT number AS n, concat('row ', toString(number)) AS sql, throwIf(number = 400000) AS boom FROM system.numbers LIMIT 1000000`,
		func([]string) error { return nil }, func([]string) error { n++; return nil })
	if err == nil {
		t.Fatalf("a query failing at row 400000 streamed %d rows and no error", n)
	}
	t.Logf("after %d rows: %v", n, err)
}
