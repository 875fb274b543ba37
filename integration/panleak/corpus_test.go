package panleak_test

// kind says how an attempt runs and what outcome proves it really ran.
type kind int

const (
	kQuery  kind = iota // rows are read; the row count must match
	kError              // the statement must fail with the SQLSTATE in code
	kCopy               // COPY … TO STDOUT; the COPY row count must match (simple protocol only)
	kNotice             // a NOTICE must arrive
	kNotify             // LISTEN on the same connection, then a notification must arrive
)

// all stands for "one row per seeded PAN" in attempt.rows.
const all = -1

// attempt is one try to get card numbers out. In sql, {t} is the cards table and {pan} the first seeded
// PAN written as a literal (so the SQL text itself carries a PAN into events and logs).
type attempt struct {
	name string
	kind kind
	sql  string
	rows int64  // kQuery, kCopy
	code string // kError
	// tagged: every value must come back masked whole (the column-tag path); checked beyond the detector
	// by looking for the 8-digit heads and long tails of the seeded PANs.
	tagged bool
	// binary asks for binary results for every column (pgx QueryResultFormats), in the prepared mode only:
	// libpq-based drivers (psycopg binary cursors) do this for json and other types pgx reads as text.
	binary bool
}

// corpus holds every attempt. Names are stable: knownLeaks refers to them.
var corpus = []attempt{
	// Plain reads: the pan column is tagged by the pattern "pan" (resolved through the catalog), and its
	// content is a PAN.
	{name: "plain select", sql: `SELECT id, pan FROM {t} ORDER BY id`, rows: all},
	{name: "plain select with alias", sql: `SELECT pan AS v FROM {t} ORDER BY id`, rows: all},
	{name: "select star", sql: `SELECT * FROM {t} ORDER BY id`, rows: all},
	{name: "table statement", sql: `TABLE {t}`, rows: all},
	// Computed columns: table OID 0 in the RowDescription, so only content scanning protects them.
	{name: "computed text", sql: `SELECT pan || '' AS v FROM {t} ORDER BY id`, rows: all},
	{name: "cast bigint", sql: `SELECT pan::bigint AS v FROM {t} ORDER BY id`, rows: all},
	{name: "cast numeric", sql: `SELECT pan::numeric AS v FROM {t} ORDER BY id`, rows: all},
	{name: "cast numeric with scale", sql: `SELECT pan::numeric(30,2) AS v FROM {t} ORDER BY id`, rows: all},
	{name: "cast float8", sql: `SELECT pan::float8 AS v FROM {t} ORDER BY id`, rows: all},
	{name: "cast bigint to text", sql: `SELECT pan::bigint::text AS v FROM {t} ORDER BY id`, rows: all},
	{name: "json_agg text", sql: `SELECT json_agg(pan ORDER BY id) AS v FROM {t}`, rows: 1},
	{name: "json_agg bigint", sql: `SELECT json_agg(pan::bigint ORDER BY id) AS v FROM {t}`, rows: 1},
	{name: "row_to_json", sql: `SELECT row_to_json(c) AS v FROM (SELECT id, brand, pan FROM {t}) c ORDER BY id`, rows: all},
	{name: "jsonb_build_object", sql: `SELECT jsonb_build_object('p', pan, 'n', pan::bigint) AS v FROM {t} ORDER BY id`, rows: all},
	{name: "to_jsonb numeric", sql: `SELECT to_jsonb(pan::numeric) AS v FROM {t} ORDER BY id`, rows: all},
	{name: "json_agg bigint binary format", sql: `SELECT json_agg(pan::bigint ORDER BY id) AS v FROM {t}`, rows: 1, binary: true},
	{name: "jsonb_build_object binary format", sql: `SELECT jsonb_build_object('p', pan, 'n', pan::bigint) AS v FROM {t} ORDER BY id`, rows: all, binary: true},
	{name: "row_to_json binary format", sql: `SELECT row_to_json(c) AS v FROM (SELECT id, brand, pan, pan::bigint AS n FROM {t}) c ORDER BY id`, rows: all, binary: true},
	{name: "array_agg text", sql: `SELECT array_agg(pan ORDER BY id) AS v FROM {t}`, rows: 1},
	{name: "array_agg bigint", sql: `SELECT array_agg(pan::bigint ORDER BY id) AS v FROM {t}`, rows: 1},
	{name: "array_agg numeric", sql: `SELECT array_agg(pan::numeric ORDER BY id) AS v FROM {t}`, rows: 1},
	{name: "array literal", sql: `SELECT ARRAY[brand, pan] AS v FROM {t} ORDER BY id`, rows: all},
	{name: "row constructor", sql: `SELECT ROW(id, pan, pan::bigint) AS v FROM {t} ORDER BY id`, rows: all},
	{name: "string_agg comma", sql: `SELECT string_agg(pan, ',' ORDER BY id) AS v FROM {t}`, rows: 1},
	{name: "string_agg space", sql: `SELECT string_agg(pan, ' ' ORDER BY id) AS v FROM {t}`, rows: 1},
	{name: "string_agg no separator", sql: `SELECT string_agg(pan, '' ORDER BY id) AS v FROM {t}`, rows: 1},
	{name: "format", sql: `SELECT format('card=%s;brand=%s', pan, brand) AS v FROM {t} ORDER BY id`, rows: all},
	{name: "concatenation", sql: `SELECT 'x' || pan || 'y' AS v FROM {t} ORDER BY id`, rows: all},
	{name: "grouped with spaces", sql: `SELECT regexp_replace(pan, '(\d{4})', '\1 ', 'g') AS v FROM {t} ORDER BY id`, rows: all},
	{name: "grouped with dashes", sql: `SELECT regexp_replace(pan, '(\d{4})(?=\d)', '\1-', 'g') AS v FROM {t} ORDER BY id`, rows: all},
	{name: "bytea", sql: `SELECT convert_to(pan, 'UTF8') AS v FROM {t} ORDER BY id`, rows: all},
	{name: "hex text", sql: `SELECT encode(convert_to(pan, 'UTF8'), 'hex') AS v FROM {t} ORDER BY id`, rows: all},
	{name: "xml", sql: `SELECT xmlelement(name card, pan) AS v FROM {t} ORDER BY id`, rows: all},
	{name: "track 2", sql: `SELECT ';' || pan || '=25121010000000000000?' AS v FROM {t} ORDER BY id`, rows: all},
	{name: "pan as column alias", sql: `SELECT 1 AS "{pan}"`, rows: 1},
	{name: "set_config application_name", sql: `SELECT set_config('application_name', pan, false) AS v FROM {t} WHERE id = 1`, rows: 1},
	{name: "pan literal echoed", sql: `SELECT '{pan}'::text AS v`, rows: 1},
	// Encodings content scanning cannot see: only column tags protect them.
	{name: "tagged encoded columns", sql: `SELECT pan_rev AS a, pan_b64 AS b, pan_head AS c, pan_tail AS d FROM {t} ORDER BY id`, rows: all, tagged: true},
	{name: "reverse under a tagged alias", sql: `SELECT reverse(pan) AS card_number FROM {t} ORDER BY id`, rows: all, tagged: true},
	{name: "substr pieces under tagged aliases", sql: `SELECT substr(pan, 1, 8) AS pan, substr(pan, 9) AS card_number FROM {t} ORDER BY id`, rows: all, tagged: true},
	{name: "base64 under a tagged alias", sql: `SELECT encode(convert_to(pan, 'UTF8'), 'base64') AS card_number FROM {t} ORDER BY id`, rows: all, tagged: true},
	// Documented limits (docs/masking.md): encodings in computed columns that no tag reaches.
	{name: "reverse untagged", sql: `SELECT reverse(pan) AS r FROM {t} ORDER BY id`, rows: all},
	{name: "base64 untagged", sql: `SELECT encode(convert_to(pan, 'UTF8'), 'base64') AS b FROM {t} ORDER BY id`, rows: all},
	{name: "row_to_json whole row with encoded columns", sql: `SELECT row_to_json(c) AS v FROM {t} c ORDER BY id`, rows: all},
	// Errors that quote a PAN.
	{name: "unique violation detail", kind: kError, code: "23505", sql: `INSERT INTO {t} (id, brand, pan) SELECT 1000, brand, pan FROM {t} WHERE id = 1`},
	{name: "unique violation with literal", kind: kError, code: "23505", sql: `INSERT INTO {t} (id, brand, pan) VALUES (1001, 'x', '{pan}')`},
	{name: "cast to int out of range", kind: kError, code: "22003", sql: `SELECT pan::int FROM {t} ORDER BY id`},
	{name: "cast to int invalid syntax", kind: kError, code: "22P02", sql: `SELECT ('x' || pan)::int FROM {t} ORDER BY id`},
	{name: "cast to date", kind: kError, code: "22008", sql: `SELECT pan::date FROM {t} WHERE id = 1`},
	{name: "raise exception", kind: kError, code: "P0001", sql: `DO $$ DECLARE p text; BEGIN SELECT pan INTO p FROM {t} WHERE id = 1; RAISE EXCEPTION 'card %', p USING DETAIL = 'detail ' || p, HINT = 'hint ' || p; END $$`},
	{name: "raise exception literal", kind: kError, code: "P0001", sql: `DO $$ BEGIN RAISE EXCEPTION 'card {pan}'; END $$`},
	// Notices and notifications.
	{name: "raise notice", kind: kNotice, sql: `DO $$ DECLARE p text; BEGIN SELECT pan INTO p FROM {t} WHERE id = 2; RAISE NOTICE 'card %', p USING DETAIL = p, HINT = p; END $$`},
	{name: "raise notice all pans", kind: kNotice, sql: `DO $$ DECLARE p text; BEGIN SELECT string_agg(pan, ' ') INTO p FROM {t}; RAISE NOTICE '%', p; END $$`},
	{name: "notify payload", kind: kNotify, sql: `SELECT pg_notify('panleak', pan) FROM {t} WHERE id = 3`},
	{name: "notify literal", kind: kNotify, sql: `NOTIFY panleak, '{pan}'`},
	// COPY out in every format.
	{name: "copy table text", kind: kCopy, sql: `COPY {t} (id, pan) TO STDOUT`, rows: all},
	{name: "copy table csv", kind: kCopy, sql: `COPY {t} (id, pan) TO STDOUT (FORMAT csv)`, rows: all},
	{name: "copy table binary", kind: kCopy, sql: `COPY {t} (id, pan) TO STDOUT (FORMAT binary)`, rows: all},
	{name: "copy whole table text", kind: kCopy, sql: `COPY {t} TO STDOUT`, rows: all},
	{name: "copy query text", kind: kCopy, sql: `COPY (SELECT id, pan || '' FROM {t}) TO STDOUT`, rows: all},
	{name: "copy query csv", kind: kCopy, sql: `COPY (SELECT id, 'x' || pan FROM {t}) TO STDOUT (FORMAT csv, HEADER)`, rows: all},
	{name: "copy query binary text field", kind: kCopy, sql: `COPY (SELECT id, pan || '' FROM {t}) TO STDOUT (FORMAT binary)`, rows: all},
	{name: "copy query bigint text", kind: kCopy, sql: `COPY (SELECT pan::bigint FROM {t}) TO STDOUT`, rows: all},
	{name: "copy query bigint binary", kind: kCopy, sql: `COPY (SELECT pan::bigint FROM {t}) TO STDOUT (FORMAT binary)`, rows: all},
	{name: "copy query numeric binary", kind: kCopy, sql: `COPY (SELECT pan::numeric FROM {t}) TO STDOUT (FORMAT binary)`, rows: all},
	{name: "copy query json_agg", kind: kCopy, sql: `COPY (SELECT json_agg(pan) FROM {t}) TO STDOUT`, rows: 1},
	{name: "copy tagged encoded columns text", kind: kCopy, sql: `COPY {t} (pan_rev, pan_b64, pan_head, pan_tail) TO STDOUT`, rows: all},
}

// knownLeaks are attempts that get a PAN out today. They are not run by TestPANLeak (a red CI blocks
// everyone); TestKnownLeaks lists each with its defect so that it shows in every run. Remove an entry once
// the gateway is fixed: the attempt then runs in TestPANLeak.
var knownLeaks = map[string]string{
	// Defects found by this test and fixed since: COPY <table> [(cols)] TO STDOUT of mask.columns-tagged
	// columns in the clear (88ce771); json (OID 114) in binary format starred instead of zero-filled, which
	// broke clients (internal/mask binaryValue now checks json before the text types); COPY (SELECT
	// pan::bigint / pan::numeric …) TO STDOUT (FORMAT binary) in the clear (internal/mask now reads untyped
	// binary COPY fields as int8/float8/numeric, like unknown-layout DataRow values).

	// Documented limits (docs/masking.md, "What content scanning cannot catch"): they leak under an
	// allow-everything policy; in production only the policy (hold COPY / functions over cardholder
	// columns) stands in the way.
	"reverse untagged": "LIMIT: reverse(pan) under an untagged alias is not a PAN to content scanning; no tag reaches a computed column.",
	"base64 untagged":  "LIMIT: base64 of the PAN under an untagged alias; same as reverse.",
	"row_to_json whole row with encoded columns": "LIMIT: row_to_json(c) over a row that includes tagged encoded columns " +
		"(pan_rev, pan_b64) returns them in the clear inside the JSON: tags do not follow values into a function result.",
}

// Not in the corpus because no detector can tell them from noise (they are listed in the report):
// substr(pan, 1, 8) and substr(pan, 9) in two untagged columns or rows, arithmetic (pan::bigint + 1),
// spelled-out digits, a PAN after '+' with 12-15 digits (E.164 rule), encodings other than hex of ASCII.
