// Package retention drops monthly partitions older than the kept months from the audit store and records
// every drop as a retention.dropped event on the operations topic, chained under the indexer's run (PCI DSS 10.5.1:
// keep at least 12 months; the event makes the deletion itself auditable).
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
}

// Validate refuses a retention below 12 months.
func (c Config) Validate() error {
	if c.KeepMonths < MinKeepMonths {
		return fmt.Errorf("%w: keep %d months: PCI DSS 10.5.1 requires at least %d", ErrConfig, c.KeepMonths, MinKeepMonths)
	}
	if len(c.Tables) == 0 || c.Topic == "" {
		return fmt.Errorf("%w: tables and topic are required", ErrConfig)
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
	for _, table := range j.cfg.Tables {
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
			if err := j.conn.Exec(ctx, "ALTER TABLE "+table+" DROP PARTITION "+p); err != nil {
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

func (j *Job) oldPartitions(ctx context.Context, table string, cutoff int) ([]string, error) {
	rs, err := j.conn.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND table = ? AND active", table)
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
