package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/deploy/demo/seed"
	"github.com/pangate/pangate/deploy/demo/tot"
	"github.com/pangate/pangate/internal/gobuild"
	"github.com/pangate/pangate/internal/launch"
	"github.com/pangate/pangate/schemas"
)

type options struct {
	real, ci     bool
	noStackUp    bool
	dir          string
	transactions int
}

// demo holds what the steps share.
type demo struct {
	o       options
	root    string // module root
	dir     string // working directory
	env     map[string]string
	brokers []string
	prefix  string // topic prefix
	procs   []*proc
	cleanup []func()
	stepN   int
	stepAt  time.Time

	issuerURL   string
	gatewayAddr string
	database    string // payments database
	chDatabase  string // ClickHouse database the indexer writes
	seeded      seed.Result
	summary     tot.Summary
	clicks      []string // what the demo's approvers did
	pkgDir      string
	gateway     *proc
	slack       *slackuitest.Server
	approverURL string
	mu          sync.Mutex
	summaryAt   string
	produced    int64
	pkgVerified string
}

const (
	signingSecret = "demo-signing-secret-0123456789abcdef"
	audience      = "pangate"
	slackChannel  = "C0PAYMENTS"
)

func (d *demo) step(format string, args ...any) {
	if d.stepN > 0 {
		fmt.Printf("   done in %s\n", time.Since(d.stepAt).Round(10*time.Millisecond))
	}
	d.stepN++
	d.stepAt = time.Now()
	fmt.Printf("\n[%d] %s\n", d.stepN, fmt.Sprintf(format, args...))
}

func run(ctx context.Context, o options) (err error) {
	root, err := gobuild.ModuleRoot()
	if err != nil {
		return fmt.Errorf("demo: %w (go tool task demo)", err)
	}
	d := &demo{o: o, root: root, dir: o.dir, database: "payments_demo", chDatabase: "pangate_demo"}
	if d.dir == "" {
		d.dir = filepath.Join(root, ".stack", "demo")
	}
	defer func() {
		for i := len(d.procs) - 1; i >= 0; i-- {
			d.procs[i].stop()
		}
		for i := len(d.cleanup) - 1; i >= 0; i-- {
			d.cleanup[i]()
		}
	}()
	for _, f := range []func(context.Context) error{
		d.stack, d.build, d.kafka, d.issuer, d.seed, d.services, d.job, d.catchUp, d.report, d.show,
	} {
		if err := f(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) stack(ctx context.Context) error {
	services := []string{"postgres", "clickhouse"}
	if d.o.real {
		services = append(services, "kafka", "s3")
	}
	d.step("local stack: %s (installed and started if missing)", strings.Join(services, ", "))
	if !d.o.noStackUp {
		cmd := exec.CommandContext(ctx, "go", append([]string{"run", "./deploy/local", "up"}, services...)...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = d.root, io.Discard, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("start the local stack: %w", err)
		}
	}
	b, err := os.ReadFile(filepath.Join(d.root, ".stack", "env"))
	if err != nil {
		return fmt.Errorf("read the stack's endpoints: %w", err)
	}
	d.env = map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
			d.env[strings.TrimPrefix(k, "export ")] = strings.Trim(v, `"'`)
		}
	}
	fmt.Printf("   PostgreSQL %s:%s, ClickHouse %s\n", d.env["PANGATE_PG_HOST"], d.env["PANGATE_PG_PORT"], d.env["PANGATE_CLICKHOUSE_ADDR"])
	for _, sub := range []string{"bin", "logs", "keys", "bucket", "packages"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) build(ctx context.Context) error {
	d.step("build gateway, approver, indexer, reporter and the dev OIDC issuer")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(d.dir, "bin")+"/",
		"./gateway", "./approver", "./indexer", "./reporter", "./deploy/issuer")
	cmd.Dir, cmd.Stdout, cmd.Stderr = d.root, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	return nil
}

func (d *demo) bin(name string) string { return filepath.Join(d.dir, "bin", name) }

func (d *demo) kafka(ctx context.Context) error {
	run := time.Now().UTC().Format("20060102t150405")
	d.prefix = "demo-" + run + "."
	if d.o.real {
		d.step("Kafka: the local stack's Apache Kafka broker")
		d.brokers = strings.Split(d.env["PANGATE_KAFKA_BROKERS"], ",")
	} else {
		d.step("Kafka: franz-go's kfake in this process (data in %s)", filepath.Join(d.dir, "kafka"))
		dataDir := filepath.Join(d.dir, "kafka")
		// A fresh log per run keeps the demo's figures its own; kfake survives kill -9 within a run.
		if err := os.RemoveAll(dataDir); err != nil {
			return err
		}
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dataDir), kfake.SyncWrites())
		if err != nil {
			return fmt.Errorf("kfake: %w", err)
		}
		d.brokers = c.ListenAddrs()
		d.cleanup = append(d.cleanup, c.Close)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	topics := schemas.Rename(schemas.Topics(1), d.prefix)
	if err := schemas.EnsureTopics(ctx, kadm.NewClient(cl), topics); err != nil {
		return err
	}
	fmt.Printf("   brokers %s, topics %s and %s\n", strings.Join(d.brokers, ","), topics[0].Name, topics[1].Name)
	return nil
}

func (d *demo) issuer(ctx context.Context) error {
	d.step("OIDC: start the dev issuer process (discovery + JWKS)")
	iss, err := launch.StartIssuer(d.common("issuer"))
	if iss != nil {
		d.procs = append(d.procs, started(d.dir, "issuer", iss.Proc))
	}
	if err != nil {
		return err
	}
	d.issuerURL = iss.URL
	fmt.Printf("   issuer %s\n", d.issuerURL)
	return nil
}

func (d *demo) adminDSN(db string) string {
	u, _ := url.Parse(d.env["PANGATE_PG_ADMIN_DSN"])
	u.Path = "/" + db
	return u.String()
}

func (d *demo) seed(ctx context.Context) error {
	d.step("seed the payments database %q (cardholders, cards with Luhn-valid PANs, %d transactions)", d.database, d.o.transactions)
	admin, err := pgx.Connect(ctx, d.env["PANGATE_PG_ADMIN_DSN"])
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL as admin: %w", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+d.database+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+d.database); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, d.adminDSN(d.database))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	d.seeded, err = seed.Run(ctx, conn, seed.Config{Transactions: d.o.transactions})
	if err != nil {
		return err
	}
	fmt.Printf("   %d cardholders, %d cards, %d transactions\n", d.seeded.Cardholders, d.seeded.Cards, d.seeded.Transactions)
	return nil
}
