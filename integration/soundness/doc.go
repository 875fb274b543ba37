// Package soundness is the adversarial regression suite of issue 11: it attacks a real gateway process,
// with the default policy's rules (deploy/policy/pci.yaml) and no approver, through a raw pgwire client
// and real drivers (pgx, psql, JDBC), and judges the gateway only by what PostgreSQL really did: rows in
// marker tables, large objects, locks, sequences, catalog objects, and PostgreSQL's own statement log
// (log_statement = all on the suite's database h2_sound). For every session it compares that log with the
// session's audit events in Kafka: each statement PostgreSQL ran has an event with the same text and kind,
// no event calls a write a read, and nothing the client was told "not run" ran.
//
// The attack classes follow the root causes: the extended protocol (extended_test.go), SQL-level
// PREPARE/EXECUTE sharing the protocol's namespace (prepare_test.go), lexing state (lexing_test.go),
// cache keys (cache_test.go), reads with side effects while Kafka refuses events (sideeffect_test.go),
// cursors (cursor_test.go) and startup roles (role_test.go). The harness is harness_test.go (gateway,
// fixture, wire client), pglog_test.go (PostgreSQL's log) and audit_test.go (the comparison).
package soundness
