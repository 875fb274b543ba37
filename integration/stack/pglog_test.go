package stack

import (
	"reflect"
	"testing"
)

// TestParsePGLog: statements, execute lines, continuation lines and the error logged after a statement are
// read per backend, and other lines are ignored.
func TestParsePGLog(t *testing.T) {
	text := "2026-12-06 21:00:00.123 UTC [101] LOG:  statement: SELECT 1\n" +
		"2026-12-06 21:00:00.124 UTC [102] LOG:  statement: SELECT\n" +
		"\tnote FROM t\n" +
		"2026-12-06 21:00:00.125 UTC [101] LOG:  execute s1/p1: UPDATE t SET a = $1\n" +
		"2026-12-06 21:00:00.126 UTC [101] ERROR:  permission denied for table t\n" +
		"2026-12-06 21:00:00.127 UTC [102] WARNING:  something else\n" +
		"2026-12-06 21:00:00.128 UTC [103] LOG:  execute fetch from s2/c1: SELECT 2\n" +
		"not a log line\n"
	want := map[int][]PGLogEntry{
		101: {{Kind: "statement", Text: "SELECT 1"},
			{Kind: "execute", Name: "s1/p1", Text: "UPDATE t SET a = $1", Failed: "permission denied for table t"}},
		102: {{Kind: "statement", Text: "SELECT\nnote FROM t"}},
		103: {{Kind: "execute", Name: "s2/c1", Text: "SELECT 2"}},
	}
	if got := ParsePGLog(text); !reflect.DeepEqual(got, want) {
		t.Errorf("ParsePGLog:\n got %#v\nwant %#v", got, want)
	}
}
