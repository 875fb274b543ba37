package reporter_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	gatewayconfig "github.com/pangate/pangate/gateway/config"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/reporter/manifest"
)

// crashSession opens a session through the gateway listening on port and runs n statements in it; it
// returns with the session still open.
func crashSession(t *testing.T, port, role, token string, n int) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=postgres sslmode=disable password=%s",
		port, role, token))
	if err != nil {
		t.Fatalf("connect through the gateway: %v", err)
	}
	crashRun(t, c, n)
	return c
}

// crashRun runs n statements in session c.
func crashRun(t *testing.T, c *pgx.Conn, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		var v int
		if err := c.QueryRow(context.Background(), "SELECT $1::int", i).Scan(&v); err != nil || v != i {
			t.Fatalf("statement %d through the gateway: %d, %v", i, v, err)
		}
	}
}

// TestGatewayKilledAndRestarted: a gateway is killed with SIGKILL right after a statement, before its next
// checkpoint could list it, and restarted under the same instance name with the same key. The integrity
// report built from the indexed events (real gateway, Kafka, indexer, ClickHouse, reporter) reports no
// failure, one crash incident naming both runs, and the killed session as unconfirmed (a warning).
func TestGatewayKilledAndRestarted(t *testing.T) {
	en := newEnv(t)
	dir := t.TempDir()
	// The gateway signs checkpoints with the env's key: the builder checks them with en.pub.
	der, err := x509.MarshalPKCS8PrivateKey(en.key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "checkpoint.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := stack.Postgres(t)
	role := stack.UniqueName(t, "crashr")
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	const interval = 3 * time.Second
	instance := "crash-" + strings.TrimSuffix(en.prefix, ".")
	// PANGATE_TEST_GATEWAY_BINARY runs a prebuilt gateway instead (while the working tree does not build).
	a := stack.StartGateway(t, stack.GatewayOptions{Instance: instance, Prefix: en.prefix, PlaintextLoopback: true,
		Binary: os.Getenv("PANGATE_TEST_GATEWAY_BINARY"),
		Configure: func(c *gatewayconfig.Config) {
			off := false // newEnv made the topics
			c.Kafka.EnsureTopics = &off
			c.Checkpoint.Interval, c.Checkpoint.KeyFile = interval, keyFile
		}})
	token := a.Token("repo:acme/crash")
	from := time.Now().UTC().Add(-time.Hour)

	// Run A: a session checkpointed once, then one more statement, then SIGKILL before the next checkpoint.
	c := crashSession(t, a.Port, role, token, 3)
	time.Sleep(interval + interval/2)
	crashRun(t, c, 1)
	a.Kill()
	_ = c.Close(ctx)

	// Run B: same config (instance name, key, topics); one session, a checkpoint, a clean stop.
	a.Restart()
	c = crashSession(t, a.Port, role, token, 2)
	_ = c.Close(ctx)
	time.Sleep(interval + interval/2)
	if !a.Gateway.Stop(40 * time.Second) {
		t.Fatal("gateway did not stop within 40s of SIGTERM")
	}

	en.ingest(-1)
	to := time.Now().UTC().Add(time.Hour)
	res, err := en.builder(bucket.NewLocal(t.TempDir()), to).Build(ctx, manifest.KindPackage, from, to)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Integrity
	dump, _ := json.MarshalIndent(struct {
		F []integrity.Finding
		I []integrity.Incident
		R []integrity.Run
	}{r.Findings, r.Incidents, r.Runs}, "", " ")
	if r.Failures != 0 {
		t.Fatalf("kill -9 and restart reported as %d failure(s):\n%s", r.Failures, dump)
	}
	var crashes []integrity.Incident
	for _, in := range r.Incidents {
		if in.Kind == integrity.IncidentCrash {
			crashes = append(crashes, in)
		}
	}
	if len(crashes) != 1 || len(r.Runs) != 2 {
		t.Fatalf("want one crash incident over two runs:\n%s", dump)
	}
	in := crashes[0]
	if in.Gateway != instance || in.NextRun == "" || in.Run == in.NextRun || len(in.Unconfirmed) != 1 {
		t.Fatalf("crash incident %+v: want run A → run B of %s with the killed session unconfirmed\n%s", in, instance, dump)
	}
	unconfirmed := false
	for _, f := range r.Findings {
		if f.Kind == integrity.KindNotCheckpointed && f.Session == in.Unconfirmed[0] && f.Severity == integrity.Warning {
			unconfirmed = true
		}
	}
	if !unconfirmed {
		t.Fatalf("killed session %s not reported unconfirmed:\n%s", in.Unconfirmed[0], dump)
	}
	t.Logf("crash incident: %s → %s, %s … %s: %s", in.Run, in.NextRun, in.Start, in.End, in.Cause)
}
