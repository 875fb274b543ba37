// Package clickhouse holds pangate's ClickHouse schema: the versioned migrations the indexer applies at
// start (migrations/NNNN_name.sql), embedded so the binary carries its own DDL. Read 0001_init.sql for the
// tables, their columns and the exactly-once convention (ReplacingMergeTree + FINAL) every query relies on.
package clickhouse

import "embed"

// Migrations holds migrations/NNNN_name.sql, applied in version order by indexer/migrate.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// QueryLogAccess is access/query_log.sql: the masked copy of the server's query log that auditors and the
// reporter read (pangate_access.queries), applied once per server by the operator (the local stack does).
//
//go:embed access/query_log.sql
var QueryLogAccess string

// QueryLogDatabase is where the server writes its query logs (config.xml), readable by the operator only.
const QueryLogDatabase = "pangate_querylog"
