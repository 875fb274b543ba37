package proxy

import (
	"errors"
	"sync"

	"github.com/pangate/pangate/gateway/classify"
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

	// Children of the per-statement vectors, resolved once and kept: WithLabelValues hashes the label
	// values and locks the vector on every call, several times per statement on the hot path.
	stmtC    sync.Map // stmtLabels → prometheus.Counter
	simpleL  prometheus.Observer
	extended prometheus.Observer
}

type stmtLabels struct {
	kind    classify.Kind
	outcome string
}

// statement counts one statement of kind with outcome (pangate_gateway_statements_total). Both labels
// come from bounded sets (classify's kinds, the proxy's outcome constants), so the kept children are few.
func (m *metrics) statement(kind classify.Kind, outcome string) {
	k := stmtLabels{kind, outcome}
	if c, ok := m.stmtC.Load(k); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c := m.statements.WithLabelValues(string(kind), outcome)
	m.stmtC.Store(k, c)
	c.Inc()
}

// observeLatency records a statement's time from arrival to completion (pangate_gateway_statement_seconds).
func (m *metrics) observeLatency(protocol string, seconds float64) {
	switch protocol {
	case "simple":
		m.simpleL.Observe(seconds)
	case "extended":
		m.extended.Observe(seconds)
	default:
		m.latency.WithLabelValues(protocol).Observe(seconds)
	}
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
	m.simpleL = m.latency.WithLabelValues("simple")
	m.extended = m.latency.WithLabelValues("extended")
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
