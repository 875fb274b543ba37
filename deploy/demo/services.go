package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	approverconfig "github.com/pangate/pangate/approver/config"
	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/gateway/auth"
	gatewayconfig "github.com/pangate/pangate/gateway/config"
	"github.com/pangate/pangate/gateway/jit"
	indexerconfig "github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/internal/launch"
)

// common is how the demo runs each service: the binary it built, the config file in its directory, the
// log in logs/<name>.log, a process group of its own (stop reaches its children), ready within 60s.
func (d *demo) common(name string) launch.Common {
	return launch.Common{Dir: d.dir, Bin: d.bin(name), LogFile: logPath(d.dir, name), Setpgid: true, ReadyTimeout: 60 * time.Second}
}

// The demo's people: two approvers in the payments-approvers group.
var people = []struct{ id, name, email string }{
	{"UALICE", "Alice Approver", "alice@acme.example"},
	{"UBOB", "Bob Approver", "bob@acme.example"},
}

func (d *demo) services(ctx context.Context) error {
	d.step("start the gateway (TLS, OIDC, JIT roles, write-ahead audit), the approver (fake Slack) and the indexer (ClickHouse)")
	keys := filepath.Join(d.dir, "keys")
	if _, err := os.Stat(filepath.Join(keys, "checkpoint.pem")); err != nil {
		out, err := execOut(ctx, d.bin("gateway"), "keygen", "-out", filepath.Join(keys, "checkpoint.pem"))
		if err != nil {
			return fmt.Errorf("gateway keygen: %v: %s", err, out)
		}
	}
	// The approver signs its decisions; the gateway obeys only decisions signed by this key
	// (docs/approvals.md, "Signed decisions").
	if _, err := os.Stat(filepath.Join(keys, "decision.pem")); err != nil {
		out, err := execOut(ctx, d.bin("approver"), "keygen", "-out", filepath.Join(keys, "decision.pem"))
		if err != nil {
			return fmt.Errorf("approver keygen: %v: %s", err, out)
		}
	}
	cert, key, err := launch.DevCert(keys)
	if err != nil {
		return err
	}
	gwAddr, _ := launch.FreeAddr()
	gwOps, _ := launch.FreeAddr()
	d.gatewayAddr = gwAddr
	// The default policy's grants open only the database named payments; the demo's is d.database.
	pci, err := os.ReadFile(filepath.Join(d.root, "deploy", "policy", "pci.yaml"))
	if err != nil {
		return err
	}
	policyPath := filepath.Join(d.dir, "policy.yaml")
	if err := os.WriteFile(policyPath, []byte(strings.ReplaceAll(string(pci), "databases: [payments]", "databases: ["+d.database+"]")), 0o600); err != nil {
		return err
	}
	// The admin DSN reaches the gateway through a file of its own, never the config file or a log.
	if err := os.WriteFile(filepath.Join(keys, "admin.dsn"), []byte(d.adminDSN(d.database)), 0o600); err != nil {
		return err
	}
	pgPort, err := strconv.Atoi(d.env["PANGATE_PG_PORT"])
	if err != nil {
		return fmt.Errorf("PANGATE_PG_PORT %q is not a port number", d.env["PANGATE_PG_PORT"])
	}
	gwCfg := gatewayconfig.Config{
		Instance: "demo-gw-1",
		Listen:   gwAddr,
		TLS:      gatewayconfig.TLS{CertFile: cert, KeyFile: key},
		Targets: []gatewayconfig.Target{{Name: "payments", Host: d.env["PANGATE_PG_HOST"], Port: pgPort, Database: d.database,
			SSLMode: "disable", AdminDSNFile: filepath.Join(keys, "admin.dsn"), SourceAddress: "127.0.0.2"}},
		Checkpoint: gatewayconfig.Checkpt{Interval: 2 * time.Second, KeyFile: filepath.Join(keys, "checkpoint.pem")},
		PolicyFile: policyPath,
		Auth:       auth.Config{Issuers: []auth.IssuerConfig{{URL: d.issuerURL, Audiences: []string{audience}}}},
		JIT:        jit.Config{TTL: 30 * time.Minute},
		Ops:        gatewayconfig.Ops{Listen: gwOps},
		Approvals:  gatewayconfig.Approvals{Enabled: true, DecisionKeys: []string{filepath.Join(keys, "decision.pub.pem")}},
		Mask:       cardholderData,
	}
	gwCfg.Kafka.Brokers, gwCfg.Kafka.TopicPrefix, gwCfg.Kafka.AckTimeout = d.brokers, d.prefix, 5*time.Second
	gw, err := launch.StartGateway(launch.GatewaySpec{Config: gwCfg, Common: d.common("gateway")})
	if gw != nil {
		d.gateway = started(d.dir, "gateway", gw.Proc)
		d.procs = append(d.procs, d.gateway)
	}
	if err != nil {
		return err
	}
	fmt.Printf("   gateway  %s (ops http://%s)\n", gwAddr, gwOps)

	// Fake Slack and the approver.
	d.slack = slackuitest.New()
	d.cleanup = append(d.cleanup, d.slack.Close)
	for _, p := range people {
		d.slack.AddUser(p.id, p.name, p.email)
	}
	apCfg := approverconfig.Config{
		Instance: "demo-approver-1",
		// The signing secret comes from the environment (as a deployment's secret would), not the file.
		Slack:           approverconfig.Slack{Token: "xoxb-demo", Channel: slackChannel, APIURL: d.slack.URL()},
		Approvers:       []string{"UALICE", "UBOB"},
		TerminalUsers:   map[string]string{"operator": "operator@acme.example"},
		DecisionKeyFile: filepath.Join(keys, "decision.pem"),
	}
	apCfg.Kafka.Brokers, apCfg.Kafka.TopicPrefix = d.brokers, d.prefix
	apc := d.common("approver")
	apc.Env = []string{"PANGATE_APPROVER_SLACK_SIGNING_SECRET=" + signingSecret}
	ap, err := launch.StartApprover(launch.ApproverSpec{Config: apCfg, Common: apc})
	if ap != nil {
		d.procs = append(d.procs, started(d.dir, "approver", ap.Proc))
	}
	if err != nil {
		return err
	}
	apAddr := ap.Spec.Config.Listen
	d.approverURL = "http://" + apAddr
	fmt.Printf("   approver %s (Slack API fake %s)\n", d.approverURL, d.slack.URL())
	go d.clickButtons(ctx)

	// The indexer, into a fresh database (the operator drops the previous run's; the indexer's migrations
	// create it again).
	op, err := d.clickhouseDB("", d.env["PANGATE_CLICKHOUSE_USER"], d.env["PANGATE_CLICKHOUSE_PASSWORD"])
	if err != nil {
		return err
	}
	err = op.Exec(ctx, "DROP DATABASE IF EXISTS "+d.chDatabase)
	op.Close()
	if err != nil {
		return fmt.Errorf("reset ClickHouse database %s: %w", d.chDatabase, err)
	}
	ixAddr, _ := launch.FreeAddr()
	ixCfg := indexerconfig.Defaults()
	ixCfg.Instance, ixCfg.Listen = "demo-indexer-1", ixAddr
	ixCfg.Kafka.Brokers, ixCfg.Kafka.TopicPrefix, ixCfg.Kafka.Group = d.brokers, d.prefix, d.prefix+"indexer"
	ixCfg.ClickHouse.Addrs = []string{d.env["PANGATE_CLICKHOUSE_ADDR"]}
	ixCfg.ClickHouse.Database = d.chDatabase
	ixCfg.ClickHouse.User, ixCfg.ClickHouse.Password = "indexer", d.env["PANGATE_CLICKHOUSE_INDEXER_PASSWORD"]
	ixCfg.ClickHouse.MigrateUser, ixCfg.ClickHouse.MigratePassword = d.env["PANGATE_CLICKHOUSE_USER"], d.env["PANGATE_CLICKHOUSE_PASSWORD"]
	ixCfg.Batch.FlushInterval = 200 * time.Millisecond
	ix, err := launch.StartIndexer(launch.IndexerSpec{Config: ixCfg, Common: d.common("indexer")})
	if ix != nil {
		d.procs = append(d.procs, started(d.dir, "indexer", ix.Proc))
	}
	if err != nil {
		return err
	}
	fmt.Printf("   indexer  http://%s → ClickHouse database %s\n", ixAddr, d.chDatabase)
	return nil
}

var approvalIDRe = regexp.MustCompile(`"value":"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"`)

// clickButtons plays the approvers: the first request posted to Slack is approved by Alice, the second
// denied by Bob with a reason, each through a callback signed as Slack signs it.
func (d *demo) clickButtons(ctx context.Context) {
	done := map[string]bool{}
	for ctx.Err() == nil {
		for _, m := range d.slack.Posts() {
			ids := approvalIDRe.FindStringSubmatch(m.Blocks)
			if ids == nil || done[ids[1]] {
				continue
			}
			done[ids[1]] = true
			c := slackuitest.Click{ApprovalID: ids[1], Channel: m.Channel, MessageTS: m.TS}
			if len(done) == 1 {
				c.Approve, c.User, c.UserName, c.Reason = true, "UALICE", "alice", "refund investigation, ticket PAY-1432"
			} else {
				c.Approve, c.User, c.UserName, c.Reason = false, "UBOB", "bob", "a full card dump is never needed"
			}
			time.Sleep(300 * time.Millisecond) // a human takes a moment; keeps the notice visible in the logs
			req, err := slackuitest.NewRequest(d.approverURL+"/slack/interactions", signingSecret, time.Now(), c.Body())
			if err != nil {
				continue
			}
			resp, err := http.DefaultClient.Do(req)
			verb := map[bool]string{true: "approved", false: "denied"}[c.Approve]
			d.mu.Lock()
			if err != nil {
				d.clicks = append(d.clicks, fmt.Sprintf("%s %s: callback failed: %v", c.UserName, verb, err))
			} else {
				d.clicks = append(d.clicks, fmt.Sprintf("%s %s approval %s (%s)", c.UserName, verb, ids[1], resp.Header.Get("X-Pangate-Result")))
				resp.Body.Close()
			}
			d.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
