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
	// ErrIndeterminate is kept for callers that end a session on it; Emit no longer returns it (see Session).
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
	if c.AckTimeout > 0 && c.AckTimeout < time.Second {
		return fmt.Errorf("audit: ack timeout %s is below the Kafka client's minimum record timeout of 1s", c.AckTimeout)
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
		// Events are small JSON records written one or two at a time: compression costs CPU on both sides
		// (the broker decompresses batches to validate them) and saves little.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
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

// send encodes and produces e; the returned channel yields its fate once kgo knows it.
func (p *Producer) send(e schemas.Event) (chan error, error) {
	v, err := schemas.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("audit: encode %s: %w", e.Type, err)
	}
	done := make(chan error, 1)
	// The produce context is never cancelled by the caller: kgo fails a record only when that is safe for
	// the idempotent sequence, and the caller must learn the record's fate.
	p.cl.Produce(context.Background(), &kgo.Record{Key: []byte(e.Session), Value: v}, func(_ *kgo.Record, err error) {
		done <- err
	})
	return done, nil
}

// hardTimeout is how long a caller waits for a record's fate before giving up on it for now.
func (p *Producer) hardTimeout() time.Duration { return p.cfg.AckTimeout + time.Second }

// await waits for a produced record; resolved is false if its fate is still unknown after the hard
// timeout.
func (p *Producer) await(e schemas.Event, done chan error, start time.Time) (resolved bool, err error) {
	hard := time.NewTimer(p.hardTimeout())
	defer hard.Stop()
	select {
	case err := <-done:
		if err != nil {
			p.unhealthy.Store(true)
			p.failures.WithLabelValues("unavailable").Inc()
			return true, fmt.Errorf("%w (%s, session %s, seq %d): %v", ErrUnavailable, e.Type, e.Session, e.Seq, err)
		}
		p.unhealthy.Store(false)
		p.ackLatency.Observe(time.Since(start).Seconds())
		return true, nil
	case <-hard.C:
		p.unhealthy.Store(true)
		p.failures.WithLabelValues("pending").Inc()
		return false, fmt.Errorf("%w (%s, session %s, seq %d): no acknowledgement after %s", ErrUnavailable, e.Type, e.Session, e.Seq, p.hardTimeout())
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
//
// An event whose fate stays unknown past the hard timeout (kgo may neither deliver nor safely fail a record
// that was sent to a broker that then went away) is kept "in limbo": Emit reports ErrUnavailable (the caller
// refuses what it records) and the chain does not move. The next Emit first waits for that record: if Kafka
// failed it, nothing was written and the chain goes on from the same place; if Kafka eventually wrote it,
// the chain moves past it and its note (say, query.blocked: the statement was not run after all) is written
// next, so the log tells the truth. kgo keeps a partition's records in order and fails all buffered ones
// together, so a later record cannot land after a failed earlier one.
type Session struct {
	p       *Producer
	mu      sync.Mutex
	chain   *schemas.Chain
	tracked bool // whether checkpoints list this session
	broken  error
	limbo   *limbo
}

type limbo struct {
	e     schemas.Event
	done  chan error
	start time.Time
	note  *Note
}

// Note says what to do if an event, reported unavailable, later turns out written: Landed (if set) is
// called with it, then the event Type/Data (if Type is set) is written next.
type Note struct {
	Type   string
	Data   any
	Landed func(schemas.Event)
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
// nothing the caller can rely on was written: refuse what the event records.
func (s *Session) Emit(typ string, data any) (schemas.Event, error) {
	return s.emit(typ, data, false, nil)
}

// EmitNoted is Emit with a note to write if the event, reported unavailable, is later found written.
func (s *Session) EmitNoted(typ string, data any, note *Note) (schemas.Event, error) {
	return s.emit(typ, data, false, note)
}

// End writes the session's last event (session.ended): checkpoints mark its head ended.
func (s *Session) End(typ string, data any) (schemas.Event, error) {
	return s.emit(typ, data, true, nil)
}

func (s *Session) emit(typ string, data any, ended bool, note *Note) (schemas.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return schemas.Event{}, s.broken
	}
	if err := s.settleLimbo(); err != nil {
		return schemas.Event{}, err
	}
	e, err := s.chain.Peek(typ, data)
	if err != nil {
		return schemas.Event{}, err
	}
	start := time.Now()
	done, err := s.p.send(e)
	if err != nil {
		return schemas.Event{}, err
	}
	resolved, err := s.p.await(e, done, start)
	if !resolved {
		s.limbo = &limbo{e: e, done: done, start: start, note: note}
		return schemas.Event{}, err
	}
	if err != nil {
		return schemas.Event{}, err
	}
	s.commit(e, ended)
	return e, nil
}

// settleLimbo waits for the event in limbo, if any. It returns ErrUnavailable while its fate is unknown.
func (s *Session) settleLimbo() error {
	l := s.limbo
	if l == nil {
		return nil
	}
	resolved, err := s.p.await(l.e, l.done, l.start)
	if !resolved {
		return err
	}
	s.limbo = nil
	if err != nil {
		return nil // definitely not written: the chain goes on from the same place
	}
	s.commit(l.e, false)
	if l.note != nil && l.note.Landed != nil {
		l.note.Landed(l.e)
	}
	if l.note == nil || l.note.Type == "" {
		return nil
	}
	e, err := s.chain.Peek(l.note.Type, l.note.Data)
	if err != nil {
		return err
	}
	start := time.Now()
	done, err := s.p.send(e)
	if err != nil {
		return err
	}
	resolved, err = s.p.await(e, done, start)
	if !resolved {
		s.limbo = &limbo{e: e, done: done, start: start}
		return err
	}
	if err != nil {
		return err
	}
	s.commit(e, false)
	return nil
}

func (s *Session) commit(e schemas.Event, ended bool) {
	s.chain.Commit(e)
	if s.tracked {
		s.p.noteHead(schemas.SessionHead{Session: e.Session, Seq: e.Seq, Hash: e.Hash, Ended: ended})
	}
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
