package proxy

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	sessions   prometheus.Gauge
	sessionsT  *prometheus.CounterVec
	statements *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	refusals   *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	unauth     prometheus.Gauge
	cancels    *prometheus.CounterVec
}

type cacheStats interface{ Stats() (hits, misses uint64) }

func newMetrics(reg prometheus.Registerer, cl Classifier) (*metrics, error) {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pangate_gateway_sessions", Help: "Client sessions open now."}),
		sessionsT: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pangate_gateway_sessions_total",
			Help: "Sessions ended, by reason."}, []string{"reason"}),
		statements: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pangate_gateway_statements_total",
			Help: "Statements handled, by kind and outcome."}, []string{"kind", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pangate_gateway_statement_seconds",
			Help: "Time from a statement's arrival to its completion, by protocol.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"protocol"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pangate_gateway_refusals_total",
			Help: "Logins, connections and statements refused, by reason."}, []string{"reason"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pangate_gateway_bytes_total",
			Help: "Bytes relayed, by direction."}, []string{"direction"}),
		unauth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pangate_gateway_unauthenticated_connections",
			Help: "Client connections waiting to authenticate now (limit limits.max_unauthenticated)."}),
		cancels: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pangate_gateway_cancel_requests_total",
			Help: "CancelRequests received, by outcome: forwarded, or dropped by limits.cancel_rate."}, []string{"outcome"}),
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.sessions, m.sessionsT, m.statements, m.latency, m.refusals, m.bytes, m.unauth, m.cancels}
	if st, ok := cl.(cacheStats); ok {
		cs = append(cs,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pangate_gateway_classify_cache_hits_total", Help: "Classification cache hits."},
				func() float64 { h, _ := st.Stats(); return float64(h) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pangate_gateway_classify_cache_misses_total", Help: "Classification cache misses."},
				func() float64 { _, mi := st.Stats(); return float64(mi) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
