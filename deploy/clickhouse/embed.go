// Package clickhouse holds pangate's ClickHouse schema: the versioned migrations the indexer applies at
// start (migrations/NNNN_name.sql), embedded so the binary carries its own DDL. Read 0001_init.sql for the
// tables, their columns and the exactly-once convention (ReplacingMergeTree + FINAL) every query relies on.
package clickhouse

import "embed"

// Migrations holds migrations/NNNN_name.sql, applied in version order by indexer/migrate.
//
//go:embed migrations/*.sql
var Migrations embed.FS
