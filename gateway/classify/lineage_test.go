package classify

import (
	"slices"
	"strings"
	"testing"
)

// lineageTagged is the test configuration: cards.pan is a tagged column (cards holds cardholder data),
// every column of cardholders is tagged (a whole-table tag), nothing else.
func lineageTagged(table, column string) bool {
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		table = table[i+1:]
	}
	switch table {
	case "cards":
		return column == "pan" || column == "*"
	case "cardholders":
		return true
	}
	return false
}

func lineageMasking(name string) bool { return name == "mask_pan" || name == "app.mask_pan" }

func derived(t *testing.T, sql string) []string {
	t.Helper()
	stmts := Classify(sql)
	if len(stmts) != 1 {
		t.Fatalf("%s: %d statements", sql, len(stmts))
	}
	if stmts[0].Kind == KindUnparseable {
		t.Fatalf("%s: unparseable: %s", sql, stmts[0].Error)
	}
	return stmts[0].Derived(lineageTagged, lineageMasking)
}

// TestLineageLaundering is the issue 12 corpus of transformations that returned a tagged value (or a
// recoverable form of it) past column tags: each must be a derivation, with the expected kind among
// those reported.
func TestLineageLaundering(t *testing.T) {
	for _, tc := range []struct{ sql, kind string }{
		// separators
		{`SELECT replace(pan, '1', '1 ') FROM cards`, "function:replace"},
		{`SELECT translate(pan, '0123456789', 'abcdefghij') FROM cards`, "function:translate"},
		{`SELECT regexp_replace(pan, '(\d{4})', '\1 ', 'g') FROM cards`, "function:regexp_replace"},
		{`SELECT concat(pan, '') FROM cards`, "function:concat"},
		{`SELECT concat_ws(chr(8203), substr(pan,1,4), substr(pan,5)) FROM cards`, "function:concat_ws"},
		{`SELECT pan || ' ' FROM cards`, "operator:||"},
		{`SELECT '9' || pan FROM cards`, "operator:||"},
		{`SELECT format('%s', pan) FROM cards`, "function:format"},
		{`SELECT lpad(pan, 20, '0') FROM cards`, "function:lpad"},
		{`SELECT reverse(pan) FROM cards`, "function:reverse"},
		// splitting across columns, rows, arrays, json, xml
		{`SELECT substr(pan, 1, 8) AS a, substr(pan, 9) AS b FROM cards`, "function:substr"},
		{`SELECT left(pan, 8), right(pan, 8) FROM cards`, "function:left"},
		{`SELECT regexp_split_to_table(pan, '') FROM cards`, "function:regexp_split_to_table"},
		{`SELECT string_to_array(pan, NULL) FROM cards`, "function:string_to_array"},
		{`SELECT array_agg(pan) FROM cards`, "aggregate:array_agg"},
		{`SELECT string_agg(pan, ',') FROM cards`, "aggregate:string_agg"},
		{`SELECT json_agg(pan) FROM cards`, "aggregate:json_agg"},
		{`SELECT jsonb_build_object('p', pan) FROM cards`, "function:jsonb_build_object"},
		{`SELECT JSON_OBJECT('p': pan) FROM cards`, "json"},
		{`SELECT xmlelement(name p, pan) FROM cards`, "xml"},
		{`SELECT ARRAY[pan] FROM cards`, "array"},
		{`SELECT ROW(pan, 1) FROM cards`, "row"},
		// arithmetic and casts
		{`SELECT pan::bigint * 10 FROM cards`, "operator:*"},
		{`SELECT pan::numeric * 1e-4 FROM cards`, "operator:*"},
		{`SELECT pan::bigint - 1 FROM cards`, "operator:-"},
		{`SELECT sum(pan::bigint) FROM cards`, "aggregate:sum"},
		{`SELECT pan::numeric::money FROM cards`, "cast"},
		{`SELECT CAST(pan AS float8) FROM cards`, "cast"},
		{`SELECT pan::text FROM cards`, "cast"},
		{`SELECT pan::bigint::bit(64) FROM cards`, "cast"},
		{`SELECT to_char(pan::bigint, '9999 9999 9999 9999') FROM cards`, "function:to_char"},
		// encodings and send functions
		{`SELECT encode(pan::bytea, 'hex') FROM cards`, "function:encode"},
		{`SELECT encode(convert_to(pan, 'UTF8'), 'base64') FROM cards`, "function:encode"},
		{`SELECT int8send(pan::bigint) FROM cards`, "function:int8send"},
		{`SELECT numeric_send(pan::numeric) FROM cards`, "function:numeric_send"},
		{`SELECT textsend(pan) FROM cards`, "function:textsend"},
		// ranges, multiranges, geometry
		{`SELECT int8range(pan::bigint, pan::bigint + 1) FROM cards`, "function:int8range"},
		{`SELECT int8multirange(int8range(pan::bigint, pan::bigint + 1)) FROM cards`, "function:int8multirange"},
		{`SELECT point(pan::float8, 0) FROM cards`, "function:point"},
		{`SELECT box(point(pan::float8, 0), point(0, 0)) FROM cards`, "function:box"},
		// values that leave as messages or settings, and error texts
		{`SELECT set_config('x.y', pan, false) FROM cards`, "function:set_config"},
		{`SELECT pg_notify('ch', pan) FROM cards`, "function:pg_notify"},
		{`SELECT 1 FROM cards WHERE pg_notify('ch', pan) IS NULL`, "side_effect:function:pg_notify"},
		{`SELECT count(*) FROM cards WHERE set_config('x.y', pan, false) IS NOT NULL`, "side_effect:function:set_config"},
		{`SELECT 1 FROM cards WHERE CAST(pan AS int) = 0`, "side_effect:cast"},
		{`SELECT id FROM cards ORDER BY (pan || 'x')::int`, "side_effect:cast"},
		{`SELECT count(*) FROM (SELECT pg_notify('ch', pan) FROM cards) s`, "side_effect:function:pg_notify"},
		{`EXPLAIN ANALYZE SELECT pan::int FROM cards`, "side_effect:cast"},
		// through CTEs, subqueries, set operations, lateral, functions in FROM
		{`WITH x AS (SELECT pan || '' AS p FROM cards) SELECT p FROM x`, "operator:||"},
		{`WITH x(p) AS (SELECT pan FROM cards) SELECT p::text FROM x`, "cast"},
		{`SELECT p FROM (SELECT upper(pan) AS p FROM cards) s`, "function:upper"},
		{`SELECT * FROM (SELECT reverse(pan) FROM cards) s`, "function:reverse"},
		{`SELECT s.p FROM (SELECT pan AS p FROM cards) AS s(p) WHERE true UNION ALL SELECT 'x'`, "set_operation"},
		{`SELECT pan FROM cards UNION SELECT pan FROM cards`, "set_operation"},
		{`SELECT 'a' UNION ALL SELECT pan::text FROM cards`, "cast"},
		{`WITH RECURSIVE r(p) AS (SELECT pan FROM cards UNION ALL SELECT p FROM r) SELECT p FROM r`, "set_operation"},
		{`SELECT x.p FROM cards c, LATERAL (SELECT c.pan::text AS p) x`, "cast"},
		{`SELECT u FROM cards, unnest(ARRAY[pan]) u`, "function:unnest"},
		{`SELECT (SELECT pan FROM cards LIMIT 1)`, "subquery"},
		{`SELECT ARRAY(SELECT pan FROM cards)`, "array"},
		{`SELECT v.column1 FROM cards c, LATERAL (VALUES (c.pan)) v`, "values"},
		// whole-row references
		{`SELECT c.*::text FROM cards c`, "cast"},
		{`SELECT row_to_json(c) FROM cards c`, "function:row_to_json"},
		{`SELECT row_to_json(c.*) FROM cards c`, "function:row_to_json"},
		{`SELECT to_json(c) FROM cards c`, "function:to_json"},
		{`SELECT to_jsonb(c) - 'id' FROM cards c`, "operator:-"},
		{`SELECT c FROM cards c`, "whole_row"},
		{`SELECT c::text FROM cards c`, "cast"},
		{`SELECT (c).pan FROM cards c`, "indirection"},
		{`SELECT jsonb_path_query(to_jsonb(c), '$.pan') FROM cards c`, "function:jsonb_path_query"},
		// other expression kinds
		{`SELECT coalesce(pan, '') FROM cards`, "coalesce"},
		{`SELECT greatest(pan, '') FROM cards`, "greatest_least"},
		{`SELECT CASE WHEN pan LIKE '4%' THEN 1 ELSE 0 END FROM cards`, "case"},
		{`SELECT pan COLLATE "C" FROM cards`, "collate"},
		{`SELECT nullif(pan, '') FROM cards`, "operator:nullif"},
		{`SELECT first_value(pan) OVER (ORDER BY id) FROM cards`, "window:first_value"},
		{`SELECT mask_pan(pan) || pan FROM cards`, "operator:||"},
		{`SELECT public.mask_pan(pan) FROM cards`, "function:public.mask_pan"},
		// whole-table tags
		{`SELECT name || '' FROM cardholders`, "operator:||"},
		{`SELECT upper(h.expiry) FROM cards c JOIN cardholders h ON h.card_id = c.id`, "function:upper"},
		// returned by DML, copied out, written elsewhere
		{`UPDATE cards SET note = 'x' WHERE id = 1 RETURNING pan || ''`, "operator:||"},
		{`DELETE FROM cards WHERE id = 1 RETURNING md5(pan)`, "function:md5"},
		{`COPY (SELECT pan || '' FROM cards) TO STDOUT`, "operator:||"},
		{`INSERT INTO plain_copy SELECT pan FROM cards`, "write:plain"},
		{`INSERT INTO plain_copy (x) SELECT pan::bigint * 10 FROM cards`, "write:operator:*"},
		{`CREATE TABLE t AS SELECT pan FROM cards`, "write:plain"},
		{`SELECT pan INTO t FROM cards`, "write:plain"},
		{`CREATE VIEW v AS SELECT pan::text AS p FROM cards`, "write:cast"},
		{`UPDATE other SET x = c.pan FROM cards c WHERE other.id = c.id`, "write:plain"},
		{`WITH m AS (UPDATE cards SET note = 'x' RETURNING pan) SELECT p || '' FROM m AS m(p)`, "operator:||"},
		// a write into a tagged column stays in the cardholder data environment, but the call itself
		// may leave the value (pg_notify) or fail quoting it: a side effect
		{`UPDATE cards SET pan = upper(pan) WHERE id = 1`, "side_effect:function:upper"},
		{`PREPARE q AS SELECT pan::text FROM cards`, "cast"},
		{`DECLARE k CURSOR FOR SELECT pan::text FROM cards`, "cast"},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			kinds := derived(t, tc.sql)
			if !slices.Contains(kinds, tc.kind) {
				st := Classify(tc.sql)[0]
				t.Errorf("derivations %q, want %q among them; lineage %+v", kinds, tc.kind, st.Lineage)
			}
		})
	}
}

// TestLineageAllowed: plain references (masked by the gateway by their tag), tagged columns used only
// to select, join, group or order, allow-listed masking functions and untagged data are no derivation.
func TestLineageAllowed(t *testing.T) {
	for _, sql := range []string{
		`SELECT pan FROM cards`,
		`SELECT pan AS p FROM cards`,
		`SELECT c.pan FROM cards c`,
		`SELECT public.cards.pan FROM public.cards`,
		`SELECT * FROM cards`,
		`SELECT c.* FROM cards c`,
		`SELECT * FROM cardholders`,
		`SELECT id FROM cards WHERE pan = $1`,
		`SELECT id FROM cards WHERE pan LIKE '4%' AND pan::text <> ''`,
		`SELECT o.id FROM orders o JOIN cards c ON c.pan = o.card_pan`,
		`SELECT count(*) FROM cards`,
		`SELECT count(pan), count(DISTINCT pan) FROM cards`,
		`SELECT id FROM cards GROUP BY pan, id`,
		`SELECT id FROM cards ORDER BY pan`,
		`SELECT 1/0 FROM cards WHERE pan = '4111111111111111'`,
		`SELECT p FROM (SELECT pan AS p FROM cards) s`,
		`WITH x AS (SELECT pan FROM cards) SELECT pan FROM x`,
		`SELECT x.pan FROM (SELECT * FROM cards) x`,
		`SELECT mask_pan(pan) FROM cards`,
		`SELECT app.mask_pan(pan) FROM cards`,
		`SELECT mask_pan(pan::text) AS last4 FROM cards`,
		`SELECT upper(note), id::text, note || '!' FROM cards`,
		`SELECT max(id) FROM cards WHERE pan = $1`,
		`SELECT exists(SELECT 1 FROM cards WHERE pan = $1)`,
		`INSERT INTO cards (pan) VALUES ($1)`,
		`INSERT INTO cards (pan) SELECT pan FROM cards`,
		`UPDATE cards SET pan = $1 WHERE pan = $2`,
		`DELETE FROM cards WHERE pan = $1 RETURNING id`,
		`UPDATE cards SET note = 'x' WHERE pan = $1 RETURNING pan`,
		`COPY cards TO STDOUT`,
		`COPY (SELECT pan FROM cards) TO STDOUT`,
		`COPY cards FROM STDIN`,
		`SELECT pan FROM cards WHERE id = 1 FOR UPDATE`,
		`EXPLAIN SELECT pan::int FROM cards`,
		`NOTIFY ch, 'hello'`,
		`SELECT h.name, c.pan FROM cards c JOIN cardholders h ON h.card_id = c.id`,
		`SELECT id FROM cards c WHERE EXISTS (SELECT 1 FROM cardholders h WHERE h.card_id = c.id AND h.name = $1)`,
	} {
		t.Run(sql, func(t *testing.T) {
			if kinds := derived(t, sql); len(kinds) > 0 {
				t.Errorf("derivations %q, want none; lineage %+v", kinds, Classify(sql)[0].Lineage)
			}
		})
	}
}

func TestLineageOutputs(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want []Output
	}{
		{`SELECT pan AS p, id FROM cards`, []Output{
			{Name: "p", Sources: []string{"cards.pan"}, Derivation: DerivPlain, Channel: ChannelResult},
			{Name: "id", Sources: []string{"cards.id"}, Derivation: DerivPlain, Channel: ChannelResult}}},
		{`SELECT * FROM cards c JOIN (SELECT upper(name) AS n FROM public.cardholders) h ON true`, []Output{
			{Name: "*", Sources: []string{"cards.*"}, Derivation: DerivPlain, Channel: ChannelResult},
			{Name: "n", Sources: []string{"public.cardholders.name"}, Derivation: "function:upper", Channel: ChannelResult},
			// evaluated inside a subquery: also a side effect (it could be a function that notifies)
			{Sources: []string{"public.cardholders.name"}, Derivation: "function:upper", Channel: ChannelSideEffect}}},
		{`SELECT c.pan, h.name FROM cards c, unknown_t h`, []Output{
			{Name: "pan", Sources: []string{"cards.pan"}, Derivation: DerivPlain, Channel: ChannelResult},
			{Name: "name", Sources: []string{"unknown_t.name"}, Derivation: DerivPlain, Channel: ChannelResult}}},
		{`SELECT pan FROM cards, orders`, []Output{
			{Name: "pan", Sources: []string{"pan"}, Derivation: DerivPlain, Channel: ChannelResult}}},
		{`SELECT 1 FROM cards WHERE pg_notify('c', pan) IS NULL`, []Output{
			{Name: "?column?"[:0], Derivation: "", Channel: ChannelResult},
			{Sources: []string{"cards.pan"}, Derivation: "function:pg_notify", Channel: ChannelSideEffect}}},
		{`INSERT INTO t (a) SELECT pan FROM cards`, []Output{
			{Name: "a", Sources: []string{"cards.pan"}, Derivation: DerivPlain, Channel: ChannelWrite, Target: "t.a"}}},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			got := Classify(tc.sql)[0].Lineage
			if len(got) != len(tc.want) {
				t.Fatalf("lineage %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].Name != tc.want[i].Name || got[i].Derivation != tc.want[i].Derivation ||
					got[i].Channel != tc.want[i].Channel || got[i].Target != tc.want[i].Target ||
					!slices.Equal(got[i].Sources, tc.want[i].Sources) {
					t.Errorf("output %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestLineageCached: the cache hands out the lineage of the text it classified.
func TestLineageCached(t *testing.T) {
	c := NewCache(16)
	for range 2 {
		st := c.Classify(`SELECT pan::text FROM cards WHERE id = 1`)
		if len(st) != 1 || len(st[0].Lineage) != 1 || st[0].Lineage[0].Derivation != DerivCast {
			t.Fatalf("cached lineage %+v", st)
		}
	}
}

func BenchmarkLineage(b *testing.B) {
	sql := `WITH x AS (SELECT c.id, upper(h.name) AS n, c.pan FROM cards c JOIN cardholders h ON h.card_id = c.id WHERE c.id > $1)
		SELECT x.id, x.n, x.pan, (SELECT count(*) FROM orders o WHERE o.card_id = x.id) FROM x ORDER BY x.id LIMIT 10`
	for b.Loop() {
		_ = Classify(sql)
	}
}

// TestTaggedLineageOneWalk: the one walk gives both answers independently — a masking function drops a
// derivation but its column still holds cardholder data in the result, and a write into a tagged column
// is no derivation while a write elsewhere is.
func TestTaggedLineageOneWalk(t *testing.T) {
	for _, tc := range []struct {
		sql              string
		derived, results []string
	}{
		{`SELECT mask_pan(pan) AS m, id FROM cards`, nil, []string{"m"}},
		{`SELECT upper(name), lower(pan), pan FROM cardholders, cards`, []string{"function:lower", "function:upper"}, []string{"upper", "lower", "pan"}},
		{`SELECT reverse(pan), reverse(pan) FROM cards`, []string{"function:reverse"}, []string{"reverse", "reverse"}},
		{`INSERT INTO cards (pan) SELECT pan FROM cards`, nil, nil},
		{`INSERT INTO t (a) SELECT pan FROM cards`, []string{"write:plain"}, nil},
		{`SELECT id FROM orders`, nil, nil},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			st := Classify(tc.sql)[0]
			d, r := st.TaggedLineage(lineageTagged, lineageMasking)
			if !slices.Equal(d, tc.derived) || !slices.Equal(r, tc.results) {
				t.Errorf("TaggedLineage = %q, %q; want %q, %q", d, r, tc.derived, tc.results)
			}
			if got := st.Derived(lineageTagged, lineageMasking); !slices.Equal(got, d) {
				t.Errorf("Derived = %q, TaggedLineage's %q", got, d)
			}
			if got := st.TaggedResults(lineageTagged); !slices.Equal(got, r) {
				t.Errorf("TaggedResults = %q, TaggedLineage's %q", got, r)
			}
		})
	}
}
