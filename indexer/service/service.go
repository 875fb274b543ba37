// Package service assembles the indexer from its parts and runs it: migrations (as the operator), the
// consumer and writer (as the indexer user), the retention job (as the operator) and the ops endpoints.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/indexer/ingest"
	"github.com/pangate/pangate/indexer/retention"
	"github.com/pangate/pangate/indexer/rows"
	"github.com/pangate/pangate/indexer/store"
	chddl "github.com/pangate/pangate/internal/auditstore"
	chcluster "github.com/pangate/pangate/internal/auditstore/cluster"
	"github.com/pangate/pangate/internal/auditstore/migrate"
	"github.com/pangate/pangate/internal/ops"
	"github.com/pangate/pangate/schemas"
)

// Version is the indexer's version, written in its own events.
var Version = "0.1.0"

// Migrate creates the database if needed and applies the embedded migrations as the migrate user: the
// single-node ones, or with clickhouse.cluster the cluster DDL (internal/auditstore/cluster), whose
// Distributed tables carry the single-node names, so the ingest views below, the reporter and the
// auditors' queries write and read through them unchanged.
func Migrate(ctx context.Context, cfg config.Config, log *slog.Logger) (migrate.Result, error) {
	ms, err := migrations(cfg)
	if err != nil {
		return migrate.Result{}, err
	}
	if cfg.ClickHouse.Cluster != "" {
		// schema_migrations is a Distributed table there: record each version synchronously, so the next
		// start reads it back whichever server it asks.
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
	}
	op := store.Config{Addrs: cfg.ClickHouse.Addrs, Database: "default", User: cfg.ClickHouse.MigrateUser, Password: cfg.ClickHouse.MigratePassword}
	conn, err := store.Open(op)
	if err != nil {
		return migrate.Result{}, err
	}
	defer conn.Close()
	if err := retryCH(ctx, log, "create database", func() error { return migrate.EnsureDatabase(ctx, conn, cfg.ClickHouse.Database) }); err != nil {
		return migrate.Result{}, err
	}
	op.Database = cfg.ClickHouse.Database
	dconn, err := store.Open(op)
	if err != nil {
		return migrate.Result{}, err
	}
	defer dconn.Close()
	res, err := migrate.Apply(ctx, dconn, ms)
	if err != nil {
		return res, err
	}
	// The indexer user writes only into the ingest database (see chddl.EnsureIngest); on a cluster every node
	// the indexer may connect to needs its own ingest tables and views.
	tables := make([]string, len(rows.All))
	for i, t := range rows.All {
		tables[i] = t.Name
	}
	for _, addr := range cfg.ClickHouse.Addrs {
		node := op
		node.Addrs = []string{addr}
		nconn, err := store.Open(node)
		if err != nil {
			return res, err
		}
		err = retryCH(ctx, log, "ingest tables", func() error { return chddl.EnsureIngest(ctx, nconn, cfg.ClickHouse.Database, tables) })
		nconn.Close()
		if err != nil {
			return res, err
		}
	}
	log.Info("clickhouse schema ready", "database", cfg.ClickHouse.Database, "ingest", chddl.IngestDatabase(cfg.ClickHouse.Database),
		"from", res.From, "to", res.To, "applied", res.Applied)
	return res, nil
}

// migrations is the schema the configuration asks for.
func migrations(cfg config.Config) ([]migrate.Migration, error) {
	if cfg.ClickHouse.Cluster != "" {
		return chcluster.Load(cfg.ClickHouse.Cluster, cfg.ClickHouse.Database)
	}
	return migrate.Load(chddl.Migrations, "migrations")
}

// retryCH retries f while ClickHouse is unreachable at start (it may start after the indexer).
func retryCH(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	backoff := 200 * time.Millisecond
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := f()
		if err == nil {
			return nil
		}
		var ne net.Error
		if !errors.As(err, &ne) && !errors.Is(err, context.DeadlineExceeded) || time.Now().After(deadline) {
			return err
		}
		log.Warn("clickhouse not reachable; retrying", "step", what, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// Run runs the indexer until ctx ends.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if _, err := Migrate(ctx, cfg, log); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := ingest.NewMetrics(reg)

	wc := store.Config{Addrs: cfg.ClickHouse.Addrs, Database: chddl.IngestDatabase(cfg.ClickHouse.Database),
		User: cfg.ClickHouse.User, Password: cfg.ClickHouse.Password}
	if cfg.ClickHouse.Cluster != "" {
		// The ingest views write the Distributed tables: acknowledge a batch only once every shard holds it
		// (exactly once, docs/invariants.md), whatever the indexer user's profile says.
		wc.Settings = clickhouse.Settings{"insert_distributed_sync": 1}
	}
	conn, err := store.Open(wc)
	if err != nil {
		return err
	}
	defer conn.Close()
	ic, err := ingestConfig(cfg)
	if err != nil {
		return err
	}
	in, err := ingest.New(ic, store.NewWriter(conn), rows.NewMapper(), metrics, log)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("indexer: listen %s for /metrics: %w", cfg.Listen, err)
	}
	// The listener serves only the ops endpoints (profiles included, internal/ops); it stops with ctx.
	opsSrv := ops.New(ops.Config{Gatherer: reg, Pprof: true, Checks: map[string]ops.Check{
		"ingest": func(context.Context) error {
			if in.Ready() {
				return nil
			}
			return errors.New("not consuming: Kafka not joined, or the last ClickHouse write failed")
		},
	}})
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := opsSrv.Serve(ctx, ln); err != nil {
			errc <- err
		}
	}()
	log.Info("indexer started", "listen", ln.Addr().String(), "topics", cfg.Topics(),
		"database", cfg.ClickHouse.Database)

	if !cfg.Retention.Disabled {
		job, closeJob, err := NewRetention(cfg, log)
		if err != nil {
			return err
		}
		defer closeJob()
		wg.Add(1)
		go func() { defer wg.Done(); job.Run(ctx, cfg.Retention.Interval) }()
	}

	wg.Add(1)
	go func() {
		defer wg.Done()
		errc <- in.Run(ctx)
	}()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	wg.Wait()
	log.Info("indexer stopped", "records_written", in.Flushed())
	return runErr
}

// ingestConfig is the consumer's configuration: the group settings of cfg, connecting through the
// service's Kafka client block (kafka.Config.Opts) like every other Kafka client of the indexer.
func ingestConfig(cfg config.Config) (ingest.Config, error) {
	kafkaOpts, err := cfg.Kafka.Opts()
	if err != nil {
		return ingest.Config{}, err
	}
	return ingest.Config{
		Brokers: cfg.Kafka.Brokers, ClientOpts: kafkaOpts, Topics: cfg.Topics(), Group: cfg.Kafka.Group, InstanceID: cfg.Kafka.InstanceID,
		BatchSize: cfg.Batch.Size, FlushInterval: cfg.Batch.FlushInterval, SessionTimeout: cfg.Kafka.SessionTimeout,
		Workers: cfg.Batch.Workers, Inflight: cfg.Batch.Inflight,
	}, nil
}

// newProducer is the producer of the indexer's own events (retention.dropped): acks from all in-sync
// replicas, through the service's Kafka client block.
func newProducer(cfg config.Config) (*kgo.Client, error) {
	return cfg.Kafka.NewClient(kgo.RequiredAcks(kgo.AllISRAcks()))
}

// NewRetention builds the retention job with its own operator connection and Kafka producer.
func NewRetention(cfg config.Config, log *slog.Logger) (*retention.Job, func(), error) {
	conn, err := store.Open(store.Config{Addrs: cfg.ClickHouse.Addrs, Database: cfg.ClickHouse.Database,
		User: cfg.ClickHouse.MigrateUser, Password: cfg.ClickHouse.MigratePassword})
	if err != nil {
		return nil, nil, err
	}
	prod, err := newProducer(cfg)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	var tables []string
	for _, t := range rows.Partitioned {
		tables = append(tables, t.Name)
	}
	job, err := retention.New(retention.Config{KeepMonths: cfg.Retention.KeepMonths, Tables: tables,
		Topic: cfg.OperationsTopic(), Source: schemas.Source{Instance: cfg.Instance, Version: Version},
		Cluster: cfg.ClickHouse.Cluster, Database: cfg.ClickHouse.Database,
		Open: func(addr string) (driver.Conn, error) {
			return store.Open(store.Config{Addrs: []string{addr}, Database: cfg.ClickHouse.Database,
				User: cfg.ClickHouse.MigrateUser, Password: cfg.ClickHouse.MigratePassword})
		}},
		conn, retention.KafkaProducer{Client: prod}, log)
	if err != nil {
		prod.Close()
		conn.Close()
		return nil, nil, err
	}
	return job, func() { prod.Close(); conn.Close() }, nil
}
