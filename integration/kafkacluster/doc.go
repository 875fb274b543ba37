// Package kafkacluster tests the local stack's Kafka cluster profile (go tool task up:cluster: three
// KRaft brokers, replication 3, min.insync.replicas 2, SASL/SCRAM-SHA-512 over TLS, ACLs from
// deploy/kafkaacl) against the real brokers: who may produce where (acl_test.go), and that gateways under
// pgbench load lose nothing and record everything while brokers are killed with SIGKILL and restarted
// (fault_test.go). docs/scaling.md describes the profile and what these tests prove.
package kafkacluster
