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
	Error     string   `json:"error,omitempty"`     // parse error message, for KindUnparseable
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
