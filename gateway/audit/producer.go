package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/schemas"
)

var (
	// ErrUnavailable means Kafka did not acknowledge the event and it was not written: the chain did not
	// move, the caller refuses what the event would have recorded and may try again later.
	ErrUnavailable = errors.New("audit: Kafka did not acknowledge the event")
	// ErrIndeterminate means the event may or may not have been written: the session must end.
	ErrIndeterminate = errors.New("audit: event delivery is indeterminate")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("audit: producer closed")
)

// Config configures a Producer.
type Config struct {
	// Brokers are the bootstrap host:port addresses.
	Brokers []string
	// Topic is the audit topic (schemas.TopicAudit, possibly prefixed).
	Topic string
	// AckTimeout is how long an event may wait for its acknowledgement before it is refused (default 5s).
	AckTimeout time.Duration
	// Linger is the producer linger (default 0).
	Linger time.Duration
}

// Validate checks c.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("audit: no Kafka brokers configured")
	}
	if c.Topic == "" {
		return errors.New("audit: no topic configured")
	}
	if c.AckTimeout < 0 || c.Linger < 0 {
		return errors.New("audit: negative ack timeout or linger")
	}
	return nil
}

// Producer writes events to the audit topic. Safe for concurrent use.
type Producer struct {
	cfg Config
	cl  *kgo.Client

	mu    sync.Mutex
	heads map[string]schemas.SessionHead // sessions advanced since the last TakeHeads

	unhealthy atomic.Bool // the last event was not acknowledged

	ackLatency prometheus.Histogram
	failures   *prometheus.CounterVec
}

// New connects a Producer. extra options are appended (tests may pass kgo options); they must not turn off
// idempotency or acks=all.
func New(cfg Config, reg prometheus.Registerer, extra ...kgo.Opt) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotency is on by default and requires acks=all
		kgo.ProducerLinger(cfg.Linger),
		// A record is failed (only when that is safe for the idempotent sequence) once it waited this long:
		// the statement it records is then refused.
		kgo.RecordDeliveryTimeout(cfg.AckTimeout),
		kgo.ProduceRequestTimeout(cfg.AckTimeout),
		kgo.DialTimeout(time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.UnknownTopicRetries(2),
	}
	opts = append(opts, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("audit: Kafka client: %w", err)
	}
	p := &Producer{
		cfg: cfg, cl: cl, heads: map[string]schemas.SessionHead{},
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pangate_gateway_audit_ack_seconds", Help: "Time from producing an audit event to its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pangate_gateway_audit_failures_total", Help: "Audit events not acknowledged, by kind (unavailable, indeterminate).",
		}, []string{"kind"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{p.ackLatency, p.failures} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					cl.Close()
					return nil, err
				}
			}
		}
	}
	return p, nil
}

// Healthy reports whether the last event was acknowledged. While it is not, the gateway records every
// statement before forwarding it, reads included, so that nothing runs unrecorded during an outage.
func (p *Producer) Healthy() bool { return !p.unhealthy.Load() }

// Client returns the underlying client (for readiness checks and topic setup).
func (p *Producer) Client() *kgo.Client { return p.cl }

// Topic returns the audit topic.
func (p *Producer) Topic() string { return p.cfg.Topic }

// Ping checks that a broker answers.
func (p *Producer) Ping(ctx context.Context) error { return p.cl.Ping(ctx) }

// Close flushes what is buffered (bounded by ctx) and closes the client.
func (p *Producer) Close(ctx context.Context) {
	_ = p.cl.Flush(ctx)
	p.cl.Close()
}

// publish writes e and waits for its acknowledgement.
func (p *Producer) publish(e schemas.Event) error {
	v, err := schemas.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: encode %s: %w", e.Type, err)
	}
	start := time.Now()
	done := make(chan error, 1)
	// The produce context is never cancelled by the caller: kgo would only fail the record when safe anyway,
	// and the caller must learn the record's fate.
	p.cl.Produce(context.Background(), &kgo.Record{Key: []byte(e.Session), Value: v}, func(_ *kgo.Record, err error) {
		done <- err
	})
	hard := time.NewTimer(2*p.cfg.AckTimeout + time.Second)
	defer hard.Stop()
	select {
	case err := <-done:
		if err != nil {
			p.unhealthy.Store(true)
			p.failures.WithLabelValues("unavailable").Inc()
			return fmt.Errorf("%w (%s, session %s, seq %d): %v", ErrUnavailable, e.Type, e.Session, e.Seq, err)
		}
		p.unhealthy.Store(false)
		p.ackLatency.Observe(time.Since(start).Seconds())
		return nil
	case <-hard.C:
		p.unhealthy.Store(true)
		p.failures.WithLabelValues("indeterminate").Inc()
		return fmt.Errorf("%w (%s, session %s, seq %d): no acknowledgement or failure after %s", ErrIndeterminate, e.Type, e.Session, e.Seq, 2*p.cfg.AckTimeout+time.Second)
	}
}

func (p *Producer) noteHead(h schemas.SessionHead) {
	p.mu.Lock()
	p.heads[h.Session] = h
	p.mu.Unlock()
}

// TakeHeads returns the heads of the sessions that advanced since the previous call and forgets them.
func (p *Producer) TakeHeads() map[string]schemas.SessionHead {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.heads
	p.heads = map[string]schemas.SessionHead{}
	return h
}

// Session is the event stream of one session (or of the gateway run). Safe for concurrent use: events are
// serialised in call order.
type Session struct {
	p       *Producer
	mu      sync.Mutex
	chain   *schemas.Chain
	tracked bool // whether checkpoints list this session
	broken  error
}

// Session starts the chain of a new session id. Checkpoints list its heads.
func (p *Producer) Session(id string, source schemas.Source) *Session {
	return &Session{p: p, chain: schemas.NewChain(id, source), tracked: true}
}

// Run starts the chain of the gateway run; checkpoints, written on it, do not list it.
func (p *Producer) Run(id string, source schemas.Source) *Session {
	return &Session{p: p, chain: schemas.NewChain(id, source)}
}

// ID returns the session id.
func (s *Session) ID() string { return s.chain.Session() }

// Emit writes the next event of the session and returns it once Kafka acknowledged it. On ErrUnavailable
// the chain is unchanged; after ErrIndeterminate every later Emit fails with it too.
func (s *Session) Emit(typ string, data any) (schemas.Event, error) {
	return s.emit(typ, data, false)
}

// End writes the session's last event (session.ended): checkpoints mark its head ended.
func (s *Session) End(typ string, data any) (schemas.Event, error) {
	return s.emit(typ, data, true)
}

func (s *Session) emit(typ string, data any, ended bool) (schemas.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return schemas.Event{}, s.broken
	}
	e, err := s.chain.Peek(typ, data)
	if err != nil {
		return schemas.Event{}, err
	}
	if err := s.p.publish(e); err != nil {
		if errors.Is(err, ErrIndeterminate) {
			s.broken = err
		}
		return schemas.Event{}, err
	}
	s.chain.Commit(e)
	if s.tracked {
		s.p.noteHead(schemas.SessionHead{Session: e.Session, Seq: e.Seq, Hash: e.Hash, Ended: ended})
	}
	return e, nil
}

// Head returns the seq and hash of the newest acknowledged event (ok false before the first).
func (s *Session) Head() (seq uint64, hash string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, prev := s.chain.Head()
	if next == 0 {
		return 0, "", false
	}
	return next - 1, prev, true
}
