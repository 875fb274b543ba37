package multi_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/gateway/auth/authtest"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

const (
	audience      = "pangate-multi-it"
	signingSecret = "multi-it-signing-secret-0123456789"
	channel       = "C0APPROVALS"
)

// bin holds the three service binaries, built once by TestMain; tests exec them so SIGKILL hits real
// processes.
var bin struct{ gateway, approver, indexer string }

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := stack.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "module root:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "pangate-multi-it")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./gateway", "./approver", "./indexer")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./gateway ./approver ./indexer: %v\n%s", err, out)
		return 1
	}
	bin.gateway, bin.approver, bin.indexer = filepath.Join(dir, "gateway"), filepath.Join(dir, "approver"), filepath.Join(dir, "indexer")
	return m.Run()
}

// proc is one service process with its log kept in memory (shown when the test fails).
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	logs []string
	// onLine, if set before start, sees every log line (under mu).
	onLine func(line string)
}

// start execs cmd, collecting stdout and stderr lines; the process is killed at cleanup.
func start(t *testing.T, name string, cmd *exec.Cmd, onLine func(string)) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), onLine: onLine}
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs = append(p.logs, line)
			if p.onLine != nil {
				p.onLine(line)
			}
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	go func() { _ = cmd.Wait(); _ = w.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() || os.Getenv("PANGATE_TEST_SHOW_LOGS") != "" {
			p.mu.Lock()
			lines := p.logs[max(0, len(p.logs)-40):]
			t.Logf("log of %s (last %d lines):\n%s", name, len(lines), strings.Join(lines, "\n"))
			p.mu.Unlock()
		}
	})
	return p
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		t.Errorf("%s had exited before it was asked to stop", p.name)
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(45 * time.Second):
		t.Errorf("%s did not stop within 45s of SIGTERM", p.name)
		p.kill()
	}
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// world is the shared part of one deployment: topics, database, fixture tables, issuer, fake Slack.
type world struct {
	t        *testing.T
	ep       stack.Endpoints
	brokers  []string
	prefix   string // topic prefix, ends with "."
	db       string // ClickHouse database
	group    string // indexer consumer group
	role     string // NOLOGIN role the gateways grant to every session
	load     string // table the load writes
	held     []string
	iss      *authtest.TestIssuer
	slack    *slackuitest.Server
	dir      string
	policy   string
	admin    *pgx.Conn
	kafkaCli *kgo.Client
}

func newWorld(t *testing.T, heldTables int) *world {
	t.Helper()
	// Brokers and ClickHouse wait while another test (in any package) has stopped the service.
	t0 := time.Now()
	w := &world{t: t, ep: stack.Env(t), brokers: stack.Brokers(t), dir: t.TempDir()}
	// The approvers sign decisions with this key; the gateways trust its public half only.
	if _, err := schemas.WriteKeyPair(filepath.Join(w.dir, "decision.pem"), filepath.Join(w.dir, "decision.pub.pem")); err != nil {
		t.Fatal(err)
	}
	w.prefix = stack.UniqueName(t, "multi") + "."
	w.db = stack.UniqueName(t, "multi")
	w.group = stack.UniqueName(t, "multig")
	w.role = stack.UniqueName(t, "multir")
	w.load = stack.UniqueName(t, "multil")
	w.kafkaCli = stack.Kafka(t)
	_ = stack.ClickHouse(t) // holds ClickHouse for this test (see integration/stack)
	t.Logf("the stack's Kafka and ClickHouse held after %s", time.Since(t0).Round(time.Millisecond))

	// Topics first, with leaders, so no process races their creation.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := stack.KafkaAdmin(t)
	topics := schemas.Rename(schemas.Topics(1), w.prefix)
	if err := schemas.EnsureTopics(ctx, adm, topics); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var names []string
		for _, tc := range topics {
			names = append(names, tc.Name)
		}
		_, _ = stack.KafkaAdmin(t).DeleteTopics(ctx, names...)
	})
	waitTopics(t, adm, topics)

	// PostgreSQL: one table for the load, one small table per held statement (so each held UPDATE's
	// effect is visible on its own), and the role sessions are granted.
	w.admin = stack.Postgres(t)
	stmts := []string{
		fmt.Sprintf(`CREATE TABLE %s (id bigint PRIMARY KEY, worker int, note text)`, w.load),
		fmt.Sprintf(`CREATE ROLE %s NOLOGIN`, w.role),
		fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s`, w.load, w.role),
	}
	for i := 0; i < heldTables; i++ {
		name := fmt.Sprintf("%s_h%d", w.load, i)
		w.held = append(w.held, name)
		stmts = append(stmts,
			fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, note text)`, name),
			fmt.Sprintf(`INSERT INTO %s SELECT g, 'before' FROM generate_series(1, 3) g`, name),
			fmt.Sprintf(`GRANT SELECT, UPDATE ON %s TO %s`, name, w.role))
	}
	for _, q := range stmts {
		if _, err := w.admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(w.dropPostgres)

	w.iss = authtest.StartIssuerProcess(t)
	w.slack = slackuitest.New()
	t.Cleanup(w.slack.Close)
	w.slack.AddUser("UADA", "Ada Approver", "ada@acme.example")
	w.slack.AddUser("UBOB", "Bob Approver", "bob@acme.example")

	// Statements without WHERE wait for a human; everything else through the gateway runs.
	w.policy = filepath.Join(w.dir, "policy.yaml")
	policy := fmt.Sprintf(`version: 1
approvals:
  timeout: 2m
  approvers: payments-approvers
grants:
  - name: multi-workload
    when: 'true'
    roles: [%s]
rules:
  - name: hold-unbounded-write
    when: '"no_where" in tags'
    action: hold
    reason: "UPDATE without WHERE affects every row"
  - name: allow-rest
    when: 'true'
    action: allow
default:
  action: deny
  reason: "not allowed"
`, w.role)
	if err := os.WriteFile(w.policy, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// dropPostgres removes the fixture, including JIT login roles a killed gateway could not drop (they are
// members of w.role).
func (w *world) dropPostgres() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rows, err := w.admin.Query(ctx, `SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
		WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = $1)`, w.role)
	var members []string
	if err == nil {
		for rows.Next() {
			var n string
			if rows.Scan(&n) == nil {
				members = append(members, n)
			}
		}
		rows.Close()
	}
	for _, m := range members {
		_, _ = w.admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, m)
		_, _ = w.admin.Exec(ctx, fmt.Sprintf(`DROP OWNED BY %s`, pgx.Identifier{m}.Sanitize()))
		_, _ = w.admin.Exec(ctx, fmt.Sprintf(`DROP ROLE IF EXISTS %s`, pgx.Identifier{m}.Sanitize()))
	}
	_, _ = w.admin.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s`, w.load))
	for _, h := range w.held {
		_, _ = w.admin.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s`, h))
	}
	_, _ = w.admin.Exec(ctx, fmt.Sprintf(`DROP OWNED BY %s`, w.role))
	_, _ = w.admin.Exec(ctx, fmt.Sprintf(`DROP ROLE IF EXISTS %s`, w.role))
}

// waitTopics waits until every partition of the topics has a leader.
func waitTopics(t *testing.T, adm *kadm.Client, topics []schemas.TopicConfig) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for _, tc := range topics {
			d, err := adm.ListTopics(ctx, tc.Name)
			td, ok := d[tc.Name]
			if err != nil || !ok || td.Err != nil || int32(len(td.Partitions)) != tc.Partitions {
				ready = false
				break
			}
			for _, p := range td.Partitions {
				if p.Err != nil || p.Leader < 0 {
					ready = false
				}
			}
		}
		cancel()
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("topics %v have no leaders after 60s", topics)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gateway is one gateway process.
type gateway struct {
	*proc
	instance string
	port     string
	ready    chan struct{}
}

// launchGateway runs a gateway with holds enabled, on the world's topics, issuer and policy; waitReady
// waits until it serves. Launching several processes before waiting lets them start in parallel.
func (w *world) launchGateway(t *testing.T, instance string) *gateway {
	t.Helper()
	dir := filepath.Join(w.dir, instance)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key := devCert(t, dir)
	keyFile := filepath.Join(dir, "checkpoint.pem")
	if _, err := audit.WriteKey(keyFile, filepath.Join(dir, "checkpoint.pub.pem")); err != nil {
		t.Fatal(err)
	}
	dsn := stack.PostgresDSN(t)
	db := "postgres"
	if u, err := pgx.ParseConfig(dsn); err == nil && u.Database != "" {
		db = u.Database
	}
	// ack_timeout is generous: the CI machine is shared and a slow acknowledgement would fail statements
	// closed (correctly, but not what this test is about).
	cfg := fmt.Sprintf(`instance: %s
listen: 127.0.0.1:0
tls: {cert_file: %q, key_file: %q}
limits: {startup_timeout: 20s, result_buffer_bytes: 1048576, max_message_bytes: 1048576}
targets:
  - {name: pg, host: %q, port: %s, database: %q, sslmode: disable, admin_dsn: %q, source_address: 127.0.0.2}
kafka: {brokers: [%s], topic_prefix: %q, ack_timeout: 15s}
checkpoint: {interval: 1s, key_file: %q}
auth:
  issuers:
    - {url: %q, audiences: [%q]}
jit: {ttl: 10m}
policy_file: %q
approvals: {enabled: true, decision_keys: [%q]}
ops: {listen: "127.0.0.1:0"}
`, instance, cert, key, w.ep.PGHost, w.ep.PGPort, db, dsn, strings.Join(w.brokers, ","), w.prefix, keyFile,
		w.iss.URL, audience, w.policy, filepath.Join(w.dir, "decision.pub.pem"))
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gateway{instance: instance, ready: make(chan struct{})}
	var once sync.Once
	g.proc = start(t, instance, exec.Command(bin.gateway, "run", "-config", path), func(line string) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "gateway serving" {
			addr, _ := m["listen"].(string)
			_, port, _ := net.SplitHostPort(addr)
			once.Do(func() { g.port = port; close(g.ready) })
		}
	})
	return g
}

func (g *gateway) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-g.ready:
	case <-g.done:
		t.Fatalf("gateway %s exited before serving", g.instance)
	case <-time.After(90 * time.Second):
		t.Fatalf("gateway %s did not start within 90s", g.instance)
	}
}

// connect opens a pgx connection through g for subject.
func (w *world) connect(ctx context.Context, g *gateway, sub string) (*pgx.Conn, error) {
	tok := w.iss.Mint(authtest.MintRequest{Subject: sub, Audience: []string{audience}, TTLSeconds: 600})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return pgx.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=postgres sslmode=require password=%s",
		g.port, w.role, tok))
}

// approver is one approver process.
type approver struct {
	*proc
	url string
	// killOnPost, when set, makes the log reader SIGKILL the process as soon as it logs that it posted an
	// approval whose id is not in the set: after chat.postMessage, before (or while) approval.notified is
	// recorded.
	killOnPost atomic.Pointer[map[string]bool]
}

// launchApprover runs an approver on the world's approvals topic with a short claim lease, so a survivor
// takes over a dead approver's claims quickly; waitReady waits until /readyz answers 200.
func (w *world) launchApprover(t *testing.T, instance string) *approver {
	t.Helper()
	listen := freePort(t)
	cfg := fmt.Sprintf(`instance: %s
listen: %s
kafka:
  brokers: [%s]
  topic: %s
slack:
  token: xoxb-integration
  signing_secret: %s
  channel: %s
  api_url: %s
approvers: [UADA, UBOB]
claim_lease: 3s
expiry_grace: 1s
log_level: debug
decision_key_file: %s
`, instance, listen, strings.Join(w.brokers, ", "), w.prefix+schemas.TopicApprovals, signingSecret, channel, w.slack.URL(),
		filepath.Join(w.dir, "decision.pem"))
	path := filepath.Join(w.dir, instance+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin.approver, "serve", "-config", path)
	cmd.Env = append(os.Environ(), "PANGATE_KAFKA_BROKERS=") // the file is the source of truth here
	a := &approver{url: "http://" + listen}
	a.proc = start(t, instance, cmd, func(line string) {
		known := a.killOnPost.Load()
		if known == nil || !strings.Contains(line, `"msg":"posted approval to slack"`) {
			return
		}
		var l struct{ Approval string }
		if json.Unmarshal([]byte(line), &l) == nil && !(*known)[l.Approval] {
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
	})
	return a
}

func (a *approver) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(a.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if !a.alive() {
			t.Fatalf("approver %s exited before it was ready", a.name)
		}
		if time.Now().After(deadline) {
			t.Fatalf("approver %s not ready within 90s", a.name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// click sends a signed button click to a and returns the approver's result ("decided", "unknown", …).
func click(a *approver, c slackuitest.Click) (string, error) {
	c.Channel = channel
	req, err := slackuitest.NewRequest(a.url+"/slack/interactions", signingSecret, time.Now(), c.Body())
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("callback status %d: %s", resp.StatusCode, b)
	}
	return resp.Header.Get("X-Pangate-Result"), nil
}

// startIndexer runs an indexer in the world's consumer group, writing to the world's database as the
// operator (the stack's indexer user may only use database pangate). The session timeout is the broker's
// minimum, so the survivor gets a killed member's partitions soon.
func (w *world) startIndexer(t *testing.T, instance string) *indexer {
	t.Helper()
	path := filepath.Join(w.dir, instance+".yaml")
	if err := os.WriteFile(path, []byte("kafka:\n  session_timeout: 6s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin.indexer, "-config", path)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PANGATE_INDEXER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"PANGATE_INDEXER_INSTANCE="+instance,
		"PANGATE_INDEXER_LISTEN=127.0.0.1:0",
		"PANGATE_INDEXER_KAFKA_BROKERS="+strings.Join(w.brokers, ","),
		"PANGATE_INDEXER_TOPIC_PREFIX="+w.prefix,
		"PANGATE_INDEXER_GROUP="+w.group,
		"PANGATE_INDEXER_INSTANCE_ID="+w.group+"-"+instance,
		"PANGATE_INDEXER_CLICKHOUSE_ADDRS="+w.ep.ClickHouseAddr,
		"PANGATE_INDEXER_DATABASE="+w.db,
		"PANGATE_INDEXER_CLICKHOUSE_USER="+w.ep.ClickHouseUser,
		"PANGATE_INDEXER_CLICKHOUSE_PASSWORD="+w.ep.ClickHousePassword,
		"PANGATE_INDEXER_MIGRATE_USER="+w.ep.ClickHouseUser,
		"PANGATE_INDEXER_MIGRATE_PASSWORD="+w.ep.ClickHousePassword,
		"PANGATE_INDEXER_FLUSH_INTERVAL=200ms",
		"PANGATE_INDEXER_BATCH_SIZE=500",
		"PANGATE_INDEXER_RETENTION_DISABLED=true",
		"PANGATE_INDEXER_LOG_LEVEL=debug", // for "batch written"
	)
	started := make(chan struct{})
	var once sync.Once
	ix := &indexer{}
	p := start(t, instance, cmd, func(line string) {
		if strings.Contains(line, `"msg":"indexer started"`) {
			once.Do(func() { close(started) })
		}
		if strings.Contains(line, `"msg":"batch written"`) {
			var b struct{ Records int64 }
			if json.Unmarshal([]byte(line), &b) == nil {
				ix.records.Add(b.Records)
			}
			if ix.killOnWrite.Load() {
				// As close as a test can get to the window between the ClickHouse insert and the offset
				// commit: the records of this batch are then written again by the member that takes over.
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}
		}
	})
	ix.proc = p
	select {
	case <-started:
	case <-p.done:
		t.Fatalf("indexer %s exited before it started", instance)
	case <-time.After(90 * time.Second):
		t.Fatalf("indexer %s did not start within 90s", instance)
	}
	return ix
}

// indexer is one indexer process.
type indexer struct {
	*proc
	// killOnWrite makes the log reader SIGKILL the process as soon as it logs "batch written".
	killOnWrite atomic.Bool
	records     atomic.Int64 // Kafka records written to ClickHouse, summed from "batch written"
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// devCert writes a self-signed certificate for 127.0.0.1 and localhost.
func devCert(t *testing.T, dir string) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "pangate multi test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// buttonValue finds the approval id in the Approve button of a posted message.
var buttonValue = regexp.MustCompile(`"action_id":"pangate_approve"[^}]*"value":"([0-9a-f-]+)"|"value":"([0-9a-f-]+)"[^}]*"action_id":"pangate_approve"`)

// heldPost returns the first Slack post mentioning table, with the approval id of its Approve button.
func (w *world) heldPost(table string) (slackuitest.Message, string, bool) {
	for _, m := range w.slack.Posts() {
		if !strings.Contains(m.Blocks, table) {
			continue
		}
		if sm := buttonValue.FindStringSubmatch(m.Blocks); sm != nil {
			return m, sm[1] + sm[2], true
		}
	}
	return slackuitest.Message{}, "", false
}

// postsFor counts chat.postMessage calls carrying approval id.
func (w *world) postsFor(id string) int {
	n := 0
	for _, m := range w.slack.Posts() {
		if strings.Contains(m.Blocks, `"value":"`+id+`"`) {
			n++
		}
	}
	return n
}

// record is one Kafka record of the world's topics, parsed.
type record struct {
	topic string
	ev    schemas.Event
}

// readTopics reads both topics from the start up to their current end offsets, in log order per partition.
func (w *world) readTopics(t *testing.T, names ...string) []record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var topics []string
	for _, n := range names {
		topics = append(topics, w.prefix+n)
	}
	ends, err := stack.KafkaAdmin(t).ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatalf("end offsets: %v", err)
	}
	want := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			if want[o.Topic] == nil {
				want[o.Topic] = map[int32]int64{}
			}
			want[o.Topic][o.Partition] = o.Offset
		}
	})
	cl := stack.Kafka(t, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	seen := map[string]map[int32]int64{}
	done := func() bool {
		for tp, ps := range want {
			for p, end := range ps {
				if seen[tp][p] < end {
					return false
				}
			}
		}
		return true
	}
	var out []record
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading the topics to their end: %v", ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if seen[r.Topic] == nil {
				seen[r.Topic] = map[int32]int64{}
			}
			seen[r.Topic][r.Partition] = r.Offset + 1
			if err := schemas.Validate(r.Value); err != nil {
				t.Errorf("%s/%d/%d fails its JSON Schema: %v", r.Topic, r.Partition, r.Offset, err)
			}
			e, err := schemas.Parse(r.Value)
			if err != nil {
				t.Errorf("%s/%d/%d is not an event: %v", r.Topic, r.Partition, r.Offset, err)
				return
			}
			out = append(out, record{topic: strings.TrimPrefix(r.Topic, w.prefix), ev: e})
		})
	}
	return out
}

// notified waits until the approvals topic records that approval id was posted (approval.notified with
// a message) and returns the instance that recorded it.
func (w *world) notified(t *testing.T, id string) string {
	t.Helper()
	var by string
	eventually(t, 60*time.Second, "approval.notified of "+id, func() bool {
		for _, r := range w.readTopics(t, schemas.TopicApprovals) {
			var n schemas.ApprovalNotified
			if r.ev.Type == schemas.TypeApprovalNotified && r.ev.Decode(&n) == nil && n.ApprovalID == id && n.MessageTS != "" {
				by = r.ev.Gateway.Instance
				return true
			}
		}
		return false
	})
	return by
}

func eventually(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
