package indexer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/indexer/ingest"
	"github.com/pangate/pangate/indexer/rows"
	"github.com/pangate/pangate/indexer/store"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/auditstore"
	"github.com/pangate/pangate/schemas"
)

// lagStats is the end-to-end lag of one fixed-rate run: for the k-th produced event, the first poll at
// which the table's count() reached k, minus the time the event was handed to the producer. Counting
// instead of matching event ids keeps the poll a metadata read for both paths (the indexer's events table
// and the Kafka engine's anchor_raw); it assumes the k-th visible row is about as old as the k-th produced
// one, which holds only while partitions are drained evenly: measured, it under-reads the stragglers
// (indexer/BENCHMARKS.md, "End-to-end lag"), so BenchmarkLagAnchor also reports the indexer's per-row
// mapped-at lag, a lower bound for each event.
type lagStats struct {
	events         int
	rate           float64 // achieved producer rate
	p50, p99, max  time.Duration
	samples        int
	produceErrors  int64
	producerBehind time.Duration // how late the last chunk left compared with its schedule
	missing        int           // records that never arrived (lossy paths only)
}

func (s lagStats) String() string {
	return fmt.Sprintf("%d events (%d never arrived) at %.0f/s (producer %s behind schedule at the end): lag p50 %s p99 %s max %s (%d polls)",
		s.events, s.missing, s.rate, s.producerBehind.Round(time.Millisecond), s.p50.Round(time.Millisecond), s.p99.Round(time.Millisecond),
		s.max.Round(time.Millisecond), s.samples)
}

// produceAtRate hands recs to the producer in chunks every 10 ms so that rate records/s leave (async, acks
// from every in-sync replica), polls countQuery every 100 ms until it reaches base+len(recs), and returns
// the per-event lag distribution. lossy names a path allowed to lose records (the anchor); the lag is then over the records that arrived.
func (en *env) produceAtRate(recs []*kgo.Record, rate int, countQuery string, base uint64, lossy string) lagStats {
	en.t.Helper()
	type sample struct {
		at time.Time
		n  uint64
	}
	total := base + uint64(len(recs))
	var samples []sample
	var sentAll atomic.Bool
	lastGrowth := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(time.Duration(len(recs)/max(rate, 1))*time.Second + 3*time.Minute)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for range t.C {
			var n uint64
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := en.ch.QueryRow(ctx, countQuery).Scan(&n)
			cancel()
			if err == nil {
				samples = append(samples, sample{time.Now(), n})
			}
			if (err == nil && n >= total) || time.Now().After(deadline) {
				return
			}
			// A path that loses records (ClickHouse 18.16's Kafka engine does, now and then) stops growing:
			// give up 30 s after the last growth once everything was produced.
			if err == nil && len(samples) > 1 && n > samples[len(samples)-2].n {
				lastGrowth = time.Now()
			}
			if sentAll.Load() && time.Since(lastGrowth) > 30*time.Second && lossy != "" {
				return
			}
		}
	}()
	per := max(rate/100, 1)
	produced := make([]time.Time, len(recs))
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	var behind time.Duration
	for i := 0; i < len(recs); i += per {
		due := start.Add(time.Duration(i/per) * 10 * time.Millisecond)
		time.Sleep(time.Until(due))
		behind = time.Since(due)
		now := time.Now()
		for j := i; j < min(i+per, len(recs)); j++ {
			produced[j] = now
			recs[j].Timestamp = now
			wg.Add(1)
			en.kc.Produce(context.Background(), recs[j], func(_ *kgo.Record, err error) {
				if err != nil {
					errs.Add(1)
				}
				wg.Done()
			})
		}
	}
	sent := time.Since(start)
	sentAll.Store(true)
	wg.Wait()
	<-done
	missing := 0
	if lossy != "" && len(samples) > 0 && samples[len(samples)-1].n < total {
		missing = int(total - samples[len(samples)-1].n)
		en.t.Logf("%s stopped at %d, %d records short of %d: lag is over the records that arrived", countQuery, samples[len(samples)-1].n, missing, total)
	}
	if len(samples) == 0 || samples[len(samples)-1].n+uint64(missing) < total {
		got := uint64(0)
		if len(samples) > 0 {
			got = samples[len(samples)-1].n
		}
		en.t.Fatalf("%s = %d after producing %d events at %d/s, want %d (produce errors %d)", countQuery, got, len(recs), rate, total, errs.Load())
	}
	lags := make([]time.Duration, len(recs)-missing)
	s := 0
	for k := range lags {
		for samples[s].n < base+uint64(k)+1 {
			s++
		}
		lags[k] = samples[s].at.Sub(produced[k])
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	q := func(f float64) time.Duration { return lags[min(len(lags)-1, int(f*float64(len(lags))))] }
	return lagStats{events: len(recs), missing: missing, rate: float64(len(recs)) / sent.Seconds(), p50: q(0.5), p99: q(0.99), max: lags[len(lags)-1],
		samples: len(samples), produceErrors: errs.Load(), producerBehind: behind}
}

// anchorTopic creates a topic shaped like the audit topic (same partitions and settings) for the Kafka
// engine anchor, deleted when the benchmark ends.
func (en *env) anchorTopic() string {
	en.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var tc []schemas.TopicConfig
	for _, t := range schemas.Rename(schemas.Topics(1), en.prefix+"anchor.") {
		if strings.HasSuffix(t.Name, "."+schemas.TopicAudit) {
			tc = append(tc, t)
		}
	}
	adm := kadm.NewClient(en.kc)
	if err := schemas.EnsureTopics(ctx, adm, tc); err != nil {
		en.t.Fatalf("create anchor topic: %v", err)
	}
	stack.WaitTopics(en.t, adm, tc)
	en.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, tc[0].Name)
	})
	return tc[0].Name
}

// startAnchor attaches ClickHouse's Kafka engine to topic (anchor_kafka → anchor_mv → anchor_raw, the
// same tables kafkaEngineAnchor builds) with its group's offsets committed at the start, and waits until
// warm-up records are in anchor_raw, so the measured run starts with the engine consuming.
func (en *env) startAnchor(topic string, warm []*kgo.Record) {
	en.t.Helper()
	ctx := context.Background()
	group := en.group + "-anchor"
	adm := kadm.NewClient(en.kc)
	parts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		en.t.Fatalf("start offsets of %s: %v", topic, err)
	}
	var offs kadm.Offsets
	parts.Each(func(o kadm.ListedOffset) {
		offs.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
	})
	if err := adm.CommitAllOffsets(ctx, group, offs); err != nil {
		en.t.Fatalf("commit start offsets for %s: %v", group, err)
	}
	for _, q := range []string{
		`CREATE TABLE anchor_raw (event_id String, time DateTime('UTC'), time_us UInt64, envelope_version UInt8, event_type String,
			session String, seq UInt64, prev String, hash String, source_instance String, data String, record String, ingested_us UInt64)
		 ENGINE = MergeTree() PARTITION BY toYYYYMM(time) ORDER BY (session, seq, event_id)`,
		fmt.Sprintf("CREATE TABLE anchor_kafka (record String) ENGINE = Kafka('%s', '%s', '%s', 'TabSeparated', '\n')",
			strings.Join(en.ep.KafkaBrokers, ","), topic, group),
		anchorView,
	} {
		if err := en.ch.Exec(ctx, q); err != nil {
			en.t.Fatalf("%s: %v", q, err)
		}
	}
	en.t.Cleanup(func() {
		for _, q := range []string{"DROP TABLE IF EXISTS anchor_mv", "DROP TABLE IF EXISTS anchor_kafka"} {
			_ = en.ch.Exec(context.Background(), q)
		}
	})
	en.produceRaw(warm...)
	en.waitCount(2*time.Minute, uint64(len(warm)), "SELECT count() FROM anchor_raw")
}

// dropNow deletes the benchmark's database and topics at once (cleanup would do it only when the whole
// benchmark ends), so a long tuning run does not fill the shared disk.
func (en *env) dropNow() {
	en.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var names []string
	for _, t := range schemas.Rename(schemas.Topics(1), en.prefix) {
		names = append(names, t.Name)
	}
	if _, err := kadm.NewClient(en.kc).DeleteTopics(ctx, names...); err != nil {
		en.t.Logf("delete topics %v: %v", names, err)
	}
	for _, db := range []string{en.db, en.db + auditstore.IngestSuffix} {
		if err := en.ch.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			en.t.Logf("drop database %s: %v", db, err)
		}
	}
}

// retopic returns copies of recs addressed to topic (the records are reused across paths).
func retopic(recs []*kgo.Record, topic string) []*kgo.Record {
	out := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		out[i] = &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}
	}
	return out
}

// BenchmarkLagAnchor: gateway-shaped events (sessions of 8 statements, as BenchmarkIngestThroughput)
// produced at PANGATE_BENCH_RATE events/s (default 10000) for PANGATE_BENCH_SECONDS (default 60), once into
// the indexer binary running with the configuration defaults (config.Defaults) and once, in the same round,
// into ClickHouse's own Kafka engine on a topic of the same shape. Reports the per-event lag (produced →
// counted in ClickHouse) of both, the indexer's CPU per event and the load. PANGATE_BENCH_ROUNDS rounds
// (default 2). Run with -benchtime=1x. The indexer logs at debug level (PANGATE_BENCH_LOG) so that its
// per-batch stages (stageStats) are reported too; PANGATE_BENCH_ANCHOR=off skips the Kafka engine and
// PANGATE_BENCH_INFLIGHT, PANGATE_BENCH_BATCH and PANGATE_BENCH_FLUSH override batch.inflight, batch.size
// and batch.flush_interval (tuning).
func BenchmarkLagAnchor(b *testing.B) {
	rate := envInt("PANGATE_BENCH_RATE", 10000)
	secs := envInt("PANGATE_BENCH_SECONDS", 60)
	rounds := envInt("PANGATE_BENCH_ROUNDS", 2)
	d := config.Defaults()
	d.Batch.Inflight = envInt("PANGATE_BENCH_INFLIGHT", d.Batch.Inflight)
	d.Batch.Size = envInt("PANGATE_BENCH_BATCH", d.Batch.Size)
	if v, err := time.ParseDuration(os.Getenv("PANGATE_BENCH_FLUSH")); err == nil {
		d.Batch.FlushInterval = v
	}
	for b.Loop() {
		for round := 1; round <= rounds; round++ {
			en := newEnvNamed(b, stack.UniqueName(b, "lag"), stack.UniqueName(b, "lag"))
			recs := en.records(rate * secs)[:rate*secs]
			warm := en.records(100)[:100]

			load := loadAvg()
			p := en.start("PANGATE_INDEXER_LOG_LEVEL="+envStr("PANGATE_BENCH_LOG", "debug"),
				"PANGATE_INDEXER_BATCH_SIZE="+strconv.Itoa(d.Batch.Size),
				"PANGATE_INDEXER_FLUSH_INTERVAL="+d.Batch.FlushInterval.String(),
				"PANGATE_INDEXER_BATCH_WORKERS="+strconv.Itoa(d.Batch.Workers),
				"PANGATE_INDEXER_BATCH_INFLIGHT="+strconv.Itoa(d.Batch.Inflight))
			en.produceRaw(warm...)
			en.waitCount(2*time.Minute, uint64(len(warm)), "SELECT count() FROM events")
			logFrom := fileSize(p.Spec.LogFile)
			ix := en.produceAtRate(recs, rate, "SELECT count() FROM events", uint64(len(warm)), "")
			var mq []float64
			if err := en.ch.QueryRow(context.Background(), `SELECT quantilesExact(0.5, 0.99)((toInt64(ingested_us) - toInt64(kafka_time_us)) / 1e6) FROM events`).Scan(&mq); err != nil {
				b.Fatalf("mapped-at lag: %v", err)
			}
			p.stop(b)
			ixCPU := p.Cmd.ProcessState.UserTime() + p.Cmd.ProcessState.SystemTime()
			perEvent := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(len(recs)+len(warm)) }
			logf(b, "round %d (batch %d, flush %s, workers %d, inflight %d):", round, d.Batch.Size, d.Batch.FlushInterval, d.Batch.Workers, d.Batch.Inflight)
			logf(b, "  indexer      (load %s): %s; indexer CPU %.1f µs/event; mapped-at − produced p50 %.3fs p99 %.3fs", load, ix, perEvent(ixCPU), mq[0], mq[1])
			for _, line := range stageStats(b, p.Spec.LogFile, logFrom) {
				logf(b, "    %s", line)
			}

			b.ReportMetric(ix.p99.Seconds(), "lag_p99_s")
			b.ReportMetric(ix.rate, "events/s_produced")
			if os.Getenv("PANGATE_BENCH_ANCHOR") == "off" {
				en.dropNow()
				continue
			}
			topic := en.anchorTopic()
			en.startAnchor(topic, retopic(warm, topic))
			kloadBefore := loadAvg()
			chBefore := procCPU(b, "clickhouse")
			k := en.produceAtRate(retopic(recs, topic), rate, "SELECT count() FROM anchor_raw", uint64(len(warm)), "Kafka engine")
			chCPU := procCPU(b, "clickhouse") - chBefore

			b.ReportMetric(k.p99.Seconds(), "kafka_engine_lag_p99_s")
			logf(b, "  Kafka engine (load %s): %s; ClickHouse CPU %.1f µs/event", kloadBefore, k, float64(chCPU.Microseconds())/float64(len(recs)))
			en.dropNow()
			if ix.produceErrors+k.produceErrors > 0 {
				b.Errorf("produce errors: indexer path %d, Kafka engine path %d", ix.produceErrors, k.produceErrors)
			}
		}
	}
}

func fileSize(name string) int64 {
	fi, err := os.Stat(name)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// stageStats says where the indexer's batches spent their time: from the "batch written" debug lines
// (ingest.Ingester logs one per batch with its stages) after byte offset from of logFile, p50 / p99 / max
// over batches of each stage, in seconds. Empty if the indexer did not log at debug level.
func stageStats(tb testing.TB, logFile string, from int64) []string {
	tb.Helper()
	data, err := os.ReadFile(logFile)
	if err != nil {
		tb.Fatalf("indexer log: %v", err)
	}
	if from > int64(len(data)) {
		from = 0
	}
	type line struct {
		Msg     string             `json:"msg"`
		Records float64            `json:"records"`
		Tables  map[string]float64 `json:"table_seconds"`
	}
	stages := map[string][]float64{}
	order := []string{"poll_lag_seconds", "formed_seconds", "queued_seconds", "map_seconds", "write_seconds", "commit_seconds", "oldest_lag_seconds"}
	var batches, records float64
	for _, raw := range strings.Split(string(data[from:]), "\n") {
		if !strings.Contains(raw, `"msg":"batch written"`) {
			continue
		}
		var l line
		var all map[string]any
		if json.Unmarshal([]byte(raw), &l) != nil || json.Unmarshal([]byte(raw), &all) != nil {
			continue
		}
		batches++
		records += l.Records
		for _, k := range order {
			if v, ok := all[k].(float64); ok {
				stages[k] = append(stages[k], v)
			}
		}
		for t, v := range l.Tables {
			stages["table "+t] = append(stages["table "+t], v)
		}
	}
	if batches == 0 {
		return nil
	}
	var tables []string
	for k := range stages {
		if strings.HasPrefix(k, "table ") {
			tables = append(tables, k)
		}
	}
	sort.Strings(tables)
	out := []string{fmt.Sprintf("%0.f batches, %.0f records per batch on average; per batch p50 / p99 / max:", batches, records/batches)}
	for _, k := range append(order, tables...) {
		v := stages[k]
		if len(v) == 0 {
			continue
		}
		sort.Float64s(v)
		q := func(f float64) float64 { return v[min(len(v)-1, int(f*float64(len(v))))] }
		out = append(out, fmt.Sprintf("%-22s %7.3f %7.3f %7.3f", strings.TrimSuffix(k, "_seconds"), q(0.5), q(0.99), v[len(v)-1]))
	}
	return out
}

// logf logs to the benchmark and to stdout at once: go test keeps only the first lines of a benchmark's
// log, and a tuning run writes one line per setting and round.
func logf(b *testing.B, format string, args ...any) {
	b.Helper()
	b.Logf(format, args...)
	fmt.Printf("LAG "+format+"\n", args...)
}

// tuneSetting is one point of BenchmarkIngestTuning: a name and changes to the in-process ingester's config.
type tuneSetting struct {
	name string
	set  func(*ingest.Config)
}

var tuneSettings = []tuneSetting{
	{"base", func(c *ingest.Config) {}},
	{"batch5k", func(c *ingest.Config) { c.BatchSize = 5000 }},
	{"batch10k", func(c *ingest.Config) { c.BatchSize = 10000 }},
	{"batch20k", func(c *ingest.Config) { c.BatchSize = 20000 }},
	{"batch10k-workers1", func(c *ingest.Config) { c.BatchSize, c.Workers = 10000, 1 }},
	{"batch100k-flush1s", func(c *ingest.Config) { c.BatchSize, c.FlushInterval = 100000, time.Second }},
	{"flush200ms", func(c *ingest.Config) { c.FlushInterval = 200 * time.Millisecond }},
	{"workers1", func(c *ingest.Config) { c.Workers = 1 }},
	{"workers4", func(c *ingest.Config) { c.Workers = 4 }},
	{"part8MiB", func(c *ingest.Config) { c.FetchMaxPartitionBytes = 8 << 20 }},
	{"fetch16MiB-part256KiB", func(c *ingest.Config) { c.FetchMaxBytes, c.FetchMaxPartitionBytes = 16<<20, 256<<10 }},
	{"wait50ms", func(c *ingest.Config) { c.FetchMaxWait = 50 * time.Millisecond }},
}

func cpuSelf() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngestTuning runs the ingester in this process (so franz-go's fetch options, which the binary
// does not expose, can be varied) for each setting of tuneSettings (PANGATE_BENCH_TUNE: comma-separated
// names to run a subset), PANGATE_BENCH_ROUNDS times (default 2) in interleaved order: a backlog of
// PANGATE_BENCH_EVENTS (default 100000) gives events/s and the process's CPU per event (the producer is
// idle meanwhile), then PANGATE_BENCH_RATE events/s (default 10000) for PANGATE_BENCH_SECONDS (default 20)
// give the lag. Base is the configuration defaults with GOGC 400 as the binary sets it. -benchtime=1x.
func BenchmarkIngestTuning(b *testing.B) {
	n := envInt("PANGATE_BENCH_EVENTS", 100000)
	rate := envInt("PANGATE_BENCH_RATE", 10000)
	secs := envInt("PANGATE_BENCH_SECONDS", 20)
	rounds := envInt("PANGATE_BENCH_ROUNDS", 2)
	var pick []tuneSetting
	only := os.Getenv("PANGATE_BENCH_TUNE")
	for _, s := range tuneSettings {
		if only == "" || strings.Contains(","+only+",", ","+s.name+",") {
			pick = append(pick, s)
		}
	}
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	d := config.Defaults()
	for b.Loop() {
		for round := 1; round <= rounds; round++ {
			for _, s := range pick {
				en := newEnvNamed(b, stack.UniqueName(b, "lag"), stack.UniqueName(b, "lag"))
				backlog := en.records(n)[:n]
				live := en.records(rate * secs)[:rate*secs]
				for i := 0; i < len(backlog); i += 20000 {
					en.produceRaw(backlog[i:min(i+20000, len(backlog))]...)
				}
				cfg := ingest.Config{Brokers: en.ep.KafkaBrokers, Group: en.group, InstanceID: en.group + "-1",
					Topics:    []string{en.prefix + schemas.TopicAudit, en.prefix + schemas.TopicApprovals, en.prefix + schemas.TopicDecisions},
					BatchSize: d.Batch.Size, FlushInterval: d.Batch.FlushInterval, Workers: d.Batch.Workers, SessionTimeout: d.Kafka.SessionTimeout}
				s.set(&cfg)
				conn, err := store.Open(store.Config{Addrs: []string{en.ep.ClickHouseAddr}, Database: en.db, User: en.ep.ClickHouseUser,
					Password: en.ep.ClickHousePassword})
				if err != nil {
					b.Fatal(err)
				}
				in, err := ingest.New(cfg, store.NewWriter(conn), rows.NewMapper(), nil, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
				if err != nil {
					b.Fatal(err)
				}
				load := loadAvg()
				cpu0 := cpuSelf()
				ctx, cancel := context.WithCancel(context.Background())
				stopped := make(chan struct{})
				start := time.Now()
				go func() { defer close(stopped); _ = in.Run(ctx) }()
				en.waitCount(10*time.Minute, uint64(n), "SELECT count() FROM events")
				el := time.Since(start)
				cpu := cpuSelf() - cpu0
				lag := en.produceAtRate(live, rate, "SELECT count() FROM events", uint64(n), "")
				cancel()
				<-stopped
				conn.Close()
				en.dropNow()
				evs := float64(n) / el.Seconds()
				cpuUS := float64(cpu.Microseconds()) / float64(n)
				b.ReportMetric(evs, s.name+"_events/s")
				b.ReportMetric(lag.p99.Seconds(), s.name+"_lag_p99_s")
				logf(b, "round %d %-22s load %s: backlog %d in %s = %.0f events/s, %.1f µs CPU/event; live: %s",
					round, s.name, load, n, el.Round(time.Millisecond), evs, cpuUS, lag)
				if lag.produceErrors > 0 {
					b.Errorf("%s: %d produce errors", s.name, lag.produceErrors)
				}
			}
		}
	}
}
