package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the ingester's Prometheus metrics (namespace pangate_indexer).
type Metrics struct {
	Lag          *prometheus.GaugeVec   // consumer lag per topic and partition: end offset − committed offset
	Consumed     *prometheus.CounterVec // records consumed per topic
	Rows         *prometheus.CounterVec // rows inserted per table
	DeadLetters  *prometheus.CounterVec // dead letters per stage
	BatchSeconds prometheus.Histogram   // time to write one batch (all tables, retries included)
	EndToEnd     prometheus.Histogram   // Kafka record timestamp → row committed in ClickHouse
	WriteErrors  prometheus.Counter     // failed ClickHouse writes (each is retried)
	ClickHouseUp prometheus.Gauge       // 1 after a successful write, 0 after a failed one
	LastCommit   prometheus.Gauge       // unix time of the last offset commit
	BatchRecords prometheus.Histogram   // records per batch
}

// NewMetrics creates the metrics and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "pangate", "indexer"
	m := &Metrics{
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "consumer_lag",
			Help: "Records not yet committed by the indexer's consumer group, per topic and partition."}, []string{"topic", "partition"}),
		Consumed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "records_consumed_total",
			Help: "Kafka records consumed."}, []string{"topic"}),
		Rows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rows_inserted_total",
			Help: "Rows inserted into ClickHouse per table (replays after a crash count again)."}, []string{"table"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dead_letters_total",
			Help: "Records written to dead_letters, per stage that refused them."}, []string{"stage"}),
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "batch_write_seconds",
			Help: "Time to write one batch to ClickHouse, retries included.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		EndToEnd: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "end_to_end_seconds",
			Help: "Kafka record timestamp to rows written in ClickHouse.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
		WriteErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "clickhouse_write_errors_total",
			Help: "Failed ClickHouse writes; each is retried with backoff until it succeeds."}),
		ClickHouseUp: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "clickhouse_up",
			Help: "1 if the last ClickHouse write succeeded, 0 if it failed."}),
		LastCommit: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "last_commit_timestamp_seconds",
			Help: "Unix time of the last Kafka offset commit."}),
		BatchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "batch_records",
			Help: "Records per written batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
	}
	if reg != nil {
		reg.MustRegister(m.Lag, m.Consumed, m.Rows, m.DeadLetters, m.BatchSeconds, m.EndToEnd, m.WriteErrors,
			m.ClickHouseUp, m.LastCommit, m.BatchRecords)
	}
	return m
}
