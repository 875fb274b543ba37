// Package ingest is the indexer's consumer: it reads the audit and approval topics in a Kafka consumer
// group, maps each record to rows (package rows), writes them to ClickHouse in batches, and only then
// commits the records' offsets.
//
//	Kafka (group) ──poll──▶ batch (size or time) ──map──▶ rows ──write, retry forever──▶ ClickHouse
//	                                                                   │
//	                                                 commit offsets ◀──┘ (only after every table is written)
//
// Delivery is at least once: a crash (or a failed commit) replays records whose rows may already be in
// ClickHouse. The tables are ReplacingMergeTree keyed by event id and read with FINAL, so auditors see every
// event exactly once (design invariant 6). While ClickHouse is down the batch is retried with backoff, no
// offset is committed and nothing is dropped; the consumer lag metric grows and shows it.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/indexer/rows"
)

// Config configures the consumer.
type Config struct {
	Brokers        []string      // Kafka bootstrap host:port
	Topics         []string      // full topic names (prefix applied), e.g. pangate.audit and pangate.approvals
	Group          string        // consumer group id
	InstanceID     string        // static group membership id: a restarted indexer takes its partitions back at once
	BatchSize      int           // flush when this many records are pending
	FlushInterval  time.Duration // or when the oldest pending record waited this long
	SessionTimeout time.Duration // group session timeout
	RetryMin       time.Duration // first backoff after a failed ClickHouse write
	RetryMax       time.Duration // backoff cap
	Workers        int           // goroutines mapping records to rows
	LagInterval    time.Duration // how often the lag metric is refreshed from the broker
}

// ErrConfig is matched by every Config.Validate error.
var ErrConfig = errors.New("ingest: invalid config")

// Validate reports what is wrong in words a user can act on.
func (c Config) Validate() error {
	var errs []string
	if len(c.Brokers) == 0 {
		errs = append(errs, "no Kafka brokers: set kafka.brokers to host:port")
	}
	if len(c.Topics) == 0 {
		errs = append(errs, "no topics to consume")
	}
	if c.Group == "" {
		errs = append(errs, "no consumer group: set kafka.group (for example pangate-indexer)")
	}
	if c.BatchSize <= 0 || c.BatchSize > 1_000_000 {
		errs = append(errs, fmt.Sprintf("batch size %d: use 1 to 1000000", c.BatchSize))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, fmt.Sprintf("flush interval %s: must be positive (for example 500ms)", c.FlushInterval))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrConfig, strings.Join(errs, "; "))
	}
	return nil
}

func (c *Config) defaults() {
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.RetryMin == 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.LagInterval == 0 {
		c.LagInterval = 5 * time.Second
	}
	if c.InstanceID == "" {
		h, _ := os.Hostname()
		c.InstanceID = "indexer-" + h
	}
}

// Writer stores rows; *store.Writer in production.
type Writer interface {
	Write(ctx context.Context, rs []rows.Row) error
}

// Ingester consumes, maps, writes and commits.
type Ingester struct {
	cfg     Config
	w       Writer
	mapper  *rows.Mapper
	m       *Metrics
	log     *slog.Logger
	ready   atomic.Bool
	flushed atomic.Int64 // records written since start
	polled  atomic.Int64 // records polled since start
}

// New returns an Ingester; Run starts it.
func New(cfg Config, w Writer, mapper *rows.Mapper, m *Metrics, log *slog.Logger) (*Ingester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	if m == nil {
		m = NewMetrics(nil)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Ingester{cfg: cfg, w: w, mapper: mapper, m: m, log: log}, nil
}

// Ready reports whether the consumer has joined Kafka and its last ClickHouse write (if any) succeeded.
func (in *Ingester) Ready() bool { return in.ready.Load() }

// Flushed returns how many records were written to ClickHouse since start.
func (in *Ingester) Flushed() int64 { return in.flushed.Load() }

// Run consumes until ctx ends. Records not yet written are not committed and will be consumed again.
func (in *Ingester) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(in.cfg.Brokers...),
		kgo.ConsumerGroup(in.cfg.Group),
		kgo.ConsumeTopics(in.cfg.Topics...),
		kgo.InstanceID(in.cfg.InstanceID),
		kgo.SessionTimeout(in.cfg.SessionTimeout),
		kgo.DisableAutoCommit(),
		// A batch is written and committed before partitions move, so a rebalance never commits rows that
		// are not in ClickHouse and never lets two members write the same batch concurrently.
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.FetchMaxBytes(64<<20),
	)
	if err != nil {
		return fmt.Errorf("ingest: kafka client: %w", err)
	}
	defer cl.Close()
	// Close runs the group's revoke callbacks, which wait for AllowRebalance: never leave it blocked.
	defer cl.AllowRebalance()

	lagCtx, stopLag := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); in.lagLoop(lagCtx, kadm.NewClient(cl)) }()
	defer func() { stopLag(); wg.Wait() }()

	if err := cl.Ping(ctx); err == nil {
		in.ready.Store(true)
	}
	in.log.Info("consuming", "topics", in.cfg.Topics, "group", in.cfg.Group, "instance_id", in.cfg.InstanceID)
	var pending []*kgo.Record
	var oldest time.Time
	for ctx.Err() == nil {
		wait := in.cfg.FlushInterval
		if len(pending) > 0 {
			wait = time.Until(oldest.Add(in.cfg.FlushInterval))
		}
		if wait > 0 && len(pending) < in.cfg.BatchSize {
			pctx, cancel := context.WithTimeout(ctx, wait)
			fs := cl.PollRecords(pctx, in.cfg.BatchSize-len(pending))
			cancel()
			fs.EachError(func(t string, p int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
					in.log.Warn("kafka fetch", "topic", t, "partition", p, "err", err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) {
				if len(pending) == 0 {
					oldest = time.Now()
				}
				pending = append(pending, r)
				in.polled.Add(1)
				in.m.Consumed.WithLabelValues(r.Topic).Inc()
			})
		}
		if len(pending) == 0 {
			cl.AllowRebalance()
			continue
		}
		if len(pending) < in.cfg.BatchSize && time.Since(oldest) < in.cfg.FlushInterval && ctx.Err() == nil {
			continue
		}
		wctx := ctx
		if ctx.Err() != nil {
			// Stopping: give what was polled a short chance to land, so a graceful stop replays nothing.
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
		}
		if err := in.flush(wctx, pending); err != nil {
			break // ended while retrying: nothing committed, the records come back after restart
		}
		if err := cl.CommitRecords(wctx, pending...); err != nil {
			// Not fatal: the rows are in ClickHouse; the records will be replayed and deduplicated.
			in.log.Warn("kafka commit failed; records will be replayed", "records", len(pending), "err", err)
		} else {
			in.m.LastCommit.SetToCurrentTime()
		}
		pending = pending[:0]
		cl.AllowRebalance()
	}
	return nil
}

// flush maps pending records and writes their rows, retrying with backoff until it succeeds or ctx ends.
func (in *Ingester) flush(ctx context.Context, recs []*kgo.Record) error {
	start := time.Now()
	rs := in.mapAll(recs)
	mapped := time.Now()
	backoff := in.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		err := in.w.Write(ctx, rs)
		if err == nil {
			break
		}
		in.m.WriteErrors.Inc()
		in.m.ClickHouseUp.Set(0)
		in.ready.Store(false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		in.log.Warn("clickhouse write failed; retrying", "records", len(recs), "attempt", attempt, "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, in.cfg.RetryMax)
	}
	in.m.ClickHouseUp.Set(1)
	in.ready.Store(true)
	now := time.Now()
	in.m.BatchSeconds.Observe(now.Sub(start).Seconds())
	in.m.BatchRecords.Observe(float64(len(recs)))
	for _, r := range recs {
		in.m.EndToEnd.Observe(now.Sub(r.Timestamp).Seconds())
	}
	counts := map[*rows.Table]int{}
	for _, r := range rs {
		counts[r.Table]++
	}
	for t, n := range counts {
		in.m.Rows.WithLabelValues(t.Name).Add(float64(n))
		if t == &rows.DeadLetters {
			for _, r := range rs {
				if r.Table == &rows.DeadLetters {
					in.m.DeadLetters.WithLabelValues(r.Values[7].(string)).Inc()
					in.log.Warn("dead letter", "topic", r.Values[2], "partition", r.Values[3], "offset", r.Values[4],
						"stage", r.Values[7], "reason", r.Values[8])
				}
			}
		}
	}
	in.flushed.Add(int64(len(recs)))
	in.log.Debug("batch written", "records", len(recs), "rows", len(rs), "seconds", now.Sub(start).Seconds(),
		"map_seconds", mapped.Sub(start).Seconds())
	return nil
}

// mapAll maps records to rows on Workers goroutines (validation and hashing dominate the CPU cost).
func (in *Ingester) mapAll(recs []*kgo.Record) []rows.Row {
	n := in.cfg.Workers
	if len(recs) < 256 || n == 1 {
		n = 1
	}
	parts := make([][]rows.Row, n)
	var wg sync.WaitGroup
	chunk := (len(recs) + n - 1) / n
	for i := 0; i < n; i++ {
		lo, hi := i*chunk, min((i+1)*chunk, len(recs))
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func(i int, part []*kgo.Record) {
			defer wg.Done()
			out := make([]rows.Row, 0, len(part)*2)
			for _, r := range part {
				out = append(out, in.mapper.Map(rows.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
					Key: r.Key, Value: r.Value, Timestamp: r.Timestamp})...)
			}
			parts[i] = out
		}(i, recs[lo:hi])
	}
	wg.Wait()
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	all := make([]rows.Row, 0, total)
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// lagLoop refreshes the lag gauge from the broker's committed and end offsets, so lag stays visible while
// the consumer is stuck retrying ClickHouse.
func (in *Ingester) lagLoop(ctx context.Context, adm *kadm.Client) {
	t := time.NewTicker(in.cfg.LagInterval)
	defer t.Stop()
	for {
		lctx, cancel := context.WithTimeout(ctx, in.cfg.LagInterval)
		lags, err := adm.Lag(lctx, in.cfg.Group)
		cancel()
		if err == nil {
			for _, g := range lags {
				for topic, ps := range g.Lag {
					for p, l := range ps {
						if l.Err == nil {
							in.m.Lag.WithLabelValues(topic, strconv.Itoa(int(p))).Set(float64(l.Lag))
						}
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
