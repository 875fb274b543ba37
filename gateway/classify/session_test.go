package classify

import (
	"reflect"
	"slices"
	"testing"
)

// The new Statement fields for issue 11: side-effect-free reads, attribute notation, dynamic SQL.
func TestSideEffectFree(t *testing.T) {
	cases := []struct {
		sql     string
		free    bool
		attrs   []string // nil: not checked
		tags    []string // nil: not checked
		unknown bool
	}{
		{"SELECT pan FROM cards WHERE id = 1", true, nil, []string{}, false},
		{"SELECT lower(name), count(*) FROM cards GROUP BY 1 ORDER BY 2 DESC LIMIT 5", true, nil, nil, false},
		{"SELECT now(), current_setting('search_path'), 'x'::regclass, 1::pg_catalog.int4, '{1}'::int[]", true, nil, nil, false},
		{"SELECT pg_catalog.lower('x'), 1 OPERATOR(pg_catalog.+) 2, a = ANY(ARRAY[1]) FROM t", true, nil, nil, false},
		{"SELECT * FROM generate_series(1, 3) g, LATERAL (SELECT g + 1) s", true, nil, nil, false},
		{"SELECT c.name FROM cards c", true, []string{"name"}, nil, false},
		{"SELECT * FROM t TABLESAMPLE system(10) REPEATABLE (1)", true, nil, nil, false},
		{"EXPLAIN ANALYZE SELECT 1", true, nil, nil, false},
		{"DECLARE c CURSOR WITH HOLD FOR SELECT pan FROM cards", true, nil, nil, false},
		{"PREPARE p AS SELECT pan FROM cards WHERE id = $1", true, nil, nil, false},

		{"SELECT nextval('s')", false, nil, nil, false},
		{"SELECT public.lower('x')", false, nil, nil, false},
		{"SELECT myschema.f(pan) FROM cards", false, nil, nil, false},
		{"SELECT * FROM cards FOR UPDATE", false, nil, nil, false},
		{"SELECT * FROM cards c JOIN orders o ON o.card_id = c.id FOR SHARE OF o", false, nil, nil, false},
		{"SELECT '1'::mytype", false, nil, nil, false},
		{"SELECT 1::public.int4", false, nil, nil, false},
		{"SELECT 1 OPERATOR(public.+) 2", false, nil, nil, false},
		{"SELECT a === b FROM t", false, nil, nil, false},
		{"WITH x AS (SELECT pg_sleep(1)) SELECT * FROM x", false, nil, nil, false},
		{"SELECT * FROM t WHERE a IN (SELECT txid_current())", false, nil, nil, false},
		{"SELECT * FROM t WHERE EXISTS (SELECT pg_advisory_lock(1))", false, nil, nil, false},
		{"SELECT lo_get(42)", false, nil, nil, false},
		{"SELECT pg_notify('c', 'x')", false, nil, nil, false},
		{"SELECT * FROM t TABLESAMPLE system_rows(10)", false, nil, nil, false},
		{"DECLARE c CURSOR FOR SELECT nextval('s')", false, nil, nil, false},
		{"COPY (SELECT 1) TO STDOUT", false, nil, nil, false},            // kind copy
		{"SELECT set_config('a.b', 'x', false)", false, nil, nil, false}, // volatile
		{"SELECT random()", false, nil, nil, false},

		// Attribute notation calls functions (issue 11 part 4).
		{"SELECT (pid).pg_terminate_backend FROM pg_stat_activity", false, []string{"pg_terminate_backend"}, []string{TagAdminFunction}, false},
		{"SELECT ('s'::regclass).nextval", false, []string{"nextval"}, []string{}, false},
		{"SELECT a.pg_terminate_backend FROM (SELECT pid FROM pg_stat_activity) a", false, []string{"pg_terminate_backend"}, []string{TagAdminFunction}, false},
		{"SELECT ('select 1').query_to_xml FROM t", false, []string{"query_to_xml"}, []string{TagDynamicSQL}, true},
		{"SELECT (x).pg_read_file FROM (SELECT '/etc/passwd'::text AS x) s", false, []string{"pg_read_file"}, []string{TagExternalAccess}, false},

		// Dynamic SQL: tables unknown.
		{"SELECT query_to_xml('select pan from cards', true, true, '')", false, nil, []string{TagDynamicSQL}, true},
		{"SELECT * FROM ts_stat('SELECT v FROM docs')", false, nil, []string{TagDynamicSQL}, true},
		{"SELECT ts_rewrite('a & b'::tsquery, 'SELECT t, s FROM aliases')", false, nil, []string{TagDynamicSQL}, true},
		{"SELECT ts_rewrite('a & b'::tsquery, 'a'::tsquery, 'c'::tsquery)", false, nil, []string{}, false},
		{"SELECT cursor_to_xmlschema('c', true, true, '')", false, nil, []string{TagDynamicSQL}, true},
		{"SELECT dblink_exec('dbname=x', 'DELETE FROM cards')", false, nil, []string{TagDynamicSQL, TagExternalAccess}, true},
	}
	for _, tc := range cases {
		st := Classify(tc.sql)[0]
		if st.SideEffectFree != tc.free {
			t.Errorf("%q: SideEffectFree = %v, want %v (kind %s, functions %v, operators %v)", tc.sql, st.SideEffectFree, tc.free, st.Kind, st.Functions, st.Operators)
		}
		if tc.attrs != nil && !eq(st.AttrNames, tc.attrs) {
			t.Errorf("%q: AttrNames = %v, want %v", tc.sql, st.AttrNames, tc.attrs)
		}
		if tc.tags != nil && !eq(st.Tags, tc.tags) {
			t.Errorf("%q: tags = %v, want %v", tc.sql, st.Tags, tc.tags)
		}
		if st.UnknownTables != tc.unknown {
			t.Errorf("%q: UnknownTables = %v, want %v", tc.sql, st.UnknownTables, tc.unknown)
		}
	}
}

func TestOperatorsRecorded(t *testing.T) {
	st := Classify("SELECT a + 1, b OPERATOR(pg_catalog.||) 'x' FROM t WHERE c = ANY (SELECT d FROM u) AND e LIKE 'f%'")[0]
	want := []string{"+", "=", "pg_catalog.||", "~~"}
	if !slices.Equal(st.Operators, want) {
		t.Errorf("operators = %v, want %v", st.Operators, want)
	}
}

// The SQL-level names the session model follows (issue 11 parts 1 and 4).
func TestSessionNames(t *testing.T) {
	cases := []struct {
		sql  string
		kind Kind
		want Statement // only the name fields are compared
	}{
		{"PREPARE p AS SELECT * FROM cards", KindRead, Statement{Prepare: "p"}},
		{"PREPARE p(int) AS DELETE FROM cards WHERE id = $1", KindWrite, Statement{Prepare: "p"}},
		{"EXECUTE p(1)", KindUtility, Statement{Execute: "p", ExecuteRuns: true}},
		{"EXPLAIN EXECUTE p(1)", KindUtility, Statement{Execute: "p"}},
		{"EXPLAIN ANALYZE EXECUTE p", KindUtility, Statement{Execute: "p", ExecuteRuns: true}},
		{"EXPLAIN (ANALYZE) EXECUTE p", KindUtility, Statement{Execute: "p", ExecuteRuns: true}},
		{"EXPLAIN (ANALYZE false) EXECUTE p", KindUtility, Statement{Execute: "p"}},
		{"EXPLAIN (ANALYZE, BUFFERS) EXECUTE p", KindUtility, Statement{Execute: "p", ExecuteRuns: true}},
		{"CREATE TABLE x AS EXECUTE p", KindDDL, Statement{Execute: "p", ExecuteRuns: true}},
		{"EXPLAIN ANALYZE CREATE TABLE x AS EXECUTE p", KindDDL, Statement{Execute: "p", ExecuteRuns: true}},
		{"DEALLOCATE p", KindUtility, Statement{Deallocate: "p"}},
		{"DEALLOCATE PREPARE p", KindUtility, Statement{Deallocate: "p"}},
		{"DEALLOCATE ALL", KindUtility, Statement{DeallocateAll: true}},
		{"DECLARE c CURSOR FOR SELECT pan FROM cards", KindRead, Statement{Declare: "c"}},
		{"DECLARE c SCROLL CURSOR WITH HOLD FOR SELECT 1", KindRead, Statement{Declare: "c", DeclareHold: true}},
		{"DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1", KindRead, Statement{Declare: "c"}},
		{"EXPLAIN DECLARE c CURSOR FOR SELECT 1", KindUtility, Statement{}},
		{"FETCH c", KindUtility, Statement{Fetch: "c"}},
		{"FETCH 5 FROM c", KindUtility, Statement{Fetch: "c"}},
		{"FETCH BACKWARD ALL IN c", KindUtility, Statement{Fetch: "c"}},
		{"MOVE LAST IN c", KindUtility, Statement{Fetch: "c"}},
		{"CLOSE c", KindUtility, Statement{CloseCursor: "c"}},
		{"CLOSE ALL", KindUtility, Statement{CloseAll: true}},
		{"DISCARD PLANS", KindUtility, Statement{Discard: "plans"}},
		{"DISCARD TEMP", KindUtility, Statement{Discard: "temp"}},
		{"DISCARD SEQUENCES", KindUtility, Statement{Discard: "sequences"}},
		{"DISCARD ALL", KindUtility, Statement{Discard: "all"}},
		{`PREPARE "Q" AS SELECT 1`, KindRead, Statement{Prepare: "Q"}},
	}
	for _, tc := range cases {
		st := Classify(tc.sql)[0]
		got := Statement{Prepare: st.Prepare, Execute: st.Execute, ExecuteRuns: st.ExecuteRuns, Deallocate: st.Deallocate,
			DeallocateAll: st.DeallocateAll, Declare: st.Declare, DeclareHold: st.DeclareHold, Fetch: st.Fetch,
			CloseCursor: st.CloseCursor, CloseAll: st.CloseAll, Discard: st.Discard}
		if !reflect.DeepEqual(got, tc.want) || st.Kind != tc.kind {
			t.Errorf("%q: kind %s names %+v, want %s %+v", tc.sql, st.Kind, got, tc.kind, tc.want)
		}
	}
	// EXECUTE's parameters are evaluated: their functions and tables count.
	st := Classify("EXECUTE p(nextval('s'), (SELECT max(id) FROM cards))")[0]
	if !slices.Equal(st.Functions, []string{"max", "nextval"}) || !slices.Equal(st.Tables, []string{"cards"}) {
		t.Errorf("EXECUTE parameters: functions %v tables %v", st.Functions, st.Tables)
	}
}

// Settings that the gateway must share with the server (issue 11 part 2).
func TestSettings(t *testing.T) {
	cases := []struct {
		sql    string
		want   []Setting
		lexing bool
	}{
		{"SET client_encoding = 'SJIS'", []Setting{{Name: "client_encoding", Value: "sjis"}}, true},
		{"SET client_encoding TO sjis", []Setting{{Name: "client_encoding", Value: "sjis"}}, true},
		{`SET "Client_Encoding" = 'GBK'`, []Setting{{Name: "client_encoding", Value: "gbk"}}, true},
		{"SET NAMES 'GBK'", []Setting{{Name: "client_encoding", Value: "gbk"}}, true},
		{"SET NAMES DEFAULT", []Setting{{Name: "client_encoding", Reset: true}}, true},
		{"SET LOCAL client_encoding TO 'UTF8'", []Setting{{Name: "client_encoding", Value: "utf8", Local: true}}, true},
		{"SET SESSION statement_timeout = 5", []Setting{{Name: "statement_timeout", Value: "5"}}, false},
		{"RESET client_encoding", []Setting{{Name: "client_encoding", Reset: true}}, true},
		{"SET client_encoding TO DEFAULT", []Setting{{Name: "client_encoding", Reset: true}}, true},
		{"RESET ALL", []Setting{{Name: "all", Reset: true}}, false},
		{"DISCARD ALL", []Setting{{Name: "all", Reset: true}}, false},
		{"SET search_path = a, B", []Setting{{Name: "search_path", Value: "a, b"}}, false},
		{"SET TIME ZONE 'UTC'", []Setting{{Name: "timezone", Value: "utc"}}, false},
		{"SET standard_conforming_strings = off", []Setting{{Name: "standard_conforming_strings", Value: "off"}}, true},
		{"SET statement_timeout FROM CURRENT", []Setting{{Name: "statement_timeout", Computed: true}}, false},
		{"SELECT set_config('client_encoding', 'SJIS', false)", []Setting{{Name: "client_encoding", Value: "sjis"}}, true},
		{"SELECT 1 FROM t WHERE set_config('standard_conforming_strings', NULL, true) IS NULL",
			[]Setting{{Name: "standard_conforming_strings", Reset: true, Local: true}}, true},
		{"SELECT set_config(name, 'SJIS', false) FROM t", []Setting{{Value: "sjis", Computed: true}}, true},
		{"SELECT set_config('client_encoding', enc, false) FROM t", []Setting{{Name: "client_encoding", Computed: true}}, true},
		{"SELECT set_config('a.b', 'x', false), set_config('c.d', 'y', true)",
			[]Setting{{Name: "a.b", Value: "x"}, {Name: "c.d", Value: "y", Local: true}}, false},
		{"ALTER ROLE r SET client_encoding = 'SJIS'", nil, true},
		{"ALTER DATABASE d SET standard_conforming_strings = off", nil, true},
		{"SELECT 1", nil, false},
	}
	for _, tc := range cases {
		st := Classify(tc.sql)[0]
		if !reflect.DeepEqual(st.Settings, tc.want) {
			t.Errorf("%q: settings %+v, want %+v", tc.sql, st.Settings, tc.want)
		}
		if st.HasTag(TagLexing) != tc.lexing {
			t.Errorf("%q: lexing_setting tag %v, want %v (tags %v)", tc.sql, st.HasTag(TagLexing), tc.lexing, st.Tags)
		}
	}
}

// Settings carry literal values: a cached SET must never answer with another text's value.
func TestCacheSettingsExact(t *testing.T) {
	c := NewCache(16)
	c.Classify("SET client_encoding = 'UTF8'")
	got := c.Classify("SET client_encoding = 'SJIS'")[0]
	if len(got.Settings) != 1 || got.Settings[0].Value != "sjis" {
		t.Errorf("settings %+v, want client_encoding=sjis", got.Settings)
	}
}
