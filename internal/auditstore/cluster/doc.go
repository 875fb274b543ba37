// Package cluster holds pangate's ClickHouse schema for a replicated, sharded cluster, beside the
// single-node migrations of internal/auditstore: for every single-node table T, a ReplicatedXMergeTree table
// T_local on every node (same columns, partitioning and sorting key) and a Distributed table T over it, so
// the indexer, the reporter and the auditors' SQL keep using the single-node names unchanged.
//
// NNNN_name.sql here mirrors internal/auditstore/migrations/NNNN_name.sql and is GENERATED from it by
//
//	go test ./internal/auditstore/cluster -run Generated -update
//
// The tests check, by parsing the DDL text (no ClickHouse needed), that every single-node table has its
// cluster counterpart with the same columns in the same order, the replicated form of the same engine, the
// same PARTITION BY and ORDER BY, and a Distributed table whose sharding key uses only sorting-key columns:
// a replayed event then lands on the shard that already holds it, where FINAL collapses it (design
// invariant 6). Apply a file once per cluster, as the ClickHouse operator, before the first indexer starts:
//
//	for f in internal/auditstore/cluster/0*.sql; do clickhouse-client --multiquery < "$f"; done
//
// The indexer's own migration of the same version then finds every table present (CREATE TABLE IF NOT
// EXISTS) and only records the version. See docs/scaling.md for the server configuration it assumes
// (config.example.xml: cluster "pangate", macros {shard} and {replica}, ZooKeeper or ClickHouse Keeper,
// insert_distributed_sync for the indexer, distributed_product_mode=global for the reporter and auditors).
//
// try-cluster.sh runs the DDL for real, by hand (not in CI: it needs ZooKeeper): three ClickHouse 18.16
// nodes and ZooKeeper on loopback, ON CLUSTER DDL, a replayed insert collapsed by FINAL across shards,
// replication to the second replica, the indexer's own migration on top, the distributed subqueries, and
// every auditors' cookbook query.
package cluster

import "embed"

// DDL holds NNNN_name.sql, the cluster counterpart of each single-node migration.
//
//go:embed *.sql
var DDL embed.FS
