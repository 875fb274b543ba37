package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	approverconfig "github.com/pangate/pangate/approver/config"
	gatewayconfig "github.com/pangate/pangate/gateway/config"
	"github.com/pangate/pangate/gateway/policy"
	indexerconfig "github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/schemas"
)

// TestLaunchConfigsLoadBack writes each service's config as the launchers do and loads it back through the
// service's own strict loader: a field the launcher sets that the service does not know, or a default the
// written zero would override, fails here rather than as a service that will not start.
func TestLaunchConfigsLoadBack(t *testing.T) {
	dir := t.TempDir()
	keyFile, _ := DecisionKeys(t, dir)
	cases := []struct {
		name  string
		write func(path string)
		check func(t *testing.T, path string)
	}{
		{"gateway", func(path string) {
			o := GatewayOptions{Reads: gatewayconfig.ReadsPipelined, MaskColumns: []string{"cards.pan"}, AckTimeout: 7 * time.Second}
			WriteConfig(t, path, GatewayConfig(t, t.TempDir(), &o))
		}, func(t *testing.T, path string) {
			c, err := gatewayconfig.Load(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("the launcher's gateway config does not validate: %v", err)
			}
			if c.Kafka.AckTimeout != 7*time.Second || c.Audit.Reads != gatewayconfig.ReadsPipelined || c.Limits.MaxConnections != 1000 ||
				c.Targets[0].SourceAddress != "127.0.0.2" || len(c.Mask.Columns) != 1 {
				t.Errorf("loaded back: ack_timeout %s, reads %q, max_connections %d (default 1000), source %q, mask columns %v",
					c.Kafka.AckTimeout, c.Audit.Reads, c.Limits.MaxConnections, c.Targets[0].SourceAddress, c.Mask.Columns)
			}
		}},
		{"approver", func(path string) {
			WriteConfig(t, path, ApproverConfig(t, ApproverOptions{Instance: "a1", Prefix: "p.", Listen: "127.0.0.1:1",
				SlackURL: "http://127.0.0.1:2", SigningSecret: "s3cret-s3cret-s3cret", Approvers: []string{"U1"}, DecisionKeyFile: keyFile}))
		}, func(t *testing.T, path string) {
			c, err := approverconfig.LoadEnv(path, nil)
			if err != nil {
				t.Fatalf("the launcher's approver config does not load: %v", err)
			}
			if c.Kafka.ApprovalsTopic() != "p."+schemas.TopicApprovals || c.Slack.Channel != "C0APPROVALS" {
				t.Errorf("loaded back: approvals topic %q, channel %q", c.Kafka.ApprovalsTopic(), c.Slack.Channel)
			}
		}},
		{"indexer", func(path string) {
			WriteConfig(t, path, IndexerConfig(t, &IndexerOptions{Prefix: "p.", Database: "ix_db", BatchSize: 7}))
		}, func(t *testing.T, path string) {
			t.Setenv("PANGATE_INDEXER_INSTANCE", "") // the file decides; an empty override is no override
			c, err := indexerconfig.Load(path)
			if err != nil {
				t.Fatalf("the launcher's indexer config does not load: %v", err)
			}
			def := indexerconfig.Defaults()
			if c.Batch.Size != 7 || c.ClickHouse.Database != "ix_db" || !c.Retention.Disabled || c.Retention.KeepMonths != def.Retention.KeepMonths {
				t.Errorf("loaded back: batch %d, database %q, retention %+v", c.Batch.Size, c.ClickHouse.Database, c.Retention)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".yaml")
			tc.write(path)
			tc.check(t, path)
		})
	}
}

// TestStartGatewayKillRestart runs a real gateway, queries through it, kills it with SIGKILL and restarts it
// from the same config: the launcher's whole life cycle.
func TestStartGatewayKillRestart(t *testing.T) {
	role := UniqueName(t, "lr")
	admin := Postgres(t)
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	g := StartGateway(t, GatewayOptions{Policy: fmt.Sprintf(`version: 1
grants: [{name: launch-test, when: 'true', roles: [%s]}]
rules: [{name: allow, when: 'true', action: allow}]
default: {action: deny, reason: "unreachable"}
`, role)})
	query := func() {
		t.Helper()
		dsn := fmt.Sprintf("host=127.0.0.1 port=%s user=%s@%s dbname=%s sslmode=verify-full sslrootcert=%s password=%s",
			g.Port, role, g.Target, g.Database, g.CAFile, g.Token("launch-test"))
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect through the gateway on %s: %v", g.Addr, err)
		}
		defer c.Close(ctx)
		var n int
		if err := c.QueryRow(ctx, "SELECT 41 + 1").Scan(&n); err != nil || n != 42 {
			t.Fatalf("SELECT through the gateway: %d, %v", n, err)
		}
	}
	query()
	if g.Ops == "" {
		t.Error("the gateway's ops address was not read from its log")
	}
	g.Kill()
	if g.Alive() {
		t.Fatal("the gateway still runs after Kill")
	}
	g.Restart()
	query()
	if !strings.Contains(strings.Join(g.Logs(), "\n"), `"gateway serving"`) {
		t.Error("the restarted gateway's log has no serving line")
	}
}

// TestPCIPolicyLoads writes the default policy with one grant and an extra rule and loads it with the
// gateway's own policy loader: the grant and the rule are there, after the leading deny rules.
func TestPCIPolicyLoads(t *testing.T) {
	path := PCIPolicy(t, t.TempDir(), PolicyOptions{Grant: "launch-test", Roles: []string{"r1", "r2"},
		Rules: []string{"{name: launch-test-allow-ddl, when: 'kind == \"ddl\"', action: allow}"}})
	p, err := policy.Load(path)
	if err != nil {
		t.Fatalf("the written policy does not load: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.Contains(text, "launch-test-allow-ddl") || !strings.Contains(text, "- r2") || strings.Count(text, "name: launch-test\n") != 1 {
		t.Errorf("policy %v lacks the grant or the rule:\n%s", p, text)
	}
	firstAllow, firstDeny := strings.Index(text, "launch-test-allow-ddl"), strings.Index(text, "action: deny")
	if firstDeny < 0 || firstAllow < firstDeny {
		t.Errorf("the extra rule is not after the leading deny rules:\n%s", text)
	}
}
