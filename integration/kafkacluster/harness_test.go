package kafkacluster_test

// The package's harness: its PostgreSQL database and fixture, and the gateway and indexer of
// integration/stack with their Kafka clients on the cluster profile (TLS + SCRAM, each as its own
// principal).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pangate/pangate/deploy/kafkaacl"
	gatewayconfig "github.com/pangate/pangate/gateway/config"
	indexerconfig "github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/integration/stack"
)

const (
	// database is the package's own database; log_statement = all is set on it only.
	database = "kafkacluster_fault"
)

// faultDB creates the package's database (kept between runs) with every statement logged, and returns a
// superuser DSN for it.
func faultDB(t testing.TB) string {
	t.Helper()
	admin := stack.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to PostgreSQL as superuser: %v; start the stack with: %s", err, stack.StartCommand)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+database); err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "42P04" && pe.Code != "23505") {
			t.Fatalf("create database %s: %v", database, err)
		}
	}
	if _, err := c.Exec(ctx, "ALTER DATABASE "+database+" SET log_statement = 'all'"); err != nil {
		t.Fatalf("ALTER DATABASE %s SET log_statement: %v", database, err)
	}
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(admin, "/"+cfg.Database+"?", "/"+database+"?", 1)
}

// fixture is a role the policy grants and pgbench-like tables named with a per-test prefix.
type fixture struct {
	Role   string
	Tables string // prefix of <p>_accounts, <p>_tellers, <p>_branches, <p>_history
	Admin  *pgx.Conn
	dsn    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dsn := faultDB(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", database, err)
	}
	p := stack.UniqueName(t, "kc")
	f := &fixture{Role: p + "_r", Tables: p + "_pb", Admin: admin, dsn: dsn}
	tb := f.Tables
	for _, q := range append([]string{fmt.Sprintf("CREATE ROLE %s NOLOGIN", f.Role)}, stack.PgbenchTables(tb, f.Role)...) {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("fixture %q: %v", q, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// JIT roles a gateway left behind (members of the role), then the fixture's objects.
		stack.DropJITMembers(ctx, admin, f.Role)
		for _, s := range []string{"history", "accounts", "tellers", "branches"} {
			_, _ = admin.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s_%s", tb, s))
		}
		_, _ = admin.Exec(ctx, "DROP OWNED BY "+f.Role)
		_, _ = admin.Exec(ctx, "DROP ROLE IF EXISTS "+f.Role)
		_ = admin.Close(ctx)
	})
	return f
}

// startGateway runs a gateway (stack.StartGateway) whose Kafka client reaches the cluster profile over TLS
// as pangate-gateway (SCRAM-SHA-512), writing the real topic names (the profile's ACLs are on them), under
// the default policy with one grant of the fixture's role.
func startGateway(t *testing.T, c *cluster, f *fixture, instance string) *stack.Gateway {
	t.Helper()
	policy := stack.PCIPolicy(t, t.TempDir(), stack.PolicyOptions{Grant: "kafkacluster", Roles: []string{f.Role}})
	return stack.StartGateway(t, stack.GatewayOptions{
		Instance: instance, Brokers: c.Brokers, AdminDSN: stack.PostgresDSN(t), Database: database, PolicyFile: policy,
		// The launcher's defaults (debug log, pan/card_number patterns): with them a session whose setup
		// outlasted a leader election ended with credential.revoked and no session.ended, 3 runs of 3, until
		// the gateway ended every begun chain (gateway/proxy TestUpstreamRefusedEndsChain).
		LogTail: 40,
		// ack_timeout 15s: a statement waits out a leader election (the killed broker is noticed after
		// broker.session.timeout.ms, 6s) instead of being refused.
		AckTimeout: 15 * time.Second,
		Configure: func(cfg *gatewayconfig.Config) {
			c.secured(t, &cfg.Kafka.Config, kafkaacl.Gateway)
			off := false // the topics exist; the gateway principal may not create topics
			cfg.Kafka.EnsureTopics = &off
		},
	})
}

// PostgreSQL's own record of what it ran (as integration/soundness/pglog_test.go reads it): the stack
// logs with log_line_prefix '%m [%p] '; with log_statement = all a simple Query is logged as
// "statement: <string>" once it parses.

// PostgreSQL's log: integration/stack's PGLog reader.
type logEntry = stack.PGLogEntry

func logOffset(t *testing.T, f *fixture) int64 { return stack.PGLogOffset(t, f.Admin) }

// readLog returns the statements PostgreSQL logged since offset, by backend pid.
func readLog(t *testing.T, f *fixture, offset int64) map[int][]logEntry {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	return stack.ReadPGLog(t, f.Admin, offset)
}

// startIndexer runs the indexer (stack.StartIndexer) as pangate-indexer (TLS + SCRAM, group
// pangate-indexer: the ACLs name it) into ClickHouse database db, migrated by the operator.
func startIndexer(t *testing.T, c *cluster, instance, db string) *stack.Indexer {
	t.Helper()
	return stack.StartIndexer(t, stack.IndexerOptions{
		Instance: instance, Brokers: c.Brokers, Group: kafkaacl.IndexerGroup, InstanceID: instance, Database: db,
		SessionTimeout: 6 * time.Second, BatchSize: 500,
		Configure: func(cfg *indexerconfig.Config) { c.secured(t, &cfg.Kafka.Config, kafkaacl.Indexer) },
	})
}
