package reporter_test

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pangate/pangate/gateway/auth/authtest"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/reporter/manifest"
)

// crashGateway is one gateway process of TestGatewayKilledAndRestarted.
type crashGateway struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
	mu     sync.Mutex
	logs   []string
}

func startCrashGateway(t *testing.T, bin, config string) *crashGateway {
	t.Helper()
	g := &crashGateway{cmd: exec.Command(bin, "run", "-config", config), exited: make(chan struct{})}
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var once sync.Once
		for sc.Scan() {
			g.mu.Lock()
			g.logs = append(g.logs, sc.Text())
			g.mu.Unlock()
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "gateway serving" {
				g.addr, _ = m["listen"].(string)
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { _ = g.cmd.Wait(); close(g.exited) }()
	t.Cleanup(func() {
		_ = g.cmd.Process.Kill()
		<-g.exited
		if t.Failed() {
			g.mu.Lock()
			t.Log("gateway log:\n" + strings.Join(g.logs, "\n"))
			g.mu.Unlock()
		}
	})
	select {
	case <-ready:
	case <-g.exited:
		t.Fatalf("gateway exited before serving:\n%s", strings.Join(g.logs, "\n"))
	case <-time.After(60 * time.Second):
		t.Fatal("gateway did not start within 60s")
	}
	return g
}

// query runs n statements through the gateway in one session and returns with the session still open.
func (g *crashGateway) session(t *testing.T, role, token string, n int) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=postgres sslmode=disable password=%s",
		g.addr[strings.LastIndexByte(g.addr, ':')+1:], role, token))
	if err != nil {
		t.Fatalf("connect through the gateway: %v", err)
	}
	g.run(t, c, n)
	return c
}

func (g *crashGateway) run(t *testing.T, c *pgx.Conn, n int) {
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
	ep := stack.Env(t)
	root, err := stack.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// PANGATE_TEST_GATEWAY_BINARY runs a prebuilt gateway instead (while the working tree does not build).
	bin := os.Getenv("PANGATE_TEST_GATEWAY_BINARY")
	if bin == "" {
		bin = filepath.Join(dir, "gateway")
		if out, err := exec.Command("go", "build", "-C", root, "-o", bin, "./gateway").CombinedOutput(); err != nil {
			t.Fatalf("go build ./gateway: %v\n%s", err, out)
		}
	}
	// The gateway signs checkpoints with the env's key: the builder checks them with en.pub.
	der, err := x509.MarshalPKCS8PrivateKey(en.key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "checkpoint.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	iss := authtest.StartIssuerProcess(t)
	admin := stack.Postgres(t)
	role := stack.UniqueName(t, "crashr")
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	db := "postgres"
	if u, err := pgx.ParseConfig(stack.PostgresDSN(t)); err == nil && u.Database != "" {
		db = u.Database
	}
	const interval = 3 * time.Second
	instance := "crash-" + strings.TrimSuffix(en.prefix, ".")
	cfg := fmt.Sprintf(`instance: %s
listen: 127.0.0.1:0
allow_plaintext_loopback: true
targets:
  - {name: pg, host: %q, port: %s, database: %q, sslmode: disable, admin_dsn: %q, source_address: %s}
kafka: {brokers: [%s], topic_prefix: %q, ack_timeout: 3s, ensure_topics: false}
checkpoint: {interval: %s, key_file: %q}
auth:
  issuers: [{url: %q, audiences: [pangate-crash]}]
ops: {listen: "127.0.0.1:0"}
`, instance, ep.PGHost, ep.PGPort, db, stack.PostgresDSN(t), stack.GatewaySource, strings.Join(ep.KafkaBrokers, ","), en.prefix, interval, keyFile, iss.URL)
	config := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	token := iss.Mint(authtest.MintRequest{Subject: "repo:acme/crash", Audience: []string{"pangate-crash"}, TTLSeconds: 600})
	from := time.Now().UTC().Add(-time.Hour)

	// Run A: a session checkpointed once, then one more statement, then SIGKILL before the next checkpoint.
	a := startCrashGateway(t, bin, config)
	c := a.session(t, role, token, 3)
	time.Sleep(interval + interval/2)
	a.run(t, c, 1)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	_ = c.Close(ctx)

	// Run B: same config (instance name, key, topics); one session, a checkpoint, a clean stop.
	b := startCrashGateway(t, bin, config)
	c = b.session(t, role, token, 2)
	_ = c.Close(ctx)
	time.Sleep(interval + interval/2)
	_ = b.cmd.Process.Signal(os.Interrupt)
	select {
	case <-b.exited:
	case <-time.After(40 * time.Second):
		t.Fatal("gateway did not stop within 40s of SIGINT")
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
