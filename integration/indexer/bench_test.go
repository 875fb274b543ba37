package indexer_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

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
// time from starting the indexer binary until every event is in ClickHouse. Run with -benchtime=1x.
func BenchmarkIngestThroughput(b *testing.B) {
	en := newEnv(b)
	n := envInt("PANGATE_BENCH_EVENTS", 200000)
	recs := en.records(n)
	for i := 0; i < len(recs); i += 20000 {
		en.produceRaw(recs[i:min(i+20000, len(recs))]...)
	}
	total := uint64(len(recs))
	b.ResetTimer()
	for b.Loop() {
		chBefore := procCPU(b, "clickhouse")
		start := time.Now()
		p := en.start("GOGC="+envStr("PANGATE_BENCH_GOGC", "100"), "PANGATE_INDEXER_BATCH_SIZE=100000", "PANGATE_INDEXER_FLUSH_INTERVAL=1s", "PANGATE_INDEXER_LOG_LEVEL="+envStr("PANGATE_BENCH_LOG", "info"))
		en.waitCount(10*time.Minute, total, "SELECT count() FROM events")
		el := time.Since(start)
		p.stop(b)
		chCPU := procCPU(b, "clickhouse") - chBefore
		ixCPU := p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
		perEvent := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(total) }
		b.ReportMetric(perEvent(ixCPU), "indexer_cpu_us/event")
		b.ReportMetric(perEvent(chCPU), "clickhouse_cpu_us/event")
		b.ReportMetric(2e6/(perEvent(ixCPU)+perEvent(chCPU)), "events/s_on_2_idle_cores")
		b.Logf("CPU: indexer %s (%.1f µs/event), ClickHouse %s (%.1f µs/event); 2 idle cores would allow about %.0f events/s",
			ixCPU.Round(time.Millisecond), perEvent(ixCPU), chCPU.Round(time.Millisecond), perEvent(chCPU), 2e6/(perEvent(ixCPU)+perEvent(chCPU)))
		b.ReportMetric(float64(total)/el.Seconds(), "events/s")
		b.ReportMetric(el.Seconds(), "s_total")
		b.Logf("%d events (%d rows in all tables) in %s: %.0f events/s", total,
			en.count("SELECT sum(rows) FROM system.parts WHERE database = currentDatabase() AND active"), el.Round(time.Millisecond), float64(total)/el.Seconds())
	}
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
