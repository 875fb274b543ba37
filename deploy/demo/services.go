package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
)

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
	cert, key, err := selfSignedCert(keys)
	if err != nil {
		return err
	}
	gwAddr, _ := freeAddr()
	gwOps, _ := freeAddr()
	d.gatewayAddr = gwAddr
	gwCfg := fmt.Sprintf(`instance: demo-gw-1
listen: %s
tls: {cert_file: %q, key_file: %q}
targets:
  - {name: payments, host: %q, port: %s, database: %q, sslmode: disable, admin_dsn_file: %q, source_address: 127.0.0.2}
kafka: {brokers: [%s], topic_prefix: %q, ack_timeout: 5s}
checkpoint: {interval: 2s, key_file: %q}
policy_file: %q
auth:
  issuers:
    - {url: %q, audiences: [%q]}
jit: {ttl: 30m}
ops: {listen: %q}
approvals: {enabled: true, decision_keys: [%q]}
%s`, gwAddr, cert, key, d.env["PANGATE_PG_HOST"], d.env["PANGATE_PG_PORT"], d.database, filepath.Join(keys, "admin.dsn"),
		strings.Join(d.brokers, ","), d.prefix, filepath.Join(keys, "checkpoint.pem"),
		filepath.Join(d.root, "deploy", "policy", "pci.yaml"), d.issuerURL, audience, gwOps, filepath.Join(keys, "decision.pub.pem"), cardholderDataYAML)
	// The default policy's grants open only the database named payments; the demo's is d.database.
	pci, err := os.ReadFile(filepath.Join(d.root, "deploy", "policy", "pci.yaml"))
	if err != nil {
		return err
	}
	policyPath := filepath.Join(d.dir, "policy.yaml")
	if err := os.WriteFile(policyPath, []byte(strings.ReplaceAll(string(pci), "databases: [payments]", "databases: ["+d.database+"]")), 0o600); err != nil {
		return err
	}
	gwCfg = strings.Replace(gwCfg, "policy_file: "+fmt.Sprintf("%q", filepath.Join(d.root, "deploy", "policy", "pci.yaml")), "policy_file: "+fmt.Sprintf("%q", policyPath), 1)
	gwPath := filepath.Join(d.dir, "gateway.yaml")
	if err := os.WriteFile(gwPath, []byte(gwCfg), 0o600); err != nil {
		return err
	}
	// The admin DSN reaches the gateway through a file of its own, never the config file or a log.
	if err := os.WriteFile(filepath.Join(keys, "admin.dsn"), []byte(d.adminDSN(d.database)), 0o600); err != nil {
		return err
	}
	gw, err := start(d.dir, "gateway", d.bin("gateway"), nil, "run", "-config", gwPath)
	if err != nil {
		return err
	}
	d.procs = append(d.procs, gw)
	d.gateway = gw
	if err := waitTCP(ctx, gw, gwAddr, 60*time.Second); err != nil {
		return err
	}
	fmt.Printf("   gateway  %s (ops http://%s)\n", gwAddr, gwOps)

	// Fake Slack and the approver.
	d.slack = slackuitest.New()
	d.cleanup = append(d.cleanup, d.slack.Close)
	for _, p := range people {
		d.slack.AddUser(p.id, p.name, p.email)
	}
	apAddr, _ := freeAddr()
	apCfg := fmt.Sprintf(`instance: demo-approver-1
listen: %s
kafka:
  brokers: [%s]
  topic: %s
slack:
  token: xoxb-demo
  channel: %s
  api_url: %s
approvers: [UALICE, UBOB]
terminal_users: {operator: operator@acme.example}
decision_key_file: %s
`, apAddr, strings.Join(d.brokers, ", "), d.prefix+"pangate.approvals", slackChannel, d.slack.URL(), filepath.Join(keys, "decision.pem"))
	apPath := filepath.Join(d.dir, "approver.yaml")
	if err := os.WriteFile(apPath, []byte(apCfg), 0o600); err != nil {
		return err
	}
	ap, err := start(d.dir, "approver", d.bin("approver"), []string{"PANGATE_APPROVER_SLACK_SIGNING_SECRET=" + signingSecret}, "serve", "-config", apPath)
	if err != nil {
		return err
	}
	d.procs = append(d.procs, ap)
	if err := waitTCP(ctx, ap, apAddr, 60*time.Second); err != nil {
		return err
	}
	d.approverURL = "http://" + apAddr
	fmt.Printf("   approver %s (Slack API fake %s)\n", d.approverURL, d.slack.URL())
	go d.clickButtons(ctx)

	// The indexer, configured through its environment, into a fresh database (the operator drops the
	// previous run's; the indexer's migrations create it again).
	op, err := d.clickhouseDB("", d.env["PANGATE_CLICKHOUSE_USER"], d.env["PANGATE_CLICKHOUSE_PASSWORD"])
	if err != nil {
		return err
	}
	err = op.Exec(ctx, "DROP DATABASE IF EXISTS "+d.chDatabase)
	op.Close()
	if err != nil {
		return fmt.Errorf("reset ClickHouse database %s: %w", d.chDatabase, err)
	}
	ixAddr, _ := freeAddr()
	ixEnv := []string{
		"PANGATE_INDEXER_INSTANCE=demo-indexer-1",
		"PANGATE_INDEXER_LISTEN=" + ixAddr,
		"PANGATE_INDEXER_KAFKA_BROKERS=" + strings.Join(d.brokers, ","),
		"PANGATE_INDEXER_TOPIC_PREFIX=" + d.prefix,
		"PANGATE_INDEXER_GROUP=" + d.prefix + "indexer",
		"PANGATE_INDEXER_CLICKHOUSE_ADDRS=" + d.env["PANGATE_CLICKHOUSE_ADDR"],
		"PANGATE_INDEXER_DATABASE=" + d.chDatabase,
		"PANGATE_INDEXER_CLICKHOUSE_USER=indexer",
		"PANGATE_INDEXER_CLICKHOUSE_PASSWORD=" + d.env["PANGATE_CLICKHOUSE_INDEXER_PASSWORD"],
		"PANGATE_INDEXER_MIGRATE_USER=" + d.env["PANGATE_CLICKHOUSE_USER"],
		"PANGATE_INDEXER_MIGRATE_PASSWORD=" + d.env["PANGATE_CLICKHOUSE_PASSWORD"],
		"PANGATE_INDEXER_FLUSH_INTERVAL=200ms",
	}
	ix, err := start(d.dir, "indexer", d.bin("indexer"), ixEnv)
	if err != nil {
		return err
	}
	d.procs = append(d.procs, ix)
	if err := waitTCP(ctx, ix, ixAddr, 60*time.Second); err != nil {
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
