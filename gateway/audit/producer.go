package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/schemas"
)

var (
	// ErrUnavailable means Kafka did not acknowledge the event: the chain did not move, the caller refuses
	// what the event would have recorded and may try again later. The event stays first in line and is
	// written (with its note) before anything else of the session if Kafka takes it after all (see Session).
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
	// Linger is the producer linger (default 0). It applies only with Batching "client", which a Linger
	// above 0 selects when Batching is empty.
	Linger time.Duration
	// Batching says how events of concurrent sessions share produce requests (docs/scaling.md, "Group commit"):
	//   - "group" (default): group commit. One goroutine hands franz-go everything pending and flushes it
	//     as one produce request per broker, waits for that round trip, then sends what queued meanwhile.
	//     Requests per second are bounded by the round trip, not by the statement rate.
	//   - "client": every event is handed to franz-go as it comes; franz-go keeps up to five requests in
	//     flight per broker (idempotent producer) and batches only what queued behind them (plus Linger).
	Batching string
}

// Batching modes (Config.Batching).
const (
	BatchGroup  = "group"
	BatchClient = "client"
)

// Validate checks c.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("audit: no Kafka brokers configured")
	}
	if c.Topic == "" {
		return errors.New("audit: no topic configured")
	}
	switch c.Batching {
	case "", BatchGroup, BatchClient:
	default:
		return fmt.Errorf("audit: batching %q: use %q or %q", c.Batching, BatchGroup, BatchClient)
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
	cfg   Config
	extra []kgo.Opt   // New's extra options (TLS, SASL, tests), reused by ReadSession's consumer
	cl    *kgo.Client // audit records (manual flushing under group commit)
	aux   *kgo.Client // Client(): other producers and admin calls, flushing on their own
	gc    *groupCommit

	mu    sync.Mutex
	heads map[string]schemas.SessionHead // sessions advanced since the last TakeHeads

	unhealthy atomic.Bool            // the last event was not acknowledged
	runID     atomic.Pointer[string] // the run chain's id (Run), stamped into session.started

	// Sessions whose end Kafka could not take keep trying in the background until Close (Session.End).
	quit     chan struct{}
	quitOnce sync.Once
	bg       sync.WaitGroup
	ending   sync.Map // session id → struct{}: its end is being retried in the background

	ackLatency prometheus.Histogram
	batchSize  prometheus.Histogram
	failures   *prometheus.CounterVec

	// ackFault, in tests, replaces what kgo reported for a record (an acknowledged record reported
	// failed: the answer lost).
	ackFault func(error) error
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
	if cfg.Batching == "" {
		// kafka.linger > 0 keeps its old meaning: franz-go's own batching with that linger.
		cfg.Batching = BatchGroup
		if cfg.Linger > 0 {
			cfg.Batching = BatchClient
		}
	}
	auditOpts := opts
	if cfg.Batching == BatchGroup {
		// The group committer decides when records leave: everything pending, once per round trip.
		auditOpts = append(append([]kgo.Opt{}, opts...), kgo.ManualFlushing())
	}
	cl, err := kgo.NewClient(auditOpts...)
	if err != nil {
		return nil, fmt.Errorf("audit: Kafka client: %w", err)
	}
	aux := cl
	if cfg.Batching == BatchGroup {
		// Client() users (the approvals holder's ProduceSync) expect records to leave on their own.
		if aux, err = kgo.NewClient(opts...); err != nil {
			cl.Close()
			return nil, fmt.Errorf("audit: Kafka client: %w", err)
		}
	}
	p := &Producer{
		cfg: cfg, extra: extra, cl: cl, aux: aux, heads: map[string]schemas.SessionHead{}, quit: make(chan struct{}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pangate_gateway_audit_ack_seconds", Help: "Time from producing an audit event to its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pangate_gateway_audit_batch_records", Help: "Audit records sent per group-commit flush (one produce request per broker).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pangate_gateway_audit_failures_total", Help: "Audit events not acknowledged, by kind (unavailable, indeterminate).",
		}, []string{"kind"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{p.ackLatency, p.batchSize, p.failures} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					p.closeClients()
					return nil, err
				}
			}
		}
	}
	if cfg.Batching == BatchGroup {
		p.gc = newGroupCommit(cl, p.hardTimeout())
		p.gc.onBatch = func(n int) { p.batchSize.Observe(float64(n)) }
		go p.gc.run()
	}
	return p, nil
}

func (p *Producer) closeClients() {
	if p.aux != p.cl {
		p.aux.Close()
	}
	p.cl.Close()
}

// Healthy reports whether the last event was acknowledged. While it is not, the gateway records every
// statement before forwarding it, reads included, so that nothing runs unrecorded during an outage.
func (p *Producer) Healthy() bool { return !p.unhealthy.Load() }

// Client returns a client on the same brokers for readiness checks, topic setup and other producers (it
// flushes on its own; audit events go through Session).
func (p *Producer) Client() *kgo.Client { return p.aux }

// Topic returns the audit topic.
func (p *Producer) Topic() string { return p.cfg.Topic }

// Ping checks that a broker answers.
func (p *Producer) Ping(ctx context.Context) error { return p.cl.Ping(ctx) }

// Close flushes what is buffered (bounded by ctx) and closes the clients.
func (p *Producer) Close(ctx context.Context) {
	p.quitOnce.Do(func() { close(p.quit) })
	bgDone := make(chan struct{})
	go func() { p.bg.Wait(); close(bgDone) }()
	select {
	case <-bgDone:
	case <-ctx.Done():
	}
	if p.gc != nil {
		p.gc.stop(ctx)
	}
	_ = p.cl.Flush(ctx)
	if p.aux != p.cl {
		_ = p.aux.Flush(ctx)
	}
	p.closeClients()
}

// sendRecord produces one encoded event keyed by its session.
func (p *Producer) sendRecord(session string, value []byte) (chan error, error) {
	rec := &kgo.Record{Key: []byte(session), Value: value}
	if p.gc != nil {
		return p.gc.enqueue(rec)
	}
	done := make(chan error, 1)
	// The produce context is never cancelled by the caller: kgo fails a record only when that is safe for
	// the idempotent sequence, and the caller must learn the record's fate.
	p.cl.Produce(context.Background(), rec, func(_ *kgo.Record, err error) { done <- err })
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
		if p.ackFault != nil {
			err = p.ackFault(err)
		}
		if err != nil {
			p.unhealthy.Store(true)
			p.failures.WithLabelValues("unavailable").Inc()
			return true, fmt.Errorf("%w (%s, session %s, seq %d): %w", ErrUnavailable, e.Type, e.Session, e.Seq, err)
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
// An event Kafka did not acknowledge is kept "in limbo": Emit reports ErrUnavailable (the caller refuses what
// it records) and the chain does not move. Whether it was written is not known: kgo may neither deliver nor
// safely fail a record sent to a broker that then went away, and a record kgo failed with a retriable error
// may still be in the leader's log from an earlier attempt whose answer was lost, to be committed once the
// replicas return (seen on the three-broker profile with two brokers killed: integration/kafkacluster). So
// a seq, once given to an event, is never given to another: the next Emit first settles the event in limbo,
// waiting for it or sending the very same record again (same id, same bytes) until Kafka acknowledges it,
// then writes its note (say, query.blocked: the statement was not run after all), so the log tells the
// truth and the chain never forks. A resent record may be in the log twice; readers keep one per event id
// (docs/invariants.md, invariant 6). Only a first attempt refused with a non-retriable error (a record too
// large, say) is known not written; the chain then goes on from the same place.
//
// A session has at most one event queued or in flight: an event is sent only after the previous one was
// acknowledged (or definitely failed, or put in limbo), so events are acknowledged in seq order and the
// chain advances only on an acknowledgement, also with EmitAsync.
type Session struct {
	p       *Producer
	mu      sync.Mutex
	chain   *schemas.Chain
	tracked bool // whether checkpoints list this session
	broken  error
	limbo   *limbo
	pending *Pending // sent by EmitAsync, not yet settled
	ended   bool     // the session's end event was acknowledged
}

type limbo struct {
	e     schemas.Event
	v     []byte     // the record as sent: a retry sends these very bytes
	done  chan error // the attempt in flight; nil: the last attempt failed, send v again
	start time.Time
	note  *Note
	ended bool
	a     *Pending // the EmitAsync handle of the event, if any: told when it lands
}

// Pending is an event sent by EmitAsync whose acknowledgement has not been awaited yet.
type Pending struct {
	s       *Session
	e       schemas.Event
	v       []byte
	done    chan error
	start   time.Time
	ended   bool
	note    *Note
	settled bool
	waited  bool
	// landed: acknowledged, maybe after Wait reported it unavailable. Atomic because Landed is called
	// from an EmitBuilt build function, which runs with the session's lock held.
	landed atomic.Bool
	err    error
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

// Run starts the chain of the gateway run; checkpoints, written on it, do not list it. Its id is the run
// id: a new one per process start, named by every checkpoint of the run (Checkpoint.Run) and stamped into
// the session.started of every session the producer writes afterwards (SessionStarted.Run), so the
// integrity report knows which run's checkpoints must list a session and can tell a crashed run's
// unconfirmed sessions from forged ones.
func (p *Producer) Run(id string, source schemas.Source) *Session {
	p.runID.Store(&id)
	return &Session{p: p, chain: schemas.NewChain(id, source)}
}

// RunID returns the id of the run chain (empty before Run).
func (p *Producer) RunID() string {
	if id := p.runID.Load(); id != nil {
		return *id
	}
	return ""
}

// ID returns the session id.
func (s *Session) ID() string { return s.chain.Session() }

// Emit writes the next event of the session and returns it once Kafka acknowledged it. On ErrUnavailable
// nothing the caller can rely on was written: refuse what the event records (the event, if Kafka takes it
// later, is followed by its note: EmitNoted).
func (s *Session) Emit(typ string, data any) (schemas.Event, error) {
	return s.emit(typ, data, false, nil)
}

// EmitNoted is Emit with a note to write if the event, reported unavailable, is later found written.
func (s *Session) EmitNoted(typ string, data any, note *Note) (schemas.Event, error) {
	return s.emit(typ, data, false, note)
}

// End writes the session's last event (session.ended): checkpoints mark its head ended.
//
// If Kafka cannot take it now (an event of the session still in limbo, or the end event itself refused),
// End returns ErrUnavailable and keeps trying in the background, once a second until Kafka answers or the
// producer closes: the event in limbo is settled first (its note written if it landed after all), then the
// end event. So a session that ended during an outage still gets its correcting note and its end (issue
// 14: "a statement refused during an outage got no correcting note when its session ended before Kafka
// returned").
func (s *Session) End(typ string, data any) (schemas.Event, error) {
	e, err := s.emit(typ, data, true, nil)
	if err != nil && errors.Is(err, ErrUnavailable) {
		s.endLater(typ, data)
	}
	return e, err
}

// EndIfBegun is End for a session that stops because an event was not acknowledged: it ends the chain
// only if one may exist, that is if an event was acknowledged or one's fate is unknown (in limbo: it may be
// in the log already, or land from a retry). A session whose only attempts were refused for good has no
// chain, and nothing is written (ok false). The gateway calls it when auth.succeeded, the first event of a
// client session, was not acknowledged: that event can still land, and a chain without session.ended
// would look cut by a crash (integration/kafkacluster found one).
func (s *Session) EndIfBegun(typ string, data any) (e schemas.Event, ok bool, err error) {
	s.mu.Lock()
	next, _ := s.chain.Head()
	begun := next > 0 || s.limbo != nil || s.pending != nil
	s.mu.Unlock()
	if !begun {
		return schemas.Event{}, false, nil
	}
	e, err = s.End(typ, data)
	return e, true, err
}

// endRetry is how often a session's end is retried in the background.
var endRetry = time.Second

func (s *Session) endLater(typ string, data any) {
	p := s.p
	p.bg.Add(1)
	p.ending.Store(s.ID(), struct{}{})
	go func() {
		defer p.bg.Done()
		defer p.ending.Delete(s.ID())
		t := time.NewTicker(endRetry)
		defer t.Stop()
		for last := false; !last; {
			// Close asks for one last attempt (bounded by its context), so a gateway stopped soon after an
			// outage still ends the sessions that ended during it.
			select {
			case <-p.quit:
				last = true
			case <-t.C:
			}
			s.mu.Lock()
			err := s.ready()
			if err == nil && !s.ended {
				var a *Pending
				if a, err = s.start(typ, data, true, nil); err == nil {
					s.settlePending()
					err = a.err
				}
			}
			s.mu.Unlock()
			if err == nil || !errors.Is(err, ErrUnavailable) {
				return // written (or the end landed from limbo), or failing for good (producer closed)
			}
		}
	}()
}

// EmitAsync sends the next event of the session and returns without waiting for Kafka (for pipelined
// reads). Contract:
//
//   - Wait returns what Emit would have returned: the event once acknowledged, or ErrUnavailable (nothing
//     the caller can rely on was written). It may be called any number of times, from any goroutine.
//   - The session's next Emit, EmitAsync or End first waits for this event; the chain (and checkpoints)
//     move past it only once it is acknowledged. If it failed and Wait was not called yet, that next call
//     returns its error without sending anything, so a failure cannot go unnoticed.
//   - So a session never has more than one unacknowledged event; whatever the event records that has not
//     happened yet (a result not yet released, the next statement) must wait for Wait.
//
// An error here (session broken, the event in limbo still unsettled, encoding) means nothing was sent.
func (s *Session) EmitAsync(typ string, data any) (*Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(); err != nil {
		return nil, err
	}
	return s.start(typ, data, false, nil)
}

// Wait blocks until the event is acknowledged or refused (see EmitAsync).
func (a *Pending) Wait() (schemas.Event, error) {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !a.settled {
		s.settlePending()
	}
	a.waited = true
	if a.err != nil {
		return schemas.Event{}, a.err
	}
	return a.e, nil
}

// Event returns the event as sent (its seq and hash), acknowledged or not.
func (a *Pending) Event() schemas.Event { return a.e }

// Landed reports whether Kafka acknowledged the event, also after Wait reported it unavailable (it was
// settled from limbo by a later call of the session). It takes no lock: an EmitBuilt build function, which
// runs with the session's lock held, may call it.
func (a *Pending) Landed() bool { return a.landed.Load() }

func (s *Session) emit(typ string, data any, ended bool, note *Note) (schemas.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(); err != nil {
		return schemas.Event{}, err
	}
	if ended && s.ended {
		// A background retry (End) wrote it meanwhile.
		return schemas.Event{}, fmt.Errorf("audit: session %s has already ended", s.ID())
	}
	a, err := s.start(typ, data, ended, note)
	if err != nil {
		return schemas.Event{}, err
	}
	s.settlePending()
	a.waited = true
	if a.err != nil {
		return schemas.Event{}, a.err
	}
	return a.e, nil
}

// ErrSkipped is returned by EmitBuilt when build decided, once the previous event settled, that there is
// nothing to write.
var ErrSkipped = errors.New("audit: nothing to write")

// EmitBuilt is Emit with the data built by build once the previous event settled (an event in limbo
// landed or failed, its note written): build may look at what that settling changed, or return
// ErrSkipped to write nothing — for instance a retry of an event that turned out written after all.
func (s *Session) EmitBuilt(typ string, build func() (any, error)) (schemas.Event, error) {
	return s.emitBuilt(typ, func() (any, *Note, error) {
		data, err := build()
		return data, nil, err
	})
}

// emitBuilt is Emit with data (and note) built by build once the previous event settled, so the data can
// depend on what that settling changed (the checkpoint numbering).
func (s *Session) emitBuilt(typ string, build func() (any, *Note, error)) (schemas.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(); err != nil {
		return schemas.Event{}, err
	}
	data, note, err := build()
	if err != nil {
		return schemas.Event{}, err
	}
	a, err := s.start(typ, data, false, note)
	if err != nil {
		return schemas.Event{}, err
	}
	s.settlePending()
	a.waited = true
	if a.err != nil {
		return schemas.Event{}, a.err
	}
	return a.e, nil
}

// ready settles what the previous event left (a pending EmitAsync, an event in limbo) before the next one.
func (s *Session) ready() error {
	if s.broken != nil {
		return s.broken
	}
	if a := s.pending; a != nil {
		s.settlePending()
		if a.err != nil && !a.waited {
			a.waited = true
			return fmt.Errorf("previous event (%s seq %d) was not acknowledged: %w", a.e.Type, a.e.Seq, a.err)
		}
	}
	return s.settleLimbo()
}

// start builds and sends the next event; s.pending holds it until settlePending.
func (s *Session) start(typ string, data any, ended bool, note *Note) (*Pending, error) {
	if ss, ok := data.(schemas.SessionStarted); ok && ss.Run == "" && s.tracked {
		ss.Run = s.p.RunID()
		data = ss
	}
	e, v, err := s.chain.PeekRecord(typ, data)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	done, err := s.p.sendRecord(e.Session, v)
	if err != nil {
		return nil, err
	}
	a := &Pending{s: s, e: e, v: v, done: done, start: start, ended: ended, note: note}
	s.pending = a
	return a, nil
}

// settlePending waits for the pending event: acknowledged (the chain moves), refused for good on its first
// attempt (it does not), or anything else (limbo: its fate is unknown, it is sent again until acknowledged).
func (s *Session) settlePending() {
	a := s.pending
	if a == nil {
		return
	}
	s.pending = nil
	a.settled = true
	resolved, err := s.p.await(a.e, a.done, a.start)
	a.err = err
	switch {
	case err == nil:
		s.commit(a.e, a.ended)
		a.landed.Store(true)
	case resolved && notWritten(err):
		// Refused for good on its only attempt: not written; the chain goes on from the same place.
	default:
		l := &limbo{e: a.e, v: a.v, start: a.start, note: a.note, ended: a.ended, a: a}
		if !resolved {
			l.done = a.done
		}
		s.limbo = l
	}
}

// notWritten reports whether a record's first and only attempt was refused in a way that proves it was not
// appended: a non-retriable Kafka error (a record too large, an invalid record, no authorization).
func notWritten(err error) bool {
	var ke *kerr.Error
	return errors.As(err, &ke) && !ke.Retriable
}

// settleLimbo settles the event in limbo, if any: it waits for the attempt in flight or sends the same
// record again, and returns ErrUnavailable while Kafka has not acknowledged it. Once it has, the chain moves
// past it and its note is written.
func (s *Session) settleLimbo() error {
	for s.limbo != nil {
		l := s.limbo
		if l.done == nil {
			done, err := s.p.sendRecord(l.e.Session, l.v)
			if err != nil {
				return err
			}
			l.done, l.start = done, time.Now()
		}
		resolved, err := s.p.await(l.e, l.done, l.start)
		if !resolved {
			return err
		}
		if err != nil {
			l.done = nil // an earlier attempt may still land: only this record may take its seq
			return err
		}
		s.limbo = nil
		s.commit(l.e, l.ended)
		if l.a != nil {
			l.a.err = nil
			l.a.landed.Store(true)
		}
		if l.note != nil && l.note.Landed != nil {
			l.note.Landed(l.e)
		}
		if l.note == nil || l.note.Type == "" {
			return nil
		}
		// The note must be written next: it goes through limbo like any event, so a failure here keeps it
		// first in line.
		e, v, err := s.chain.PeekRecord(l.note.Type, l.note.Data)
		if err != nil {
			return err
		}
		s.limbo = &limbo{e: e, v: v}
	}
	return nil
}

func (s *Session) commit(e schemas.Event, ended bool) {
	s.chain.Commit(e)
	s.ended = s.ended || ended
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
