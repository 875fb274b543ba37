package kafkacluster_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kadm"

	approverconfig "github.com/pangate/pangate/approver/config"
	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/deploy/kafkaacl"
	gatewayconfig "github.com/pangate/pangate/gateway/config"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/kafka"
	reporterconfig "github.com/pangate/pangate/reporter/config"
	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/schemas"
)

// secured points a service's Kafka client block at the cluster profile over TLS, as user (SCRAM-SHA-512),
// on the real topic names (the profile's ACLs are on them).
func (c *cluster) secured(t testing.TB, k *kafka.Config, user string) {
	t.Helper()
	k.Brokers = c.Brokers
	k.TopicPrefix = ""
	k.TLS = kafka.TLS{CAFile: c.CAFile}
	k.SASL = kafka.SASL{Mechanism: kafkaacl.Mechanism, Username: user, PasswordFile: c.passwordFile(t, user)}
}

// heldPolicy grants role and holds every UPDATE or DELETE without WHERE.
func heldPolicy(role string) string {
	return fmt.Sprintf(`version: 1
approvals:
  timeout: 2m
  approvers: payments-approvers
grants:
  - {name: kafkacluster, when: 'true', roles: [%s]}
rules:
  - name: hold-unbounded-write
    when: '"no_where" in tags'
    action: hold
    reason: "write without WHERE affects every row"
  - {name: allow-rest, when: 'true', action: allow}
default: {action: deny, reason: "not allowed"}
`, role)
}

// TestAllServicesOnTheCluster runs the four services on the three-broker TLS + SCRAM profile, each as its
// own principal (issue 18.3): a statement held by a gateway (pangate-gateway) is approved from the terminal
// by an approver (pangate-approver; `approver decide`, the decision goes to pangate.decisions, which only it
// may write) and released to PostgreSQL; the indexer (pangate-indexer) stores the request from
// pangate.approvals and the decision from pangate.decisions; a reporter run (pangate-reporter) records
// report.generated on pangate.operations.
func TestAllServicesOnTheCluster(t *testing.T) {
	c := clusterEnv(t)
	f := newFixture(t)
	env := stack.Env(t)
	dir := t.TempDir()
	ctx := context.Background()
	run := stack.UniqueName(t, "kcsvc")
	keyFile, pubFile := stack.DecisionKeys(t, dir)

	// Indexer first, into a database of its own (it creates it), so it is consuming when the records come.
	db := stack.ClickHouseDatabase(t, strings.ReplaceAll(run, "-", "_"))
	ch := stack.ClickHouse(t)
	startIndexer(t, c, run+"-ix", db)

	slack := slackuitest.New()
	t.Cleanup(slack.Close)
	approverOpts := stack.ApproverOptions{
		Instance: run + "-ap", Brokers: c.Brokers, SlackURL: slack.URL(), SigningSecret: "kafkacluster-signing-secret",
		Approvers: []string{"UADA"}, TerminalUsers: map[string]string{"alice": "alice@acme.example"}, ClaimLease: 20 * time.Second,
		DecisionKeyFile: keyFile, Dir: dir,
		Configure: func(cfg *approverconfig.Config) { c.secured(t, &cfg.Kafka.Config, kafkaacl.Approver) },
	}
	stack.StartApprover(t, approverOpts)

	table := f.Tables + "_accounts"
	g := stack.StartGateway(t, stack.GatewayOptions{
		Instance: run + "-gw", Brokers: c.Brokers, AdminDSN: f.dsn, Database: database, AckTimeout: 15 * time.Second,
		Policy: heldPolicy(f.Role), DecisionKeys: []string{pubFile}, LogTail: 60,
		Configure: func(cfg *gatewayconfig.Config) {
			c.secured(t, &cfg.Kafka.Config, kafkaacl.Gateway)
			off := false // the topics exist; the gateway principal may not create topics
			cfg.Kafka.EnsureTopics = &off
		},
	})

	notices := make(chan string, 16)
	pc, err := pgx.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=%s sslmode=require password=%s",
		g.Port, f.Role, database, g.Token("kafkacluster-etl")))
	if err != nil {
		t.Fatal(err)
	}
	pc.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		select {
		case notices <- n.Message:
		default:
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := pgx.ConnectConfig(cctx, pc)
	cancel()
	if err != nil {
		t.Fatalf("connect through the gateway: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	type result struct {
		tag string
		err error
	}
	done := make(chan result, 1)
	go func() {
		tag, err := conn.Exec(ctx, fmt.Sprintf("UPDATE %s SET abalance = 7", table))
		done <- result{tag.String(), err}
	}()
	var id string
	select {
	case n := <-notices:
		_, after, ok := strings.Cut(n, "held for approval ")
		if !ok {
			t.Fatalf("notice %q does not name the approval", n)
		}
		id = strings.Fields(after)[0]
		id = strings.TrimRight(id, ".,;:")
	case r := <-done:
		t.Fatalf("the unbounded UPDATE returned without being held: %+v", r)
	case <-time.After(60 * time.Second):
		t.Fatal("no notice that the statement is held")
	}
	t.Logf("held for approval %s", id)

	// Approved from the terminal by an approver on the cluster as pangate-approver.
	cfgPath := filepath.Join(dir, "decide.yaml")
	decideOpts := approverOpts
	decideOpts.Instance = run + "-terminal"
	decideOpts.Listen = stack.FreePort(t)
	stack.WriteConfig(t, cfgPath, stack.ApproverConfig(t, decideOpts))
	out, err := exec.Command(stack.Binary(t, "./approver"), "decide", "-config", cfgPath, "-id", id, "-approve", "-user", "alice",
		"-reason", "kafkacluster").CombinedOutput()
	if err != nil {
		t.Fatalf("approver decide: %v\n%s", err, out)
	}
	t.Logf("approver decide: %s", strings.TrimSpace(string(out)))
	select {
	case r := <-done:
		if r.err != nil || r.tag != "UPDATE 10000" {
			t.Fatalf("approved statement: %q %v, want UPDATE 10000", r.tag, r.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the approved statement was not released")
	}
	var n int
	if err := f.Admin.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE abalance = 7", table)).Scan(&n); err != nil || n != 10000 {
		t.Fatalf("rows updated by the released statement: %d %v", n, err)
	}

	// The indexer stored the gateway's request from pangate.approvals and the approver's decision from
	// pangate.decisions.
	stack.Eventually(t, 60*time.Second, "the approval's records in ClickHouse", func() bool {
		rows, err := ch.Query(ctx, "SELECT event_type, kafka_topic FROM "+db+".approvals FINAL WHERE approval_id = ?", id)
		if err != nil {
			return false
		}
		defer rows.Close()
		got := map[string]string{}
		for rows.Next() {
			var typ, topic string
			if rows.Scan(&typ, &topic) == nil {
				got[typ] = topic
			}
		}
		return got[schemas.TypeApprovalRequested] == schemas.TopicApprovals && got[schemas.TypeApprovalDecided] == schemas.TopicDecisions
	})

	// A reporter run on the cluster as pangate-reporter records itself as report.generated.
	adm := kadm.NewClient(c.client(t, kafkaacl.Admin))
	start := offsets(t, adm, schemas.TopicOperations)
	reportBin := stack.Binary(t, "./reporter")
	if out, err := exec.Command(reportBin, "keygen", "-out", filepath.Join(dir, "reporter")).CombinedOutput(); err != nil {
		t.Fatalf("reporter keygen: %v\n%s", err, out)
	}
	rc := reporterconfig.Defaults()
	rc.Instance = run + "-rep"
	rc.ClickHouse = query.Config{Addr: env.ClickHouseAddr, Database: db, User: env.ClickHouseUser, Password: env.ClickHousePassword}
	rc.SigningKey = filepath.Join(dir, "reporter.key")
	rc.GatewayKeys = []string{g.PubKey}
	rc.Bucket.Dir = filepath.Join(dir, "evidence")
	c.secured(t, &rc.Kafka.Config, kafkaacl.Reporter)
	// Only the written config counts: RunReporter drops every ambient PANGATE_ variable.
	r := stack.RunReporter(t, stack.ReporterOptions{Dir: dir}, rc, "generate", "-kind", "daily_review", "-from", "2026-01-01")
	if r.Code != 0 {
		t.Fatalf("reporter generate: exit %d\n%s", r.Code, r.Output())
	}
	t.Logf("reporter generate: %s", r.Output())
	end := offsets(t, adm, schemas.TopicOperations)
	var found bool
	for _, e := range readRange(t, c, schemas.TopicOperations, start, end, map[string]bool{rc.Instance: true}) {
		if e.Type == schemas.TypeReportGenerated {
			found = true
		}
	}
	if !found {
		t.Fatalf("no report.generated by %s on %s after the run", rc.Instance, schemas.TopicOperations)
	}
}
