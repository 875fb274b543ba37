// Package multi tests pangate as a horizontally scaled deployment on one machine: two gateways, two
// approvers and two indexers (one consumer group) against the local stack's real Kafka broker, ClickHouse
// and PostgreSQL, with a client load across both gateways and one process of each kind killed with SIGKILL
// mid-run. Afterwards every event on the topics is in ClickHouse exactly once (as the auditors' FINAL
// queries count it), every session chain verifies (the killed gateway's as gap-free prefixes), and every
// held statement has exactly one effective decision that matches what its client saw (design invariants
// 5, 6 and 7). Start the stack with: go tool task up
package multi
