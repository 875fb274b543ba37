// Package retention drops monthly partitions older than the kept months from the audit store and records
// every drop as a retention.dropped event on the operations topic, chained under the indexer's run (PCI DSS 10.5.1:
// keep at least 12 months; the event makes the deletion itself auditable).
//
// On a ClickHouse cluster (Config.Cluster, internal/auditstore/cluster) a table T is a Distributed table over
// T_local on every node: the job lists T_local's partitions on one replica of every shard (the cluster
// table function) and drops each on one replica of every shard, connected to it directly; ZooKeeper's
// replication log carries the drop to the other replicas. (ALTER … ON CLUSTER does not work on ClickHouse
// 18.16 with password-protected users: a non-leader replica's DDL worker forwards the drop to its leader
// as the user "default" without a password.) The retention.dropped event names T_local.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/schemas"
)

// MinKeepMonths is the shortest retention the job accepts (PCI DSS 10.5.1).
const MinKeepMonths = 12

// ErrConfig is matched by every Config.Validate error.
var ErrConfig = errors.New("retention: invalid config")

// Config configures the job.
type Config struct {
	KeepMonths int      // full months kept before the current one; at least MinKeepMonths
	Tables     []string // partitioned tables (toYYYYMM) to prune
	Topic      string   // operations topic (schemas.TopicOperations, prefixed) for retention.dropped
	Source     schemas.Source
	// Cluster names the ClickHouse cluster the tables are Distributed over (remote_servers); empty for one
	// server. With it, Database names the audit database and Open connects to one server of the cluster
	// (host:port as system.clusters lists it) as the operator.
	Cluster  string
	Database string
	Open     func(addr string) (driver.Conn, error)
}

// Validate refuses a retention below 12 months.
func (c Config) Validate() error {
	if c.KeepMonths < MinKeepMonths {
		return fmt.Errorf("%w: keep %d months: PCI DSS 10.5.1 requires at least %d", ErrConfig, c.KeepMonths, MinKeepMonths)
	}
	if len(c.Tables) == 0 || c.Topic == "" {
		return fmt.Errorf("%w: tables and topic are required", ErrConfig)
	}
	if c.Cluster != "" && (c.Database == "" || c.Open == nil) {
		return fmt.Errorf("%w: cluster %q needs the audit database's name and a way to open its servers", ErrConfig, c.Cluster)
	}
	return nil
}

// Producer writes one record and returns once Kafka acknowledged it (acks=all).
type Producer interface {
	Produce(ctx context.Context, topic string, key, value []byte) error
}

// Job prunes partitions.
type Job struct {
	cfg   Config
	conn  driver.Conn // the operator: ALTER TABLE … DROP PARTITION is DDL
	prod  Producer
	log   *slog.Logger
	mu    sync.Mutex
	chain *schemas.Chain
}

// New returns a Job; its events chain under a fresh run id.
func New(cfg Config, conn driver.Conn, prod Producer, log *slog.Logger) (*Job, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Job{cfg: cfg, conn: conn, prod: prod, log: log, chain: schemas.NewChain(schemas.NewID(), cfg.Source)}, nil
}

// Run calls Once at start and then every interval until ctx ends; a failed run (ClickHouse or Kafka down)
// is retried after at most five minutes rather than a whole interval.
func (j *Job) Run(ctx context.Context, interval time.Duration) {
	for {
		wait := interval
		if _, err := j.Once(ctx, time.Now()); err != nil && ctx.Err() == nil {
			wait = min(interval, 5*time.Minute)
			j.log.Error("retention run failed; retrying", "in", wait, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Cutoff returns the oldest partition (YYYYMM) kept at now: the current month and keep full months before it.
func Cutoff(now time.Time, keep int) int {
	first := time.Date(now.UTC().Year(), now.UTC().Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -keep, 0)
	return first.Year()*100 + int(first.Month())
}

// Once drops every partition older than the cutoff and returns one event per table that lost partitions.
// Each table's partitions are dropped first and then recorded; if recording fails, the error is returned
// (the drop is logged with its partitions so an operator can record it by hand).
func (j *Job) Once(ctx context.Context, now time.Time) ([]schemas.Event, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	cutoff := Cutoff(now, j.cfg.KeepMonths)
	var out []schemas.Event
	var sh *shards
	if j.cfg.Cluster != "" {
		sh = &shards{open: j.cfg.Open, conns: map[string]driver.Conn{}}
		defer sh.close()
		if err := sh.load(ctx, j.conn, j.cfg.Cluster); err != nil {
			return nil, err
		}
	}
	for _, table := range j.cfg.Tables {
		if j.cfg.Cluster != "" {
			table += "_local"
		}
		parts, err := j.oldPartitions(ctx, table, cutoff)
		if err != nil {
			return out, err
		}
		if len(parts) == 0 {
			continue
		}
		var dropped []string
		var dropErr error
		for _, p := range parts {
			if err := j.drop(ctx, sh, table, p); err != nil {
				dropErr = fmt.Errorf("retention: drop partition %s of %s: %w", p, table, err)
				break
			}
			dropped = append(dropped, p)
		}
		if len(dropped) > 0 {
			e, err := j.chain.Peek(schemas.TypeRetentionDropped, schemas.RetentionDropped{Table: table,
				Partitions: dropped, KeepMonths: int64(j.cfg.KeepMonths)})
			if err == nil {
				var b []byte
				if b, err = schemas.Marshal(e); err == nil {
					err = j.prod.Produce(ctx, j.cfg.Topic, []byte(e.Session), b)
				}
			}
			if err != nil {
				j.log.Error("retention: partitions dropped but not recorded", "table", table, "partitions", dropped, "err", err)
				return out, fmt.Errorf("retention: record drop of %v from %s: %w", dropped, table, err)
			}
			j.chain.Commit(e)
			out = append(out, e)
			j.log.Info("retention: dropped partitions", "table", table, "partitions", dropped, "keep_months", j.cfg.KeepMonths)
		}
		if dropErr != nil {
			return out, dropErr
		}
	}
	return out, nil
}

// drop drops partition p (a checked YYYYMM number) of table: on this server, or on a cluster on one
// replica of every shard.
func (j *Job) drop(ctx context.Context, sh *shards, table, p string) error {
	if sh == nil {
		return j.conn.Exec(ctx, "ALTER TABLE "+table+" DROP PARTITION "+p)
	}
	return sh.each(func(c driver.Conn) error {
		return c.Exec(ctx, "ALTER TABLE "+j.cfg.Database+"."+table+" DROP PARTITION "+p)
	})
}

// shards are a cluster's replicas by shard (system.clusters), with the connections opened so far.
type shards struct {
	open     func(addr string) (driver.Conn, error)
	replicas [][]string // per shard, host:port of each replica
	conns    map[string]driver.Conn
}

func (s *shards) load(ctx context.Context, conn driver.Conn, cluster string) error {
	rs, err := conn.Query(ctx, "SELECT shard_num, host_name, port FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num", cluster)
	if err != nil {
		return fmt.Errorf("retention: replicas of cluster %s: %w", cluster, err)
	}
	defer rs.Close()
	byShard := map[uint32]int{}
	for rs.Next() {
		var shard uint32
		var host string
		var port uint16
		if err := rs.Scan(&shard, &host, &port); err != nil {
			return err
		}
		i, ok := byShard[shard]
		if !ok {
			i = len(s.replicas)
			byShard[shard] = i
			s.replicas = append(s.replicas, nil)
		}
		s.replicas[i] = append(s.replicas[i], net.JoinHostPort(host, strconv.Itoa(int(port))))
	}
	if err := rs.Err(); err != nil {
		return err
	}
	if len(s.replicas) == 0 {
		return fmt.Errorf("retention: cluster %s is not in system.clusters of the server the job connects to", cluster)
	}
	return nil
}

// each runs f on one replica of every shard, trying the next replica of a shard when one fails.
func (s *shards) each(f func(driver.Conn) error) error {
	for i, replicas := range s.replicas {
		var err error
		for _, addr := range replicas {
			c, ok := s.conns[addr]
			if !ok {
				if c, err = s.open(addr); err != nil {
					continue
				}
				s.conns[addr] = c
			}
			if err = f(c); err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("shard %d of %d (replicas %v): %w", i+1, len(s.replicas), replicas, err)
		}
	}
	return nil
}

func (s *shards) close() {
	for _, c := range s.conns {
		_ = c.Close()
	}
}

// oldPartitions lists table's active monthly partitions older than cutoff: on this server, or on a cluster
// on one replica of every shard (replicas of a shard hold the same partitions).
func (j *Job) oldPartitions(ctx context.Context, table string, cutoff int) ([]string, error) {
	q, args := "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND table = ? AND active", []any{table}
	if j.cfg.Cluster != "" {
		q = "SELECT DISTINCT partition FROM cluster('" + j.cfg.Cluster + "', system, parts) WHERE database = ? AND table = ? AND active"
		args = []any{j.cfg.Database, table}
	}
	rs, err := j.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("retention: list partitions of %s: %w", table, err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var p string
		if err := rs.Scan(&p); err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 100000 || n > 999912 {
			continue // not a toYYYYMM partition: leave it alone
		}
		if n < cutoff {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, rs.Err()
}

// KafkaProducer is a Producer over a franz-go client (idempotent, acks=all by default).
type KafkaProducer struct{ Client *kgo.Client }

// Produce writes one record synchronously.
func (p KafkaProducer) Produce(ctx context.Context, topic string, key, value []byte) error {
	return p.Client.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: key, Value: value}).FirstErr()
}
