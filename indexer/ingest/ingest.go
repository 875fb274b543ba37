// Package ingest is the indexer's consumer: it reads the audit and approval topics in a Kafka consumer
// group, maps each record to rows (package rows), writes them to ClickHouse in batches, and only then
// commits the records' offsets.
//
//	Kafka (group) ──poll──▶ queue (per partition) ──even share──▶ batch (size or time) ──map──▶ rows
//	      ▲ polling goes on while batches are written                                          │
//	      │                        write, retry forever: typed tables at once, then events ◀───┘
//	      │                                                 │  (up to Inflight batches at once)
//	      └── commit offsets, batch after batch, in order ◀─┘  (only after every table is written)
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
	"github.com/pangate/pangate/internal/auditstore"
)

// Config configures the consumer.
type Config struct {
	Brokers        []string      // Kafka bootstrap host:port
	ClientOpts     []kgo.Opt     // connection options applied after Brokers: the service's kafka.Config.Opts (TLS, SASL)
	Topics         []string      // full topic names (prefix applied), e.g. pangate.audit and pangate.approvals
	Group          string        // consumer group id
	InstanceID     string        // static group membership id: a restarted indexer takes its partitions back at once
	BatchSize      int           // flush when this many records are pending
	FlushInterval  time.Duration // or when the oldest pending record waited this long
	SessionTimeout time.Duration // group session timeout
	RetryMin       time.Duration // first backoff after a failed ClickHouse write
	RetryMax       time.Duration // backoff cap
	Workers        int           // goroutines mapping records to rows
	Inflight       int           // batches written at once (commits stay in order); 0 takes DefaultInflight
	LagInterval    time.Duration // how often the lag metric is refreshed from the broker
	// Fetch sizes and wait (franz-go FetchMaxBytes, FetchMaxPartitionBytes, FetchMaxWait); zero takes the
	// defaults below, chosen by measurement in indexer/BENCHMARKS.md ("Tuning").
	FetchMaxBytes          int32
	FetchMaxPartitionBytes int32
	FetchMaxWait           time.Duration
}

// Fetch defaults (indexer/BENCHMARKS.md, "Tuning"): the broker answers a fetch as soon as it has any data
// for a live consumer, so FetchMaxWait only bounds an idle poll.
const (
	DefaultFetchMaxBytes          = 64 << 20
	DefaultFetchMaxPartitionBytes = 1 << 20
	DefaultFetchMaxWait           = 250 * time.Millisecond
)

// DefaultInflight is how many batches are written at once unless Config.Inflight says otherwise
// (indexer/BENCHMARKS.md, "End-to-end lag").
const DefaultInflight = 4

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
	if c.Inflight < 0 || c.Inflight > 8 {
		errs = append(errs, fmt.Sprintf("batches in flight %d: use 1 to 8 (0 takes %d)", c.Inflight, DefaultInflight))
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
	if c.Inflight <= 0 {
		c.Inflight = DefaultInflight
	}
	if c.LagInterval == 0 {
		c.LagInterval = 5 * time.Second
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if c.FetchMaxPartitionBytes <= 0 {
		c.FetchMaxPartitionBytes = DefaultFetchMaxPartitionBytes
	}
	if c.FetchMaxWait <= 0 {
		c.FetchMaxWait = DefaultFetchMaxWait
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
	flushed atomic.Int64  // records written since start
	polled  atomic.Int64  // records polled since start
	inserts chan struct{} // one token per INSERT in flight (maxInserts)
	// rebalancing is set when a rebalance waits for the records this member holds (BlockRebalanceOnPoll):
	// Run then stops polling and writes what it holds.
	rebalancing atomic.Bool
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
	return &Ingester{cfg: cfg, w: w, mapper: mapper, m: m, log: log, inserts: make(chan struct{}, maxInserts)}, nil
}

// Ready reports whether the consumer has joined Kafka and its last ClickHouse write (if any) succeeded.
func (in *Ingester) Ready() bool { return in.ready.Load() }

// Flushed returns how many records were written to ClickHouse since start.
func (in *Ingester) Flushed() int64 { return in.flushed.Load() }

// Run consumes until ctx ends. Records not yet written are not committed and will be consumed again.
//
// Polling goes on while batches are written: the loop keeps franz-go's fetches moving and holds polled
// records in a queue (memory stays bounded: Inflight batches being written, about 2 × BatchSize records
// queued, see throttle, and franz-go's buffered fetch); up to Inflight batches are written at once; each
// batch commits only after it is written and after the batch before it committed, so offsets move in
// order and never past a record whose rows are not in ClickHouse (indexer/BENCHMARKS.md, "End-to-end lag",
// says why: the lag was the write, then the poll, then the write, one after another).
func (in *Ingester) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(in.cfg.Brokers...)}, in.cfg.ClientOpts...),
		kgo.ConsumerGroup(in.cfg.Group),
		kgo.ConsumeTopics(in.cfg.Topics...),
		kgo.InstanceID(in.cfg.InstanceID),
		kgo.SessionTimeout(in.cfg.SessionTimeout),
		kgo.DisableAutoCommit(),
		// Every polled record is written and committed before partitions move, so a rebalance never commits
		// rows that are not in ClickHouse and never lets two members write the same records concurrently.
		// A rebalance that waits for that says so (rebalancing), and the loop then stops polling, writes
		// what it holds and lets the rebalance go.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) { in.rebalancing.Store(true) }),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(in.cfg.FetchMaxWait),
		kgo.FetchMaxBytes(in.cfg.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(in.cfg.FetchMaxPartitionBytes),
	)...)
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
	} else {
		// Refused credentials (SASL, TLS) never heal by polling: say so at once, not only in /readyz.
		in.log.Warn("kafka did not answer at start; polling anyway (readyz says not ready)", "err", err)
	}
	in.log.Info("consuming", "topics", in.cfg.Topics, "group", in.cfg.Group, "instance_id", in.cfg.InstanceID)

	// Writes outlive ctx by stopGrace: stopping, what was polled gets a short chance to land, so a graceful
	// stop replays nothing; a write still failing then is dropped uncommitted and replayed after restart.
	wctx, cancelWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWrites()
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, cancelWrites) })
	defer stopAfter()

	q := newQueue()
	maxHeld := 2 * in.cfg.BatchSize
	paused := map[partition]bool{}
	var inflight []*batch // oldest first; each commits after the one before it
	for {
		for len(inflight) > 0 && inflight[0].finished() {
			inflight = inflight[1:]
		}
		stopping := ctx.Err() != nil
		if len(inflight) == 0 && q.len() == 0 {
			// Nothing polled is unwritten or uncommitted: partitions may move now.
			in.throttle(cl, q, paused, maxHeld)
			in.rebalancing.Store(false)
			cl.AllowRebalance()
			if stopping {
				return nil
			}
		}
		if stopping && len(inflight) > 0 && inflight[len(inflight)-1].failed() {
			// The grace period ended with a write still failing: leave the rest uncommitted.
			for _, b := range inflight {
				<-b.done
			}
			return nil
		}
		draining := stopping || in.rebalancing.Load()
		due := q.len() >= in.cfg.BatchSize ||
			(q.len() > 0 && (draining || time.Since(q.oldest()) >= in.cfg.FlushInterval))
		if due && len(inflight) < in.cfg.Inflight {
			var prev *batch
			if len(inflight) > 0 {
				prev = inflight[len(inflight)-1]
			}
			inflight = append(inflight, in.startBatch(wctx, cl, q, prev))
			continue
		}
		if draining {
			// Hold no more records: wait for the oldest batch in flight.
			<-inflight[0].done
			continue
		}
		in.throttle(cl, q, paused, maxHeld)
		wait := in.cfg.FlushInterval
		if q.len() > 0 && !due {
			wait = time.Until(q.oldest().Add(in.cfg.FlushInterval))
		}
		pctx, cancel := context.WithTimeout(ctx, wait)
		if len(inflight) > 0 {
			// A batch finishing frees a writer slot: stop waiting for records then.
			done := inflight[0].done
			go func() {
				select {
				case <-done:
					cancel()
				case <-pctx.Done():
				}
			}()
		}
		fs := cl.PollRecords(pctx, in.cfg.BatchSize)
		cancel()
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				in.log.Warn("kafka fetch", "topic", t, "partition", p, "err", err)
			}
		})
		polledAt := time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			q.add(r, polledAt)
			in.polled.Add(1)
			in.m.Consumed.WithLabelValues(r.Topic).Inc()
		})
	}
}

// throttle pauses fetching from the partitions that hold more than their share of maxHeld records once the
// queue holds maxHeld, and resumes the others: memory stays bounded (about maxHeld plus one fetch per
// partition), while a partition with few records keeps being fetched behind another's backlog, so its new
// records reach the next batch (queue.take gives every partition its share). franz-go drops the buffered
// records of a paused partition and fetches them again from the same offset once it is resumed.
func (in *Ingester) throttle(cl *kgo.Client, q *queue, paused map[partition]bool, maxHeld int) {
	want := q.over(maxHeld)
	pause, resume := map[string][]int32{}, map[string][]int32{}
	for k := range want {
		if !paused[k] {
			paused[k] = true
			pause[k.topic] = append(pause[k.topic], k.id)
		}
	}
	for k := range paused {
		if !want[k] {
			delete(paused, k)
			resume[k.topic] = append(resume[k.topic], k.id)
		}
	}
	if len(pause) > 0 {
		cl.PauseFetchPartitions(pause)
	}
	if len(resume) > 0 {
		cl.ResumeFetchPartitions(resume)
	}
}

// stopGrace is how long writes may go on after Run's context ended.
const stopGrace = 5 * time.Second

// batch is records written and committed together, by their own goroutine.
type batch struct {
	recs []*kgo.Record
	st   stages
	done chan struct{} // closed once committed, or once given up (err set)
	err  error         // why the batch was not written (only when the writes' context ended)
}

func (b *batch) finished() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func (b *batch) failed() bool { return b.finished() && b.err != nil }

// startBatch takes the next batch from q and writes it in the background: map, write every table (retrying),
// wait for prev to commit, commit. A batch whose predecessor was not written is not committed either.
func (in *Ingester) startBatch(ctx context.Context, cl *kgo.Client, q *queue, prev *batch) *batch {
	oldest := q.oldest()
	recs, pollLag := q.take(in.cfg.BatchSize)
	b := &batch{recs: recs, done: make(chan struct{}), st: stages{pollLag: pollLag, formed: time.Since(oldest)}}
	go func() {
		defer close(b.done)
		err := in.flush(ctx, b.recs, &b.st)
		if prev != nil {
			// Mapping and writing went on beside the batch before; the commit waits for it.
			waitStart := time.Now()
			<-prev.done
			b.st.queued = time.Since(waitStart)
			if err == nil && prev.err != nil {
				err = prev.err
			}
		}
		if err != nil {
			b.err = err
			return
		}
		commitStart := time.Now()
		cerr := cl.CommitRecords(ctx, b.recs...)
		b.st.commit = time.Since(commitStart)
		if cerr != nil {
			// Not fatal: the rows are in ClickHouse; the records will be replayed and deduplicated.
			in.log.Warn("kafka commit failed; records will be replayed", "records", len(b.recs), "err", cerr)
		} else {
			in.m.LastCommit.SetToCurrentTime()
		}
		in.logBatch(b.recs, b.st)
	}()
	return b
}

// stages is where one batch's time went, for the "batch written" debug log (indexer/BENCHMARKS.md, "End-to-end
// lag", reads it to say which stage the lag comes from).
type stages struct {
	pollLag time.Duration            // largest (polled − Kafka record timestamp) of the batch
	formed  time.Duration            // oldest record polled → batch taken from the queue
	mapped  time.Duration            // mapping records to rows
	write   time.Duration            // every table written (retries included)
	tables  map[string]time.Duration // each table's INSERT (the attempt that succeeded)
	queued  time.Duration            // written → the batch before committed (commits go in order)
	commit  time.Duration            // offset commit
}

// logBatch logs one batch's stages at debug level.
func (in *Ingester) logBatch(recs []*kgo.Record, st stages) {
	if !in.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	oldest := recs[0].Timestamp
	for _, r := range recs {
		if r.Timestamp.Before(oldest) {
			oldest = r.Timestamp
		}
	}
	tables := make([]any, 0, len(st.tables))
	for name, d := range st.tables {
		tables = append(tables, slog.Float64(name, d.Seconds()))
	}
	in.log.Debug("batch written", "records", len(recs), "seconds", (st.mapped + st.write).Seconds(),
		"map_seconds", st.mapped.Seconds(), "poll_lag_seconds", st.pollLag.Seconds(), "formed_seconds", st.formed.Seconds(),
		"write_seconds", st.write.Seconds(), slog.Group("table_seconds", tables...), "queued_seconds", st.queued.Seconds(), "commit_seconds", st.commit.Seconds(),
		"oldest_lag_seconds", time.Since(oldest).Seconds())
}

// byTable splits rs into one slice per table, in the order of rows.All (tables without rows left out).
func byTable(rs []rows.Row) [][]rows.Row {
	idx := make(map[*rows.Table]int, len(rows.All))
	for i, t := range rows.All {
		idx[t] = i
	}
	parts := make([][]rows.Row, len(rows.All))
	for _, r := range rs {
		i := idx[r.Table]
		parts[i] = append(parts[i], r)
	}
	out := parts[:0]
	for _, p := range parts {
		if len(p) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// maxInserts bounds the INSERTs in flight over all batches, below store.Open's pool of 8 connections (a
// write waiting for a connection longer than the dial timeout would fail and be retried for nothing).
const maxInserts = 6

// writeTables writes each table's rows with its own Write call, timing each into took: every table but
// events at once (the write is latency bound: each INSERT waits for ClickHouse's part write), then events,
// last as in auditstore.All, so that an event in events is fully indexed. A table already in took (written
// by an earlier attempt) is not written again.
func (in *Ingester) writeTables(ctx context.Context, parts [][]rows.Row, took map[string]time.Duration) error {
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		errs   []error
		events []rows.Row
	)
	write := func(p []rows.Row) error {
		select {
		case in.inserts <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-in.inserts }()
		start := time.Now()
		if err := in.w.Write(ctx, p); err != nil {
			return err
		}
		mu.Lock()
		took[p[0].Table.Name] = time.Since(start)
		mu.Unlock()
		return nil
	}
	var typed [][]rows.Row
	for _, p := range parts {
		if _, done := took[p[0].Table.Name]; done {
			continue
		}
		if p[0].Table == &auditstore.Events {
			events = p
		} else {
			typed = append(typed, p)
		}
	}
	for _, p := range typed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := write(p); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if events != nil {
		return write(events)
	}
	return nil
}

// flush maps pending records and writes their rows, retrying with backoff until it succeeds or ctx ends.
func (in *Ingester) flush(ctx context.Context, recs []*kgo.Record, st *stages) error {
	start := time.Now()
	rs := in.mapAll(recs)
	mapped := time.Now()
	st.mapped = mapped.Sub(start)
	parts := byTable(rs)
	st.tables = map[string]time.Duration{}
	backoff := in.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		err := in.writeTables(ctx, parts, st.tables)
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
	st.write = now.Sub(mapped)
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
		if t == &auditstore.DeadLetters {
			for _, r := range rs {
				if r.Table == &auditstore.DeadLetters {
					in.m.DeadLetters.WithLabelValues(r.Values[7].(string)).Inc()
					in.log.Warn("dead letter", "topic", r.Values[2], "partition", r.Values[3], "offset", r.Values[4],
						"stage", r.Values[7], "reason", r.Values[8])
				}
			}
		}
	}
	in.flushed.Add(int64(len(recs)))
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
