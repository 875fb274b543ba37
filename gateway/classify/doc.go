// Package classify says what a SQL string does, from its PostgreSQL parse tree.
//
// The gateway calls Classify (or a shared Cache) on every query string a client sends, before the statement
// is recorded or forwarded. Each statement of the string gets a Kind (read, write, ddl, role, copy, utility,
// transaction, unparseable), the relations, columns and functions it touches, and risk tags that the policy
// package turns into allow/deny/hold decisions. The parser is PostgreSQL's own (libpg_query via
// github.com/pganalyze/pg_query_go/v6), so what we classify is what the server will run.
//
// Classification is conservative: when a construct could change data or privileges and we cannot see
// inside it (DO blocks, CALL, data-modifying CTEs, EXPLAIN ANALYZE of a write), it is classified by what
// it may do, never by what it looks like.
//
// Beyond kind and tags, a Statement carries what the gateway's session model needs to follow the server
// (issue 11; docs/policy.md):
//
//	SideEffectFree, AttrNames, Operators   may the read run before its audit event is acknowledged?
//	                                       (allow.go; the catalog check is gateway/proxy's sideEffectFree)
//	UnknownTables                          dynamic SQL: the tables are not in the text
//	Prepare, Execute(+Runs), Deallocate*   SQL-level prepared statements (one namespace with Parse)
//	Declare(+Hold), Fetch, CloseCursor/All cursors, whose query runs at FETCH/MOVE
//	Discard, Settings                      session resets and settings (client_encoding, …: lexing_setting)
//
// The Cache keys classifications by PostgreSQL's own scanner tokens with constants abstracted (cache.go);
// FuzzCacheKeySameTree checks that texts sharing an entry parse to the same tree apart from constants.
package classify
