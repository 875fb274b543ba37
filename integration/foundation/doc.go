// Package foundation holds the first integration tests against the local
// stack: a chained session of events through the real Kafka broker, tables and
// user permissions in the real ClickHouse, objects in the S3 bucket server,
// PostgreSQL, and the harness's stop/start helpers. Run `go tool task up`
// first (go tool task test does).
package foundation
