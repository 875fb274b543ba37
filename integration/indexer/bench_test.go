package indexer_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// records pre-encodes n events (sessions of 8 statements) as Kafka records for topic.
func (en *env) records(n int) []*kgo.Record {
	var recs []*kgo.Record
	for len(recs) < n {
		for _, e := range session(8, time.Now()) {
			b, err := schemas.Marshal(e)
			if err != nil {
				en.t.Fatal(err)
			}
			recs = append(recs, &kgo.Record{Topic: en.prefix + schemas.TopicAudit, Key: []byte(e.Session), Value: b})
		}
	}
	return recs
}

// BenchmarkIngestThroughput: a backlog of PANGATE_BENCH_EVENTS events (default 200000) already in Kafka;
// time from starting the indexer binary until every event is in ClickHouse, and in the same round the
// anchor: ClickHouse's own Kafka table engine consuming the same topic through a materialized view into an
// equivalent raw table (what a user would set up instead of an indexer). PANGATE_BENCH_ROUNDS rounds
// (default 2), each with fresh topics and database. Run with -benchtime=1x.
func BenchmarkIngestThroughput(b *testing.B) {
	n := envInt("PANGATE_BENCH_EVENTS", 200000)
	rounds := envInt("PANGATE_BENCH_ROUNDS", 2)
	for b.Loop() {
		for round := 1; round <= rounds; round++ {
			en := newEnv(b)
			recs := en.records(n)
			for i := 0; i < len(recs); i += 20000 {
				en.produceRaw(recs[i:min(i+20000, len(recs))]...)
			}
			total := uint64(len(recs))
			perEvent := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(total) }

			chBefore := procCPU(b, "clickhouse")
			start := time.Now()
			p := en.start("GOGC="+envStr("PANGATE_BENCH_GOGC", "400"), "PANGATE_INDEXER_BATCH_SIZE="+envStr("PANGATE_BENCH_BATCH", "100000"),
				"PANGATE_INDEXER_FLUSH_INTERVAL=1s", "PANGATE_INDEXER_LOG_LEVEL="+envStr("PANGATE_BENCH_LOG", "info"))
			profiled := make(chan struct{})
			if dir := os.Getenv("PANGATE_BENCH_PROFILE"); dir != "" {
				go profileIndexer(b, p, filepath.Join(dir, fmt.Sprintf("indexer-round%d.pprof", round)), profiled)
			} else {
				close(profiled)
			}
			en.waitCount(10*time.Minute, total, "SELECT count() FROM events")
			el := time.Since(start)
			<-profiled
			p.stop(b)
			chCPU := procCPU(b, "clickhouse") - chBefore
			ixCPU := p.Cmd.ProcessState.UserTime() + p.Cmd.ProcessState.SystemTime()
			rate := float64(total) / el.Seconds()

			kEl, kCPU := en.kafkaEngineAnchor(b, en.prefix+schemas.TopicAudit, total)
			kRate := float64(total) / kEl.Seconds()

			b.ReportMetric(perEvent(ixCPU), "indexer_cpu_us/event")
			b.ReportMetric(perEvent(chCPU), "clickhouse_cpu_us/event")
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(kRate, "kafka_engine_events/s")
			b.ReportMetric(perEvent(kCPU), "kafka_engine_clickhouse_cpu_us/event")
			b.Logf("round %d, %d events (%d rows in all tables, load %s):", round, total,
				en.count("SELECT sum(rows) FROM system.parts WHERE database = currentDatabase() AND active AND table != 'anchor_raw'"), loadAvg())
			b.Logf("  indexer:      %s, %.0f events/s; indexer CPU %.1f µs/event, ClickHouse CPU %.1f µs/event (ratio %.2f)",
				el.Round(time.Millisecond), rate, perEvent(ixCPU), perEvent(chCPU), perEvent(ixCPU)/perEvent(chCPU))
			b.Logf("  Kafka engine: %s, %.0f events/s; ClickHouse CPU %.1f µs/event (indexer CPU / this: %.2f; indexer+its ClickHouse / this: %.2f); indexer rate / this: %.2f",
				kEl.Round(time.Millisecond), kRate, perEvent(kCPU), perEvent(ixCPU)/perEvent(kCPU), (perEvent(ixCPU)+perEvent(chCPU))/perEvent(kCPU), rate/kRate)
		}
	}
}

// profileIndexer saves a CPU profile of the indexer's first seconds of ingestion (PANGATE_BENCH_PROFILE=DIR,
// PANGATE_BENCH_PROFILE_SECONDS, default 4) from its ops listener's /debug/pprof, for `go tool pprof`.
func profileIndexer(b *testing.B, p *proc, file string, done chan struct{}) {
	defer close(done)
	var addr string
	select {
	case addr = <-p.addr:
	case <-time.After(30 * time.Second):
		b.Logf("profile: the indexer did not report its listen address")
		return
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, envInt("PANGATE_BENCH_PROFILE_SECONDS", 4)))
	if err != nil {
		b.Logf("profile: %v", err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err == nil {
		err = os.WriteFile(file, body, 0o644)
	}
	if err != nil {
		b.Logf("profile: %v", err)
		return
	}
	b.Logf("indexer CPU profile: %s", file)
}

// anchorView is the Kafka-engine anchor's materialized view: the events table's envelope columns, data and
// record, extracted from each record (BenchmarkIngestThroughput and the lag benchmark).
const anchorView = `CREATE MATERIALIZED VIEW anchor_mv TO anchor_raw AS SELECT
		visitParamExtractString(record, 'id') AS event_id,
		parseDateTimeBestEffort(substring(visitParamExtractString(record, 'time'), 1, 19)) AS time,
		toUInt64(toUnixTimestamp(time)) * 1000000 + toUInt64(substring(visitParamExtractString(record, 'time'), 21, 6)) AS time_us,
		toUInt8(visitParamExtractUInt(record, 'v')) AS envelope_version,
		visitParamExtractString(record, 'type') AS event_type,
		visitParamExtractString(record, 'session') AS session,
		visitParamExtractUInt(record, 'seq') AS seq,
		visitParamExtractString(record, 'prev') AS prev,
		visitParamExtractString(record, 'hash') AS hash,
		visitParamExtractString(record, 'instance') AS source_instance,
		visitParamExtractRaw(record, 'data') AS data,
		record,
		toUInt64(toUnixTimestamp(now())) * 1000000 AS ingested_us
	FROM anchor_kafka`

// kafkaEngineAnchor consumes topic with ClickHouse's Kafka table engine (18.16: Kafka(brokers, topic, group,
// format, row delimiter)) and a materialized view into anchor_raw, a MergeTree with the events table's
// envelope columns and the record, until it holds want rows; it returns the time that took and the
// ClickHouse server's CPU meanwhile. Each record is read whole as one TabSeparated field (canonical JSON has
// no raw tab or newline; the benchmark's records have no backslash escapes, which TSV would unescape) and
// the envelope members are extracted from it with visitParamExtract*, so the anchor stores what the
// events table stores: one row per event with the record, typed envelope columns, sorted by session.
func (en *env) kafkaEngineAnchor(b *testing.B, topic string, want uint64) (time.Duration, time.Duration) {
	b.Helper()
	ctx := context.Background()
	group := en.group + "-anchor"
	// ClickHouse 18.16's Kafka engine starts a new group at the end of the log: commit offset 0 of every
	// partition for its group first, so it reads the backlog as the indexer did.
	adm := kadm.NewClient(en.kc)
	parts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		b.Fatalf("start offsets of %s: %v", topic, err)
	}
	var offs kadm.Offsets
	parts.Each(func(o kadm.ListedOffset) {
		offs.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
	})
	if err := adm.CommitAllOffsets(ctx, group, offs); err != nil {
		b.Fatalf("commit start offsets for %s: %v", group, err)
	}
	for _, q := range []string{
		`CREATE TABLE anchor_raw (event_id String, time DateTime('UTC'), time_us UInt64, envelope_version UInt8, event_type String,
			session String, seq UInt64, prev String, hash String, source_instance String, data String, record String, ingested_us UInt64)
		 ENGINE = MergeTree() PARTITION BY toYYYYMM(time) ORDER BY (session, seq, event_id)`,
		fmt.Sprintf(`CREATE TABLE anchor_kafka (record String) ENGINE = Kafka('%s', '%s', '%s', 'TabSeparated', '
')`,
			strings.Join(en.ep.KafkaBrokers, ","), topic, group),
	} {
		if err := en.ch.Exec(ctx, q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	chBefore := procCPU(b, "clickhouse")
	start := time.Now()
	mv := anchorView
	if err := en.ch.Exec(ctx, mv); err != nil {
		b.Fatalf("%s: %v", mv, err)
	}
	en.waitCount(10*time.Minute, want, "SELECT count() FROM anchor_raw")
	el := time.Since(start)
	cpu := procCPU(b, "clickhouse") - chBefore
	for _, q := range []string{"DROP TABLE anchor_mv", "DROP TABLE anchor_kafka"} {
		if err := en.ch.Exec(ctx, q); err != nil {
			b.Errorf("%s: %v", q, err)
		}
	}
	// The anchor must have stored what the indexer stored: the same records, parsed the same way.
	if bad := en.count(`SELECT count() FROM anchor_raw a ANY LEFT JOIN (SELECT event_id, record AS r, hash AS h, seq AS s, time_us AS tu FROM events) e
		USING event_id WHERE a.record != e.r OR a.hash != e.h OR a.seq != e.s OR a.time_us != e.tu`); bad != 0 {
		b.Fatalf("%d anchor rows differ from the indexer's events rows", bad)
	}
	return el, cpu
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// BenchmarkEndToEndLag: events produced at PANGATE_BENCH_RATE events/s (default 10000) for
// PANGATE_BENCH_SECONDS (default 20) while the indexer runs. Every 100 ms the newest event visible in
// ClickHouse is compared with the wall clock (producer timestamp → queryable); reports p50/p99/max of that
// lag, and the p99 of mapped-at − produced-at from the rows themselves.
func BenchmarkEndToEndLag(b *testing.B) {
	en := newEnv(b)
	rate := envInt("PANGATE_BENCH_RATE", 10000)
	secs := envInt("PANGATE_BENCH_SECONDS", 20)
	recs := en.records(rate * secs)
	p := en.start("PANGATE_INDEXER_LOG_LEVEL=" + envStr("PANGATE_BENCH_LOG", "info"))
	defer p.stop(b)
	// Warm up: the group is joined and writing.
	en.produceRaw(en.records(100)[:100]...)
	en.waitCount(60*time.Second, 100, "SELECT count() FROM events")
	b.ResetTimer()
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		lags := make(chan []time.Duration)
		go func() {
			var out []time.Duration
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					lags <- out
					return
				case <-t.C:
				}
				var maxUS uint64
				qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
				err := en.ch.QueryRow(qctx, "SELECT max(kafka_time_us) FROM events WHERE kafka_time_us > ?", uint64(time.Now().Add(-time.Minute).UnixMicro())).Scan(&maxUS)
				qcancel()
				if err == nil && maxUS > 0 {
					out = append(out, time.Since(time.UnixMicro(int64(maxUS))))
				}
			}
		}()
		start := time.Now()
		tick := 10 * time.Millisecond
		per := rate / 100
		for i := 0; i < len(recs); i += per {
			due := start.Add(time.Duration(i/per) * tick)
			time.Sleep(time.Until(due))
			chunk := recs[i:min(i+per, len(recs))]
			for _, r := range chunk {
				r.Timestamp = time.Now()
			}
			en.produceRaw(chunk...)
		}
		sent := time.Since(start)
		en.waitCount(2*time.Minute, uint64(len(recs)+100), "SELECT count() FROM events")
		cancel()
		ls := <-lags
		sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
		q := func(f float64) time.Duration {
			if len(ls) == 0 {
				return 0
			}
			return ls[min(len(ls)-1, int(f*float64(len(ls))))]
		}
		var p99map float64
		_ = en.ch.QueryRow(context.Background(), "SELECT quantileExact(0.99)(toInt64(ingested_us) - toInt64(kafka_time_us)) / 1e6 FROM events").Scan(&p99map)
		achieved := float64(len(recs)) / sent.Seconds()
		b.ReportMetric(achieved, "events/s_produced")
		b.ReportMetric(q(0.50).Seconds(), "lag_p50_s")
		b.ReportMetric(q(0.99).Seconds(), "lag_p99_s")
		b.ReportMetric(ls[len(ls)-1].Seconds(), "lag_max_s")
		b.Logf("produced %d events at %.0f/s over %s; visible-lag samples %d: p50 %s p99 %s max %s; row mapped-at lag p99 %.3fs",
			len(recs), achieved, sent.Round(time.Millisecond), len(ls), q(0.5), q(0.99), ls[len(ls)-1], p99map)
	}
}

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// procCPU returns the user+system CPU time of a stack service (pid from .stack/run/<name>.pid).
func procCPU(tb testing.TB, name string) time.Duration {
	root, err := stack.ModuleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	pid, err := os.ReadFile(filepath.Join(root, ".stack", "run", name+".pid"))
	if err != nil {
		tb.Logf("no pid for %s: %v", name, err)
		return 0
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
	if err != nil {
		return 0
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)          // utime, field 14 overall
	st, _ := strconv.ParseInt(f[12], 10, 64)          // stime
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}
