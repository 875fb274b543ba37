// Package stack connects integration tests to the local stack of real services
// (PostgreSQL, Kafka, ClickHouse, an S3 bucket server) that `go tool task up` starts.
//
// Endpoints come from PANGATE_* environment variables, falling back to the
// .stack/env file that `go tool task up` writes at the module root (found by
// walking up from the working directory to go.mod). Every helper takes the test,
// registers cleanups on it, and fails the test with t.Fatalf — never t.Skip —
// naming the command that starts the service when a service does not answer:
// a missing service is a broken environment, not a reason to pass.
//
// Tests that stop a service mid-test (StopKafka, StopClickHouse) take that
// service exclusively: they wait until every other test, in this and in other
// test processes, that holds the service through Kafka, KafkaAdmin, Brokers,
// ClickHouse or ClickHouseAs has finished, and other such tests wait until the
// stopping test has ended and the service is back. Tests that read raw
// endpoints from Env are not covered by that coordination; use the helpers.
//
// StartGateway, StartApprover, StartIndexer and StartIssuer run pangate's own services for a test as real
// processes, through internal/launch (which the demo and the benchmark use as well): the binary is built
// once per test process, the config is the service's own config type marshalled (GatewayConfig,
// ApproverConfig and IndexerConfig return it for tests that check or change it), the process is stopped
// when the test ends and its log shown when the test failed (or PANGATE_TEST_SHOW_LOGS is set). Kill (kill
// -9) and Restart come with every process. DevCert, DecisionKeys, PCIPolicy, FreePort, Eventually and
// WaitTopics are the small helpers each integration package once copied. RunReporter runs a reporter
// command (it is no daemon) with its marshalled config and returns its exit status and output.
// ServiceTopics makes a prefix's service topics and ClickHouseDatabase a test's own ClickHouse database
// (with the ingest database the indexer adds beside it), both removed when the test ends.
package stack
