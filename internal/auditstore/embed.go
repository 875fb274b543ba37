// Package auditstore is pangate's audit store schema in ClickHouse, in one place for every service: the
// versioned migrations (migrations/NNNN_name.sql, embedded so a binary carries its own DDL; migrate applies
// them), their cluster counterparts (cluster/), the tables and columns the indexer writes and the reporter
// reads (tables.go), the write-only ingest database the indexer inserts through (ingest.go) and the masked
// query log auditors read (access/). Read migrations/0001_init.sql for the tables, their columns and the
// exactly-once convention (ReplacingMergeTree + FINAL) every query relies on.
package auditstore

import "embed"

// Migrations holds migrations/NNNN_name.sql, applied in version order by migrate (internal/auditstore/migrate).
//
//go:embed migrations/*.sql
var Migrations embed.FS

// QueryLogAccess is access/query_log.sql: the masked copy of the server's query log that auditors and the
// reporter read (pangate_access.queries), applied once per server by the operator (the local stack does).
//
//go:embed access/query_log.sql
var QueryLogAccess string

// QueryLogAccessTable is the table access/query_log.sql fills: what auditors and the reporter read of the
// query log.
const QueryLogAccessTable = "pangate_access.queries"

// QueryLogDatabase is where the server writes its query logs (config.xml), readable by the operator only.
const QueryLogDatabase = "pangate_querylog"
