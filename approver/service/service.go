// Package service is the approver's engine: it rebuilds the approval state from the approvals and decisions
// topics, posts each pending request to Slack exactly once across all approver instances, records
// decisions, keeps the Slack messages in step with the outcome and expires requests nobody decided.
//
//	pangate.approvals (gateways) ─┐
//	pangate.decisions (approvers) ┴─replay both from the start, then tail──▶ state ──▶ side effects (once caught up):
//	   approval.requested      → write a claim (approval.notified without message_ts)
//	   my claim is the winner  → chat.postMessage → approval.notified{channel, ts}
//	   decided/expired counts  → chat.update (outcome, no buttons)
//	   expiry passed           → approval.expired
//	callback / terminal ──Decide──▶ approval.decided ──read back──▶ counted if it is the closing event that counts
//
// Everything the approver writes goes to the decisions topic, which only the approver principal may write
// (docs/approvals.md, "Topics"). Every instance reads both topics whole (no consumer group), so every
// instance can answer any callback.
// Posting is arbitrated through the log: an instance posts only after reading back its own claim as the
// winning one (see package state). Messages carry Slack metadata naming the approval, so an instance that
// takes over a stale claim (its writer died between claim and approval.notified) first adopts a message the
// dead claimer may have posted, found with conversations.history, and posts only if there is none.
// docs/approvals.md describes what remains of that window.
package service

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/approver/slackui"
	"github.com/pangate/pangate/approver/state"
	"github.com/pangate/pangate/internal/kafka"
	"github.com/pangate/pangate/schemas"
)

var (
	// ErrNotReady is returned by Decide before the state caught up with the log.
	ErrNotReady = errors.New("service: state not rebuilt from the log yet")
	// ErrReadBack is returned by Decide when the published decision was not seen in the log in time.
	ErrReadBack = errors.New("service: decision published but not read back from the log in time")
)

// Slack is the part of *slack.Client the service uses.
type Slack interface {
	PostMessageContext(ctx context.Context, channel string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channel, ts string, options ...slack.MsgOption) (string, string, string, error)
}

// Config configures the service.
type Config struct {
	// Instance names this approver; a random suffix per process run is appended, so that a restarted
	// process never mistakes a claim of its previous run for its own.
	Instance string
	Version  string
	// Kafka is the client block every Kafka client of the service (producer, replay consumer, admin)
	// starts from (kafka.Config.Opts).
	Kafka kafka.Config
	// Topic is the approvals topic (the gateways' requests); default Kafka.Topic(schemas.TopicApprovals).
	Topic string
	// DecisionsTopic is where this service writes (claims, messages, decisions, expiries) and what it reads
	// besides Topic; default schemas.DecisionsTopicFor(Topic).
	DecisionsTopic string
	// Channel is the Slack channel id requests are posted to.
	Channel string
	// Lease is how long a claim without a message blocks other instances (state.Config.Lease); every
	// instance must use the same value. Default 60s.
	Lease time.Duration
	// PostTimeout bounds one chat.postMessage; it must be well under Lease. Default Lease/4.
	PostTimeout time.Duration
	// ExpiryGrace is how long after a request's expiry the approver writes approval.expired itself (the
	// gateway normally writes it first). Default 2s.
	ExpiryGrace time.Duration
	// ReconcileEvery is the period of the expiry and stale-claim sweep. Default 1s.
	ReconcileEvery time.Duration
	// FetchMaxWait bounds an idle fetch; default 250ms.
	FetchMaxWait time.Duration
	// Passive only rebuilds state and decides: no claims, posts, message updates or expiries. The terminal
	// "decide" command runs this way.
	Passive bool
	// DecisionKey signs every decision this service publishes (schemas.SignDecision); gateways obey only
	// decisions signed by a key they trust. Required.
	DecisionKey ed25519.PrivateKey
	// DecisionKeys are further public keys whose decisions count when the state is rebuilt (earlier keys
	// of this deployment, during a rotation). DecisionKey's own public key is always trusted.
	DecisionKeys schemas.DecisionKeys
}

// Validate checks c and fills defaults.
func (c *Config) Validate() error {
	if c.Topic == "" {
		c.Topic = c.Kafka.Topic(schemas.TopicApprovals)
	}
	if c.DecisionsTopic == "" {
		c.DecisionsTopic = schemas.DecisionsTopicFor(c.Topic)
	}
	if c.Instance == "" {
		return errors.New("service: instance is empty: name this approver (for example the pod or host name)")
	}
	if len(c.Kafka.Brokers) == 0 {
		return errors.New("service: kafka brokers are empty: set kafka.brokers or PANGATE_APPROVER_KAFKA_BROKERS")
	}
	if c.Channel == "" && !c.Passive {
		return errors.New("service: slack channel is empty: set slack.channel to the channel id approvals are posted to")
	}
	if c.Lease <= 0 {
		c.Lease = state.DefaultLease
	}
	if c.PostTimeout <= 0 {
		c.PostTimeout = c.Lease / 4
	}
	if c.PostTimeout*2 > c.Lease {
		return fmt.Errorf("service: post timeout %s must be at most half the claim lease %s, or another instance may post while this one still does", c.PostTimeout, c.Lease)
	}
	if c.ExpiryGrace <= 0 {
		c.ExpiryGrace = 2 * time.Second
	}
	if c.ReconcileEvery <= 0 {
		c.ReconcileEvery = time.Second
	}
	if c.FetchMaxWait <= 0 {
		c.FetchMaxWait = 250 * time.Millisecond
	}
	if len(c.DecisionKey) != ed25519.PrivateKeySize {
		return errors.New("service: decision signing key is missing: set decision_key_file to an Ed25519 key (create one with `approver keygen`); gateways ignore unsigned decisions")
	}
	return nil
}

// Service runs one approver instance.
type Service struct {
	cfg      Config
	instance string
	source   schemas.Source
	st       *state.State
	slack    Slack
	ui       *slackui.Renderer
	log      *slog.Logger
	prod     *kgo.Client
	m        metrics

	ready chan struct{}
	// live is set once the replay reached the end offsets recorded at start; side effects only after it.
	mu       sync.Mutex
	live     bool
	applied  map[partition]int64 // next offset to apply, per topic partition
	progress chan struct{}       // closed and replaced whenever applied advances
	inflight map[string]time.Time
	runCtx   context.Context
	wg       sync.WaitGroup
}

// partition is one partition of the approvals or decisions topic.
type partition struct {
	topic string
	p     int32
}

type metrics struct {
	pending  prometheus.Gauge
	latency  *prometheus.HistogramVec
	posts    *prometheus.CounterVec
	events   *prometheus.CounterVec
	rejected prometheus.Counter
}

// New returns a Service. reg may be nil.
func New(cfg Config, sl Slack, ui *slackui.Renderer, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sl == nil && !cfg.Passive {
		return nil, errors.New("service: slack client is nil")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	inst := cfg.Instance + "/" + hex.EncodeToString(rb[:])
	prod, err := cfg.Kafka.NewClient(kgo.DefaultProduceTopic(cfg.DecisionsTopic), kgo.ProducerLinger(0))
	if err != nil {
		return nil, fmt.Errorf("service: kafka client: %w", err)
	}
	s := &Service{
		cfg: cfg, instance: inst, source: schemas.Source{Instance: inst, Version: cfg.Version},
		st: state.New(state.Config{Lease: cfg.Lease, DecisionKeys: trustedKeys(cfg)}), slack: sl, ui: ui, log: log.With("instance", inst), prod: prod,
		ready: make(chan struct{}), applied: map[partition]int64{}, progress: make(chan struct{}), inflight: map[string]time.Time{},
		m: metrics{
			pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pangate_approver_pending", Help: "Approvals waiting for a decision."}),
			latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pangate_approver_decision_latency_seconds",
				Help:    "Time from approval.requested to the first decided/expired event, by outcome.",
				Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600}}, []string{"outcome"}),
			posts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pangate_approver_slack_calls_total",
				Help: "Slack Web API calls by method and result."}, []string{"method", "result"}),
			events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pangate_approver_events_total",
				Help: "Approval events applied, by what they changed."}, []string{"change"}),
			rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "pangate_approver_rejected_events_total",
				Help: "Records on the approvals or decisions topic that were not valid approval events (bad hash, bad data, bad signature)."}),
		},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{s.m.pending, s.m.latency, s.m.posts, s.m.events, s.m.rejected} {
			if err := reg.Register(c); err != nil {
				prod.Close()
				return nil, fmt.Errorf("service: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// trustedKeys is cfg.DecisionKeys plus the public half of cfg.DecisionKey.
func trustedKeys(cfg Config) schemas.DecisionKeys {
	k := schemas.DecisionKeys{}
	for id, pub := range cfg.DecisionKeys {
		k[id] = pub
	}
	k.Add(cfg.DecisionKey.Public().(ed25519.PublicKey))
	return k
}

// Instance is the instance id this process writes in its events.
func (s *Service) Instance() string { return s.instance }

// Ready is closed once the state caught up with the log as it was at start.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// IsReady reports whether Ready is closed.
func (s *Service) IsReady() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// Lookup returns the approval with id as the state holds it.
func (s *Service) Lookup(id string) (*state.Approval, bool) { return s.st.Get(id) }

// State exposes the state for read-only inspection (tests, the terminal command).
func (s *Service) State() *state.State { return s.st }

// Close releases the producer. Call it after Run returned.
func (s *Service) Close() { s.prod.Close() }

// Run replays the approvals and decisions topics from their start, then tails them until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	s.runCtx = ctx
	s.mu.Unlock()
	defer s.wg.Wait()
	adm := kadm.NewClient(s.prod)
	target := map[partition]int64{}
	consume := map[string]map[int32]kgo.Offset{}
	for _, topic := range []string{s.cfg.Topic, s.cfg.DecisionsTopic} {
		ends, err := kafka.ListOffsets(ctx, adm.ListEndOffsets, topic, 30*time.Second)
		if err != nil {
			return fmt.Errorf("service: end offsets of %s (does the topic exist? the gateway creates it, or use schemas.EnsureTopics): %w", topic, err)
		}
		starts, err := kafka.ListOffsets(ctx, adm.ListStartOffsets, topic, 30*time.Second)
		if err != nil {
			return fmt.Errorf("service: start offsets of %s: %w", topic, err)
		}
		ends.Each(func(o kadm.ListedOffset) { target[partition{topic, o.Partition}] = o.Offset })
		s.mu.Lock()
		starts.Each(func(o kadm.ListedOffset) { s.applied[partition{topic, o.Partition}] = o.Offset })
		s.mu.Unlock()
		if consume[topic] = kafka.At(starts); len(consume[topic]) == 0 {
			return fmt.Errorf("service: topic %s has no partitions", topic)
		}
	}
	cons, err := s.cfg.Kafka.NewClient(kgo.ConsumePartitions(consume), kgo.FetchMaxWait(s.cfg.FetchMaxWait))
	if err != nil {
		return fmt.Errorf("service: kafka consumer: %w", err)
	}
	defer cons.Close()
	s.log.Info("replaying approvals", "topics", []string{s.cfg.Topic, s.cfg.DecisionsTopic})
	s.checkCaughtUp(target)

	tick := time.NewTicker(s.cfg.ReconcileEvery)
	defer tick.Stop()
	fetches := make(chan kgo.Fetches)
	go func() {
		defer close(fetches)
		for {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil || fs.IsClientClosed() {
				return
			}
			select {
			case fetches <- fs:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			s.reconcile()
		case fs, ok := <-fetches:
			if !ok {
				return ctx.Err()
			}
			fs.EachError(func(t string, p int32, err error) {
				s.log.Warn("fetch error (retrying)", "topic", t, "partition", p, "err", err.Error())
			})
			fs.EachRecord(s.apply)
			s.m.pending.Set(float64(s.st.Stats().Pending))
			s.checkCaughtUp(target)
		}
	}
}

// checkCaughtUp switches to live mode once every partition reached its end offset recorded at start.
func (s *Service) checkCaughtUp(target map[partition]int64) {
	s.mu.Lock()
	if s.live {
		s.mu.Unlock()
		return
	}
	for p, end := range target {
		if s.applied[p] < end {
			s.mu.Unlock()
			return
		}
	}
	s.live = true
	s.mu.Unlock()
	st := s.st.Stats()
	s.log.Info("state rebuilt from the log", "approvals", st.Approvals, "pending", st.Pending, "rejected", st.Rejected)
	close(s.ready)
	s.reconcile()
}

// apply applies one record and triggers the side effects of live changes.
func (s *Service) apply(r *kgo.Record) {
	from := state.OnApprovals
	if r.Topic == s.cfg.DecisionsTopic {
		from = state.OnDecisions
	}
	ch, a, err := s.st.ApplyRecordFrom(from, r.Value)
	s.mu.Lock()
	s.applied[partition{r.Topic, r.Partition}] = r.Offset + 1
	close(s.progress)
	s.progress = make(chan struct{})
	live := s.live
	s.mu.Unlock()
	if err != nil {
		s.m.rejected.Inc()
		s.log.Warn("approval event rejected", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err.Error())
		return
	}
	s.m.events.WithLabelValues(ch.String()).Inc()
	if a == nil || !live {
		return
	}
	switch ch {
	case state.Requested:
		s.maybeClaim(a)
	case state.Claimed:
		if a.Claim.Instance == s.instance && !s.cfg.Passive {
			s.spawn(func(ctx context.Context) { s.post(ctx, a.ID) })
		}
	case state.Notified:
		if !a.IsPending() {
			s.spawn(func(ctx context.Context) { s.update(ctx, a) })
		}
	case state.Closed:
		s.m.latency.WithLabelValues(a.Outcome).Observe(a.ClosedAt.Sub(a.RequestedAt).Seconds())
		if a.Message != nil {
			s.spawn(func(ctx context.Context) { s.update(ctx, a) })
		}
	}
}

func (s *Service) spawn(f func(context.Context)) {
	s.mu.Lock()
	ctx := s.runCtx
	s.mu.Unlock()
	if s.cfg.Passive || ctx == nil || ctx.Err() != nil {
		return
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); f(ctx) }()
}

// reconcile claims unclaimed or stale approvals and expires overdue ones.
func (s *Service) reconcile() {
	if s.cfg.Passive {
		return
	}
	now := time.Now()
	for _, a := range s.st.Pending() {
		if now.After(a.Expires.Add(s.cfg.ExpiryGrace)) {
			if s.once("expire:"+a.ID, now, 10*time.Second) {
				a := a
				s.spawn(func(ctx context.Context) {
					err := s.publish(ctx, a.ID, schemas.TypeApprovalExpired, schemas.ApprovalExpired{ApprovalID: a.ID, Expires: a.Request.Expires})
					if err != nil {
						s.log.Warn("publish approval.expired failed", "approval", a.ID, "err", err.Error())
					}
				})
			}
			continue
		}
		s.maybeClaim(a)
	}
	s.mu.Lock()
	for k, t := range s.inflight {
		if now.Sub(t) > s.cfg.Lease {
			delete(s.inflight, k)
		}
	}
	s.mu.Unlock()
}

// once reports whether key was not started within window, and marks it started.
func (s *Service) once(key string, now time.Time, window time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.inflight[key]; ok && now.Sub(t) < window {
		return false
	}
	s.inflight[key] = now
	return true
}

func (s *Service) maybeClaim(a *state.Approval) {
	now := time.Now()
	if s.cfg.Passive || !s.st.ShouldClaim(a, now) || now.After(a.Expires) {
		return
	}
	if !s.once("claim:"+a.ID, now, s.cfg.Lease) {
		return
	}
	id := a.ID
	s.spawn(func(ctx context.Context) {
		if err := s.publish(ctx, id, schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: id, Channel: s.cfg.Channel}); err != nil {
			s.log.Warn("publish claim failed", "approval", id, "err", err.Error())
		}
	})
}

// post posts the approval to Slack after this instance's claim won, then records approval.notified.
func (s *Service) post(ctx context.Context, id string) {
	a, ok := s.st.Get(id)
	if !ok || !a.IsPending() || a.Message != nil || a.Claim == nil || a.Claim.Instance != s.instance {
		return
	}
	if a.Takeover {
		// The previous claimer may have posted and died before recording it: adopt its message if the
		// channel shows one for this approval, instead of posting a second.
		if ts, ok := s.findPosted(ctx, a); ok {
			s.m.posts.WithLabelValues("chat.postMessage", "adopted").Inc()
			s.log.Warn("adopting a message posted by a previous claimer", "approval", id, "ts", ts)
			s.recordNotified(ctx, schemas.ApprovalNotified{ApprovalID: id, Channel: s.cfg.Channel, MessageTS: ts})
			return
		}
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PostTimeout)
	channel, ts, err := s.slack.PostMessageContext(pctx, s.cfg.Channel,
		slack.MsgOptionBlocks(s.ui.Request(a)...), slack.MsgOptionText(s.ui.Fallback(a), false),
		slack.MsgOptionMetadata(slack.SlackMetadata{EventType: MetadataEventType, EventPayload: map[string]any{"approval_id": id}}))
	cancel()
	if err != nil {
		s.m.posts.WithLabelValues("chat.postMessage", "error").Inc()
		// The claim goes stale after the lease and some instance claims and posts again.
		s.log.Error("chat.postMessage failed", "approval", id, "err", err.Error())
		return
	}
	s.m.posts.WithLabelValues("chat.postMessage", "ok").Inc()
	s.log.Info("posted approval to slack", "approval", id, "channel", channel, "ts", ts)
	s.recordNotified(ctx, schemas.ApprovalNotified{ApprovalID: id, Channel: channel, MessageTS: ts})
}

// recordNotified writes approval.notified, retrying until Kafka takes it or the service stops: until it is
// recorded, a restart would post again.
func (s *Service) recordNotified(ctx context.Context, n schemas.ApprovalNotified) {
	id := n.ApprovalID
	for attempt := 0; ; attempt++ {
		err := s.publish(ctx, id, schemas.TypeApprovalNotified, n)
		if err == nil {
			return
		}
		s.log.Error("publish approval.notified failed; retrying (until it is recorded a restart would post again)", "approval", id, "err", err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(attempt+1)*200*time.Millisecond, 5*time.Second)):
		}
	}
}

// MetadataEventType marks pangate's approval messages in Slack (message metadata), with the approval id
// in the payload, so a message can be found again in the channel.
const MetadataEventType = "pangate_approval"

// historyReader is implemented by *slack.Client; a Slack without it cannot adopt messages.
type historyReader interface {
	GetConversationHistoryContext(ctx context.Context, params *slack.GetConversationHistoryParameters) (*slack.GetConversationHistoryResponse, error)
}

// findPosted looks in the channel, from shortly before the first claim, for a message whose metadata names
// approval a. Errors (for example a missing channels:history scope) mean "not found": the caller posts.
func (s *Service) findPosted(ctx context.Context, a *state.Approval) (string, bool) {
	hr, ok := s.slack.(historyReader)
	if !ok {
		return "", false
	}
	since := a.FirstClaimAt.Add(-time.Minute)
	params := &slack.GetConversationHistoryParameters{ChannelID: s.cfg.Channel, Limit: 200, IncludeAllMetadata: true,
		Oldest: fmt.Sprintf("%d.%06d", since.Unix(), since.Nanosecond()/1000)}
	for page := 0; page < 10; page++ {
		hctx, cancel := context.WithTimeout(ctx, s.cfg.PostTimeout)
		resp, err := hr.GetConversationHistoryContext(hctx, params)
		cancel()
		if err != nil {
			s.m.posts.WithLabelValues("conversations.history", "error").Inc()
			s.log.Warn("conversations.history failed; posting anew (grant channels:history to let a takeover adopt a message)", "approval", a.ID, "err", err.Error())
			return "", false
		}
		for _, m := range resp.Messages {
			if m.Metadata.EventType == MetadataEventType && fmt.Sprint(m.Metadata.EventPayload["approval_id"]) == a.ID {
				return m.Timestamp, true
			}
		}
		if !resp.HasMore || resp.ResponseMetaData.NextCursor == "" {
			return "", false
		}
		params.Cursor = resp.ResponseMetaData.NextCursor
	}
	return "", false
}

// update replaces the Slack message of a closed approval with its outcome. Every live instance does this
// (chat.update is idempotent), so a message is updated even when the instance that posted it is gone.
func (s *Service) update(ctx context.Context, a *state.Approval) {
	if a.Message == nil || s.ui == nil {
		return
	}
	uctx, cancel := context.WithTimeout(ctx, s.cfg.PostTimeout)
	defer cancel()
	_, _, _, err := s.slack.UpdateMessageContext(uctx, a.Message.Channel, a.Message.TS,
		slack.MsgOptionBlocks(s.ui.Outcome(a)...), slack.MsgOptionText(s.ui.OutcomeText(a), false))
	if err != nil {
		s.m.posts.WithLabelValues("chat.update", "error").Inc()
		s.log.Warn("chat.update failed", "approval", a.ID, "err", err.Error())
		return
	}
	s.m.posts.WithLabelValues("chat.update", "ok").Inc()
}

// publish writes one approval event and waits for Kafka's acknowledgement; it returns the record.
func (s *Service) publish(ctx context.Context, id, typ string, data any) error {
	_, _, err := s.publishRecord(ctx, id, typ, data)
	return err
}

func (s *Service) publishRecord(ctx context.Context, id, typ string, data any) (*kgo.Record, string, error) {
	e, err := schemas.NewUnchained(id, s.source, typ, data)
	if err != nil {
		return nil, "", err
	}
	b, err := schemas.Marshal(e)
	if err != nil {
		return nil, "", err
	}
	rec := &kgo.Record{Topic: s.cfg.DecisionsTopic, Key: []byte(id), Value: b}
	if err := s.prod.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return nil, "", fmt.Errorf("produce %s for %s to %s: %w", typ, id, s.cfg.DecisionsTopic, err)
	}
	return rec, e.ID, nil
}

// Decide publishes d (LatencyMS and Request are filled in, then it is signed with the decision key) and
// waits until the state applied it. counted reports whether d is the first closing event of the approval
// in the log; a is the approval afterwards.
func (s *Service) Decide(ctx context.Context, d schemas.ApprovalDecided) (bool, *state.Approval, error) {
	if !s.IsReady() {
		return false, nil, ErrNotReady
	}
	if a, ok := s.st.Get(d.ApprovalID); ok {
		d.LatencyMS = time.Since(a.RequestedAt).Milliseconds()
		d.Request = a.RequestHash
	}
	if err := schemas.SignDecision(&d, s.cfg.DecisionKey); err != nil {
		return false, nil, err
	}
	rec, eventID, err := s.publishRecord(ctx, d.ApprovalID, schemas.TypeApprovalDecided, d)
	if err != nil {
		return false, nil, err
	}
	if err := s.waitApplied(ctx, partition{rec.Topic, rec.Partition}, rec.Offset, 10*time.Second); err != nil {
		return false, nil, err
	}
	a, ok := s.st.Get(d.ApprovalID)
	if !ok {
		return false, nil, nil
	}
	return a.ClosedID == eventID, a, nil
}

// waitApplied blocks until the record at (p, offset) was applied to the state.
func (s *Service) waitApplied(ctx context.Context, p partition, offset int64, limit time.Duration) error {
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		s.mu.Lock()
		done := s.applied[p] > offset
		ch := s.progress
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return ErrReadBack
		}
	}
}

// EnsureTopic creates the approvals topic (named topic) and its decisions topic (schemas.DecisionsTopicFor)
// with pangate's configuration if they do not exist (idempotent), through a client made from k.
func EnsureTopic(ctx context.Context, k kafka.Config, topic string) error {
	cl, err := k.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	meta, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return fmt.Errorf("service: kafka metadata: %w", err)
	}
	names := map[string]string{schemas.TopicApprovals: topic, schemas.TopicDecisions: schemas.DecisionsTopicFor(topic)}
	var want []schemas.TopicConfig
	for _, t := range schemas.Topics(len(meta.Brokers)) {
		if name, ok := names[t.Name]; ok {
			t.Name = name
			want = append(want, t)
		}
	}
	return schemas.EnsureTopics(ctx, adm, want)
}
