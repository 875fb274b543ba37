package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// readyTimeout bounds each helper's first round trip to its service. It is
// generous because CI machines have two busy cores.
const readyTimeout = 20 * time.Second

func down(t testing.TB, service, addr string, err error) {
	t.Helper()
	t.Fatalf("stack: %s at %s is not reachable: %v; start it with: %s", service, addr, err, StartCommand)
}

// PostgresDSN returns the superuser DSN of the stack's PostgreSQL cluster,
// after checking that the server accepts connections.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	e := Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.PGAdminDSN)
	if err != nil {
		down(t, "PostgreSQL", e.PGHost+":"+e.PGPort, err)
	}
	_ = conn.Close(ctx)
	return e.PGAdminDSN
}

// Postgres returns a superuser connection to the stack's PostgreSQL cluster,
// closed when the test ends.
func Postgres(t testing.TB) *pgx.Conn {
	t.Helper()
	e := Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.PGAdminDSN)
	if err != nil {
		down(t, "PostgreSQL", e.PGHost+":"+e.PGPort, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	})
	return conn
}

// Brokers returns the stack's Kafka bootstrap addresses after checking that
// the broker answers a metadata request. The test holds Kafka (see the package
// doc) until it ends.
func Brokers(t testing.TB) []string {
	t.Helper()
	Kafka(t) // holds the broker, checks it answers, and closes at cleanup
	return Env(t).KafkaBrokers
}

// Kafka returns a franz-go client for the stack's broker, closed when the test
// ends. opts are applied after the seed brokers, so they may override anything.
// The test holds Kafka (see the package doc) until it ends.
func Kafka(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	e := Env(t)
	hold(t, kafkaService)
	all := append([]kgo.Opt{kgo.SeedBrokers(e.KafkaBrokers...)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatalf("stack: kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	if err := pingKafka(cl); err != nil {
		down(t, "Kafka", strings.Join(e.KafkaBrokers, ","), err)
	}
	return cl
}

func pingKafka(cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	return cl.Ping(ctx)
}

// KafkaAdmin returns an admin client for the stack's broker, closed when the
// test ends. The test holds Kafka (see the package doc) until it ends.
func KafkaAdmin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(Kafka(t))
}

// ClickHouse returns a native-protocol connection to the stack's ClickHouse
// as the operator (who may run DDL), closed when the test ends. The test holds
// ClickHouse (see the package doc) until it ends.
func ClickHouse(t testing.TB) driver.Conn {
	t.Helper()
	e := Env(t)
	return ClickHouseAs(t, e.ClickHouseUser, e.ClickHousePassword)
}

// ClickHouseAs connects to the stack's ClickHouse as user with password. The
// restricted users may only use database pangate (ClickHouseAuditor,
// ClickHouseReporter) or pangate_ingest (ClickHouseIndexer), so their
// connections default to it; any other
// user's connection defaults to database default. A wrong password fails the
// test, so use clickhouse.Open directly to test refusals.
func ClickHouseAs(t testing.TB, user, password string) driver.Conn {
	t.Helper()
	e := Env(t)
	hold(t, clickHouseService)
	db := "default"
	switch user {
	case ClickHouseIndexer:
		db = "pangate_ingest" // the indexer may use only the ingest database (internal/auditstore/ingest.go)
	case ClickHouseAuditor, ClickHouseReporter:
		db = "pangate"
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{e.ClickHouseAddr},
		Auth:        clickhouse.Auth{Database: db, Username: user, Password: password},
		DialTimeout: 5 * time.Second,
		ReadTimeout: 60 * time.Second,
	})
	if err != nil {
		down(t, "ClickHouse", e.ClickHouseAddr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		down(t, "ClickHouse (as "+user+")", e.ClickHouseAddr, err)
	}
	return conn
}

// S3 returns a client for the stack's S3 bucket server after checking that it
// answers ListBuckets. Create buckets named with UniqueName.
func S3(t testing.TB) *minio.Client {
	t.Helper()
	e := Env(t)
	cl, err := minio.New(e.S3Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(e.S3AccessKey, e.S3SecretKey, ""),
		Secure: false,
		Region: e.S3Region,
	})
	if err != nil {
		t.Fatalf("stack: minio.New(%q): %v", e.S3Endpoint, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if _, err := cl.ListBuckets(ctx); err != nil {
		down(t, "S3 (versitygw)", e.S3Endpoint, err)
	}
	return cl
}

// UniqueName returns a fresh name for a topic, database, table or bucket of
// this test: the prefix, a short form of the test name and 8 random hex
// digits. It contains only [a-z0-9], starts with a letter and has at most 63
// characters, so it is valid unquoted as a Kafka topic, a PostgreSQL or
// ClickHouse identifier, and an S3 bucket name. Characters of prefix outside
// [a-z0-9] are dropped (upper case is lowered).
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	p := alnum(prefix)
	if p == "" || p[0] < 'a' || p[0] > 'z' {
		p = "t" + p
	}
	if len(p) > 24 {
		p = p[:24]
	}
	name := alnum(t.Name())
	name = strings.TrimPrefix(name, "test")
	if len(name) > 24 {
		name = name[:24]
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("stack: random name: %v", err)
	}
	return p + name + hex.EncodeToString(b[:])
}

func alnum(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// GatewaySource is the loopback address gateways under test bind their upstream connections to
// (targets[].source_address): the stack's pg_hba.conf admits JIT roles (members of pangate_jit) only from
// it (deploy/local.GatewaySource, docs/deploy.md). Every gateway config a test writes must set it.
const GatewaySource = "127.0.0.2"

// GatewayDialer dials from GatewaySource, as a gateway's upstream connection does; for tests that log in
// as a JIT role themselves.
func GatewayDialer() *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(GatewaySource)}}
}
