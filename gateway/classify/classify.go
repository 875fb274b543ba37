package classify

// Kind is what a statement does, coarsely; policy rules match on it. The values are stable: they are
// written into audit events (schemas.Statement.Kind).
type Kind string

// Statement kinds.
const (
	// KindRead is a SELECT (or VALUES, TABLE, DECLARE CURSOR, EXPLAIN ANALYZE of a SELECT) without data
	// modification. SELECT … FOR UPDATE is a read; a SELECT calling a volatile function is a read too,
	// since we cannot know what the function does.
	KindRead Kind = "read"
	// KindWrite is INSERT/UPDATE/DELETE/MERGE/TRUNCATE, a data-modifying CTE, EXPLAIN ANALYZE of a write,
	// CALL, DO and REFRESH MATERIALIZED VIEW.
	KindWrite Kind = "write"
	// KindDDL creates, alters or drops schema objects (PCI DSS 10.2.1.7), including SELECT INTO and
	// CREATE TABLE AS.
	KindDDL Kind = "ddl"
	// KindRole creates, alters or drops roles and users, or grants/revokes privileges (PCI DSS 10.2.1.5).
	KindRole Kind = "role"
	// KindCopy is COPY in either direction; CopyIn/CopyOut and the tags tell which.
	KindCopy Kind = "copy"
	// KindUtility is SET/SHOW/RESET/DISCARD/LISTEN/NOTIFY/EXPLAIN (without ANALYZE)/VACUUM/ANALYZE/…
	KindUtility Kind = "utility"
	// KindTransaction is BEGIN/COMMIT/ROLLBACK/SAVEPOINT/PREPARE TRANSACTION…
	KindTransaction Kind = "transaction"
	// KindUnparseable is a string PostgreSQL's parser refuses.
	KindUnparseable Kind = "unparseable"
)

// Risk tags. A statement carries every tag that applies, sorted.
const (
	TagNoWhere        = "no_where"        // UPDATE or DELETE without WHERE (anywhere in the statement)
	TagDDL            = "ddl"             // schema change (kind ddl)
	TagRoleChange     = "role_change"     // CREATE/ALTER/DROP ROLE or USER, GRANT, REVOKE, ALTER DEFAULT PRIVILEGES
	TagCopyOut        = "copy_out"        // COPY … TO, including COPY (query) TO
	TagCopyIn         = "copy_in"         // COPY … FROM
	TagCopyProgram    = "copy_program"    // COPY … TO/FROM PROGRAM (runs a shell command on the server)
	TagExternalAccess = "external_access" // reaches outside the database: server files, programs, other servers
	TagSetRole        = "set_role"        // SET ROLE, SET SESSION AUTHORIZATION, RESET ROLE, set_config('role',…)
	TagMultiStatement = "multi_statement" // the query string holds more than one statement (set on each)
	TagUnparseable    = "unparseable"     // the parser refused the string
	TagTruncate       = "truncate"        // TRUNCATE
	TagDrop           = "drop"            // DROP of any object (tables, roles, databases, …)
	TagAdminSetting   = "admin_setting"   // ALTER SYSTEM, SET/set_config of superuser or parser-affecting settings, LOAD
	TagAdminFunction  = "admin_function"  // pg_terminate_backend, pg_reload_conf, pg_rotate_logfile, …
	TagDynamicSQL     = "dynamic_sql"     // runs SQL we cannot see: DO, EXECUTE, query_to_xml(…), CALL
	TagSelectInto     = "select_into"     // SELECT … INTO new_table
	TagSearchPath     = "search_path"     // SET search_path: changes what unqualified table names mean
	TagDataModifying  = "data_modifying"  // COPY (INSERT/UPDATE/DELETE … RETURNING) TO: a copy that writes
	TagLexing         = "lexing_setting"  // changes how the server splits bytes into tokens: client_encoding, standard_conforming_strings, backslash_quote (SET, SET NAMES, RESET, set_config with any or a computed name, ALTER ROLE/DATABASE … SET)
)

// Statement is one classified statement of a query string. Slices are sorted, unique, and must be
// treated as read-only: a Cache hands the same backing arrays to every caller (their capacity equals
// their length, so append always copies).
type Statement struct {
	Kind        Kind   `json:"kind"`
	Fingerprint string `json:"fingerprint"` // pg_query fingerprint, hex; for unparseable strings a hash of the literal-normalised text
	Text        string `json:"text"`        // this statement's own text, sliced from the string by its location/length, trimmed
	// Tables are the relations touched, schema-qualified when written so ("public.cards" or "cards"),
	// lower-cased unless quoted. CTE names are not tables.
	Tables []string `json:"tables,omitempty"`
	// Columns referenced. "table.column" when the table is known (qualified with a table name or alias,
	// or the only relation in scope), where table is written exactly as in Tables; else "column".
	// An unqualified "*" gives "table.*" for every table of its FROM clause ("*" when the FROM clause
	// holds only subqueries or functions, whose columns are recorded inside them); "c.*" gives
	// "table.*". A whole-row reference (row_to_json(c)) gives "table.*" too. Insert/update target
	// columns and COPY column lists count; INSERT without a column list and COPY of a whole table give
	// "table.*".
	Columns   []string `json:"columns,omitempty"`
	Tags      []string `json:"tags,omitempty"`      // risk tags (Tag* constants), sorted
	Functions []string `json:"functions,omitempty"` // functions called, as written (schema-qualified when written so), lower-cased
	CopyOut   bool     `json:"copy_out,omitempty"`  // COPY … TO (rows leave the database)
	CopyIn    bool     `json:"copy_in,omitempty"`   // COPY … FROM
	// CopyTable and CopyColumns are the target of COPY table [(column, …)] TO, as PostgreSQL's parser
	// read it: the table as in Tables and the column list in its order (nil: every column). Empty for
	// COPY (query) TO and COPY … FROM.
	CopyTable   string   `json:"copy_table,omitempty"`
	CopyColumns []string `json:"copy_columns,omitempty"`
	Error       string   `json:"error,omitempty"` // parse error message, for KindUnparseable

	// SideEffectFree is true only for a read (Kind read, including EXPLAIN ANALYZE of one, and the query
	// of PREPARE / DECLARE, which runs later) whose every function call, operator and type name is a
	// built-in on the allow-lists of allow.go (unqualified or pg_catalog-qualified), with no locking
	// clause (FOR UPDATE/SHARE takes row locks other sessions see), no sampling method other than
	// BERNOULLI/SYSTEM, and no name in attribute position ((x).f, t.f) that is a built-in function
	// callable with one argument and not allow-listed. It is a syntactic judgement: what names resolve to
	// in the database (views, row-level security, user functions shadowing built-in names, user
	// functions called by attribute notation) is checked against the catalog by the gateway
	// (gateway/proxy purity.go), which must also treat a missing catalog as "not side-effect-free".
	SideEffectFree bool `json:"side_effect_free,omitempty"`
	// AttrNames are the names used in attribute position, lower-cased: the last field of every
	// qualified column reference (t.f, s.t.f) and every field of an indirection ((expr).f). PostgreSQL
	// calls function f(t) when f is not a column, so each may be a function call.
	AttrNames []string `json:"attr_names,omitempty"`
	// Operators are the operator names used (A_Expr, ANY/ALL sublinks), as written: "=", "pg_catalog.+".
	Operators []string `json:"operators,omitempty"`
	// UnknownTables is set when the statement runs SQL the parse tree does not show (the dynamic_sql tag:
	// DO, CALL, query_to_xml(…), dblink(…), ts_stat(…), …): Tables is then incomplete and cardholder data
	// must be assumed.
	UnknownTables bool `json:"unknown_tables,omitempty"`

	// Names of SQL-level prepared statements and cursors, set only on the statement concerned. Prepared
	// statements share one namespace with protocol-level (Parse) statements; cursors with portals.

	// Prepare is the name of PREPARE name AS query; Kind, Tables, … are those of the query.
	Prepare string `json:"prepare,omitempty"`
	// Execute is the name run by EXECUTE name(…), EXPLAIN [ANALYZE] EXECUTE name and CREATE TABLE … AS
	// EXECUTE name; the parameter expressions' tables and functions are in the statement (they are
	// evaluated). Kind stays utility (ddl for CREATE TABLE AS): the gateway must resolve the name.
	Execute string `json:"execute,omitempty"`
	// ExecuteRuns is false for plain EXPLAIN EXECUTE, which only plans the prepared statement; true when
	// the prepared statement runs (EXECUTE, EXPLAIN ANALYZE EXECUTE, CREATE TABLE AS EXECUTE, also
	// WITH NO DATA: counted as running, the conservative answer).
	ExecuteRuns bool `json:"execute_runs,omitempty"`
	// Deallocate is the name of DEALLOCATE [PREPARE] name; DeallocateAll is DEALLOCATE ALL.
	Deallocate    string `json:"deallocate,omitempty"`
	DeallocateAll bool   `json:"deallocate_all,omitempty"`
	// Declare is the cursor of DECLARE name … CURSOR [WITH HOLD] FOR query (not set under EXPLAIN, which
	// opens no cursor); Kind, Tables, SideEffectFree, … are the query's, which runs at FETCH/MOVE.
	Declare     string `json:"declare,omitempty"`
	DeclareHold bool   `json:"declare_hold,omitempty"`
	// Fetch is the cursor of FETCH or MOVE, any direction.
	Fetch string `json:"fetch,omitempty"`
	// CloseCursor is the cursor of CLOSE name; CloseAll is CLOSE ALL.
	CloseCursor string `json:"close_cursor,omitempty"`
	CloseAll    bool   `json:"close_all,omitempty"`
	// Discard is the target of DISCARD: "all", "plans", "temp" or "sequences". DISCARD ALL also
	// deallocates every prepared statement, closes every cursor and resets every setting (Settings holds
	// {Name: "all", Reset: true}).
	Discard string `json:"discard,omitempty"`
	// Settings are the session settings the statement changes, in order of appearance: SET, SET LOCAL,
	// SET SESSION, SET NAMES (client_encoding), SET … TO DEFAULT and RESET (Reset), RESET ALL (Name
	// "all"), and every set_config(name, value, is_local) call anywhere in the statement. ALTER ROLE/
	// DATABASE … SET change other sessions and are not listed (they carry the tags only).
	Settings []Setting `json:"settings,omitempty"`
	// Lineage is every value the statement lets out (returned, written, or reaching an error text or a
	// function's effect) with its source columns and derivation, from the parse tree alone (lineage.go;
	// docs/masking.md "Lineage"). Result outputs first in column order, then writes, then side effects.
	Lineage []Output `json:"lineage,omitempty"`
}

// Setting is one change of a run-time setting.
type Setting struct {
	Name     string `json:"name"`               // lower-cased ("" when Computed and the name is not a constant)
	Value    string `json:"value,omitempty"`    // lower-cased; several values joined by ", "; "" for Reset
	Computed bool   `json:"computed,omitempty"` // the name or value is an expression, not a constant
	Reset    bool   `json:"reset,omitempty"`    // RESET, SET … TO DEFAULT, set_config(…, NULL, …)
	Local    bool   `json:"local,omitempty"`    // SET LOCAL, set_config(…, …, true): until the transaction ends
}

// HasTag reports whether the statement carries tag.
func (s Statement) HasTag(tag string) bool {
	for _, t := range s.Tags {
		if t == tag {
			return true
		}
	}
	return false
}
