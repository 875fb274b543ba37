// Package hold is the gateway's side of an approval: it publishes approval.requested for a held statement to
// the approvals topic and waits for the decision the decisions topic holds for it.
//
//	proxy ──Request(req)──▶ Holder ──approval.requested (acks=all)──▶ pangate.approvals ──▶ approver ──▶ Slack
//	  ▲                       │ tail (every instance, no group,                            │
//	  └──────Decision─────────┘  from the end offsets at Run start) ◀── pangate.decisions ◀┘ approval.decided / .expired
//
// Approval state is derived from the log only (docs/invariants.md, invariant 5). Gateways write
// pangate.approvals and approvers pangate.decisions, which only the approver principal may write (contract
// version 4, docs/approvals.md "Topics"); the tail reads the decisions topic alone. The first valid
// approval.decided or approval.expired of an approval there is the decision. Valid means: an approved or
// denied decision carries the approver's Ed25519 signature (schemas.SignDecision) by a key in
// Config.DecisionKeys, over this approval id and the hash of the approval.requested event this Holder
// published; anything else that claims to decide (unsigned, another key, a signed decision copied to
// another approval id) is ignored and recorded as approval.rejected on the approvals topic (docs/approvals.md,
// "Signed decisions").
//
// Expiry and withdrawal can only stop a statement, so the gateway writes them unsigned, to the approvals
// topic: when the expiry passes it publishes approval.expired and when the client goes away it publishes
// approval.decided{withdrawn, by: "client"}. Its own closing event is final: nothing orders the two topics,
// so the contract gives the gateway's own closing event precedence over any decision (approver/state), and
// a Holder that wrote one never runs the statement, whatever the decisions topic says afterwards.
//
// The Holder writes only to the approvals topic. Recording approval.requested and the outcome in the
// session's own chain on the audit topic is the proxy's job.
package hold

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/internal/kafka"
	"github.com/pangate/pangate/schemas"
)

// Outcomes of an approval (schemas.ApprovalOutcome), as the strings Decision.Outcome and the events carry.
const (
	Approved  = string(schemas.OutcomeApproved)
	Denied    = string(schemas.OutcomeDenied)
	Expired   = string(schemas.OutcomeExpired)
	Withdrawn = string(schemas.OutcomeWithdrawn)
)

// ByClient is ApprovalDecided.By of a withdrawal: the client cancelled or disconnected.
const ByClient = schemas.DecidedByClient

var (
	// ErrNotRunning is returned by Request when Run has not positioned the tail yet and ctx ended while
	// waiting for it, or when Run has stopped: a decision could not be observed, so nothing is requested.
	ErrNotRunning = errors.New("hold: the decision tail is not running (call Run first)")
	// ErrPublish wraps a failure to get an approval event acknowledged by Kafka. The statement must be
	// refused (fail closed).
	ErrPublish = errors.New("hold: publish to the approvals topic failed")
	// ErrClientGone is the cause (context.WithCancelCause) the proxy cancels a held statement's Request
	// with when its client disconnected: the withdrawal records "client_gone" as its reason.
	ErrClientGone = errors.New("client_gone")
	// ErrClientTimeout is the cause for a client-side cancel or statement timeout while held.
	ErrClientTimeout = errors.New("client_cancelled")
	// ErrInvalidRequest is returned for a request without approval id or with an unreadable expiry.
	ErrInvalidRequest = errors.New("hold: invalid approval request")
)

// Config configures a Holder.
type Config struct {
	// Topic is the approvals topic the Holder writes; default schemas.TopicApprovals.
	Topic string
	// DecisionsTopic is the topic the Holder tails for decisions; default schemas.DecisionsTopicFor(Topic).
	DecisionsTopic string
	// Instance and Version name this gateway in the events it writes (schemas.Source).
	Instance string
	Version  string
	// Kafka is the client block the Holder's own clients (offsets at start, the decision tail) start from,
	// the same as the gateway's other clients (kafka.Config.Opts).
	Kafka kafka.Config
	// FetchMaxWait bounds how long an idle fetch waits at the broker; default 250ms. A record is returned
	// as soon as it is written whatever this value, so it only bounds the idle round trip.
	FetchMaxWait time.Duration
	// SettleTimeout bounds how long Request waits for Kafka to acknowledge its own expired/withdrawn event
	// (and an approval.rejected alert); default 5s. The statement is not run in either case.
	SettleTimeout time.Duration
	// StartTimeout bounds how long Run retries reading the topic's end offsets at start (a topic created a
	// moment ago may not be visible to every broker yet); default 30s.
	StartTimeout time.Duration
	// DecisionKeys are the approver public keys an approved or denied decision must be signed with
	// (several during a key rotation). Required: without them no decision could be trusted.
	DecisionKeys schemas.DecisionKeys
	// Registerer, if set, receives the pangate_gateway_approval_decisions_rejected_total counter.
	Registerer prometheus.Registerer
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	if c.Topic == "" {
		c.Topic = schemas.TopicApprovals
	}
	if c.DecisionsTopic == "" {
		c.DecisionsTopic = schemas.DecisionsTopicFor(c.Topic)
	}
	if c.Instance == "" {
		return errors.New("hold: Config.Instance is empty: set it to the gateway instance name written in events")
	}
	if len(c.Kafka.Brokers) == 0 {
		return errors.New("hold: Config.Kafka.Brokers is empty: give the Kafka seed brokers for the decision tail")
	}
	if c.FetchMaxWait <= 0 {
		c.FetchMaxWait = 250 * time.Millisecond
	}
	if c.SettleTimeout <= 0 {
		c.SettleTimeout = 5 * time.Second
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 30 * time.Second
	}
	if len(c.DecisionKeys) == 0 {
		return errors.New("hold: Config.DecisionKeys is empty: configure the approver's decision public key(s) (approvals.decision_keys); an unsigned decision is never obeyed")
	}
	return nil
}

// Decision is the outcome of an approval as the log records it.
type Decision struct {
	Outcome   string // approved, denied, expired, withdrawn
	By        string // Slack user id, "terminal:<user>", "client"; empty for expired
	ByName    string
	ByEmail   string
	Reason    string
	LatencyMS int64  // request to decision, as written by the decider (computed here for expired)
	EventID   string // id of the deciding event (on the decisions topic, or the Holder's own on the approvals topic)
}

// Approved reports whether the statement may run.
func (d Decision) Approved() bool { return d.Outcome == Approved }

// Holder publishes approval requests and routes decisions from the log to the waiting requests.
type Holder struct {
	cfg      Config
	producer *kgo.Client
	source   schemas.Source

	ready   chan struct{} // closed once the tail is positioned
	stopped chan struct{} // closed when Run returns

	rejected *prometheus.CounterVec

	mu      sync.Mutex
	waiters map[string]waiter // approval id → the request and where its first closing event goes
}

// waiter is one Request waiting for its decision.
type waiter struct {
	request string        // hash of the approval.requested event this Holder published
	ch      chan Decision // buffered 1
}

// New returns a Holder that publishes with producer (a client with the default acks=all idempotent
// producer; the gateway's own). Call Run in a goroutine before Request.
func New(cfg Config, producer *kgo.Client) (*Holder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if producer == nil {
		return nil, errors.New("hold: producer client is nil")
	}
	h := &Holder{
		cfg:      cfg,
		producer: producer,
		source:   schemas.Source{Instance: cfg.Instance, Version: cfg.Version},
		ready:    make(chan struct{}),
		stopped:  make(chan struct{}),
		waiters:  make(map[string]waiter),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pangate_gateway_approval_decisions_rejected_total",
			Help: "Decisions for a held statement of this gateway that were ignored, by reason (unsigned, unknown_key, bad_signature, other_request)."},
			[]string{"reason"}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(h.rejected); err != nil {
			return nil, fmt.Errorf("hold: register metrics: %w", err)
		}
	}
	return h, nil
}

// Ready is closed once the tail is positioned and Request can publish.
func (h *Holder) Ready() <-chan struct{} { return h.ready }

// Run tails the decisions topic from its end offsets at start until ctx ends. Every gateway instance sees
// every decision (no consumer group). It returns ctx's error after a clean stop, or the error that stopped
// the tail; Requests waiting then return ErrNotRunning.
func (h *Holder) Run(ctx context.Context) error {
	defer close(h.stopped)
	// Record the end offsets before any request is published, so a decision written right after a request
	// can never fall before the tail's start.
	admCl, err := h.cfg.Kafka.NewClient()
	if err != nil {
		return fmt.Errorf("hold: kafka client: %w", err)
	}
	ends, err := kafka.ListOffsets(ctx, kadm.NewClient(admCl).ListEndOffsets, h.cfg.DecisionsTopic, h.cfg.StartTimeout)
	admCl.Close()
	if err != nil {
		return fmt.Errorf("hold: end offsets of %s (does the topic exist? create it with schemas.EnsureTopics): %w", h.cfg.DecisionsTopic, err)
	}
	parts := kafka.At(ends)
	if len(parts) == 0 {
		return fmt.Errorf("hold: topic %s has no partitions: create it with schemas.EnsureTopics", h.cfg.DecisionsTopic)
	}
	cl, err := h.cfg.Kafka.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{h.cfg.DecisionsTopic: parts}),
		kgo.FetchMaxWait(h.cfg.FetchMaxWait),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return fmt.Errorf("hold: kafka consumer: %w", err)
	}
	defer cl.Close()
	close(h.ready)
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fs.IsClientClosed() {
			return ErrNotRunning
		}
		fs.EachError(func(t string, p int32, err error) {
			// Transient fetch errors are retried by the client; nothing to do but go on polling.
			_ = err
		})
		fs.EachRecord(h.apply)
	}
}

// apply routes one record of the decisions topic. Records that are not closing events of an approval this
// instance waits for are ignored; so are forged events whose hash does not verify. A decision for a waiting
// approval whose signature does not verify is ignored too (the approval stays pending) and recorded.
func (h *Holder) apply(r *kgo.Record) {
	d, id, signed, ok := closing(r.Value)
	if !ok {
		return
	}
	h.mu.Lock()
	w, waiting := h.waiters[id]
	var bad error
	if waiting && signed != nil {
		bad = schemas.VerifyDecision(*signed, h.cfg.DecisionKeys, w.request)
	}
	if waiting && bad == nil {
		delete(h.waiters, id) // only the first valid closing event in the log counts
	}
	h.mu.Unlock()
	switch {
	case !waiting:
	case bad != nil:
		h.reject(id, d, signed, bad)
	default:
		w.ch <- d
	}
}

// reject counts and records a decision this Holder ignored. The alert is written in the background: the
// tail must not wait for Kafka, and the statement stays held whether or not the alert is recorded.
func (h *Holder) reject(id string, d Decision, signed *schemas.ApprovalDecided, bad error) {
	rj := schemas.ApprovalRejected{ApprovalID: id, EventID: d.EventID, Decision: d.Outcome, By: d.By, KeyID: signed.KeyID,
		Reason: schemas.RejectBadSignature, Detail: bad.Error()}
	var de *schemas.DecisionError
	if errors.As(bad, &de) {
		rj.Reason, rj.Detail = de.Reason, de.Detail
	}
	h.rejected.WithLabelValues(rj.Reason).Inc()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.SettleTimeout)
		defer cancel()
		_, _ = h.publish(ctx, id, schemas.TypeApprovalRejected, rj)
	}()
}

// closing decodes a record into a decision if it is a well-formed approval.decided or approval.expired.
// signed is the decision to verify before it may apply: every approved or denied decision, and a
// withdrawal by anyone but a gateway's client; nil for what a gateway writes unsigned (expiry, withdrawal
// by the client), which can only stop a statement.
func closing(value []byte) (d Decision, id string, signed *schemas.ApprovalDecided, ok bool) {
	e, err := schemas.Parse(value)
	if err != nil || (e.Type != schemas.TypeApprovalDecided && e.Type != schemas.TypeApprovalExpired) {
		return Decision{}, "", nil, false
	}
	if schemas.VerifyEvent(e) != nil {
		return Decision{}, "", nil, false
	}
	switch e.Type {
	case schemas.TypeApprovalDecided:
		var ad schemas.ApprovalDecided
		if e.Decode(&ad) != nil || ad.ApprovalID == "" {
			return Decision{}, "", nil, false
		}
		switch ad.Decision {
		case Approved, Denied, Withdrawn:
		default:
			return Decision{}, "", nil, false
		}
		if ad.Decision != Withdrawn || ad.By != ByClient {
			signed = &ad
		}
		return Decision{Outcome: ad.Decision, By: ad.By, ByName: ad.ByName, ByEmail: ad.ByEmail, Reason: ad.Reason,
			LatencyMS: ad.LatencyMS, EventID: e.ID}, ad.ApprovalID, signed, true
	default:
		var x schemas.ApprovalExpired
		if e.Decode(&x) != nil || x.ApprovalID == "" {
			return Decision{}, "", nil, false
		}
		return Decision{Outcome: Expired, EventID: e.ID}, x.ApprovalID, nil, true
	}
}

// Request publishes approval.requested for req (acknowledged by Kafka) and waits for the first valid
// approval.decided or approval.expired of req.ApprovalID on the decisions topic.
//
// When req.Expires passes first, it publishes approval.expired and returns that expiry. When ctx ends first
// (client cancel or disconnect), it publishes approval.decided{withdrawn, by: "client"} and returns that
// withdrawal together with ctx's error. Either is final (package doc): the caller must not run the
// statement whenever err != nil or !Decision.Approved().
func (h *Holder) Request(ctx context.Context, req schemas.ApprovalRequested) (Decision, error) {
	if req.ApprovalID == "" {
		return Decision{}, fmt.Errorf("%w: approval_id is empty", ErrInvalidRequest)
	}
	expires, err := schemas.ParseTime(req.Expires)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	select {
	case <-h.ready:
	case <-h.stopped:
		return Decision{}, ErrNotRunning
	case <-ctx.Done():
		return Decision{}, fmt.Errorf("%w: %v", ErrNotRunning, ctx.Err())
	}
	if req.GatewayInst == "" {
		req.GatewayInst = h.cfg.Instance
	}
	// The request event is built first: a decision must name its hash, so the waiter knows it before any
	// decision can be in the log.
	reqEvent, err := h.event(req.ApprovalID, schemas.TypeApprovalRequested, req)
	if err != nil {
		return Decision{}, err
	}
	ch := make(chan Decision, 1)
	h.mu.Lock()
	h.waiters[req.ApprovalID] = waiter{request: reqEvent.Hash, ch: ch}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.waiters, req.ApprovalID)
		h.mu.Unlock()
	}()

	start := time.Now()
	if err := h.produce(ctx, reqEvent); err != nil {
		return Decision{}, err
	}

	timer := time.NewTimer(time.Until(expires))
	defer timer.Stop()
	select {
	case d := <-ch:
		return d, nil
	case <-h.stopped:
		return Decision{}, ErrNotRunning
	case <-timer.C:
		// Nobody decided in time: close the approval ourselves. The gateway's own closing event takes
		// precedence over any decision (approver/state), so one that raced ahead unseen does not count.
		exp := schemas.ApprovalExpired{ApprovalID: req.ApprovalID, Expires: req.Expires}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.SettleTimeout)
		defer cancel()
		d := Decision{Outcome: Expired, LatencyMS: time.Since(start).Milliseconds()}
		e, err := h.publish(pctx, req.ApprovalID, schemas.TypeApprovalExpired, exp)
		d.EventID = e.ID
		return d, err
	case <-ctx.Done():
		// The caller names why with context.WithCancelCause (e.g. ErrClientGone); the reason is recorded.
		reason := "client cancelled or disconnected"
		if c := context.Cause(ctx); c != nil && c != ctx.Err() {
			reason = c.Error()
		}
		wd := schemas.ApprovalDecided{ApprovalID: req.ApprovalID, Decision: Withdrawn, By: ByClient,
			Reason: reason, LatencyMS: time.Since(start).Milliseconds()}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.SettleTimeout)
		defer cancel()
		e, err := h.publish(pctx, req.ApprovalID, schemas.TypeApprovalDecided, wd)
		if err != nil {
			return Decision{Outcome: Withdrawn, By: ByClient}, errors.Join(ctx.Err(), err)
		}
		return Decision{Outcome: Withdrawn, By: ByClient, Reason: wd.Reason, LatencyMS: wd.LatencyMS, EventID: e.ID}, ctx.Err()
	}
}

// publish writes one unchained approval event and waits for Kafka's acknowledgement.
func (h *Holder) publish(ctx context.Context, approvalID, typ string, data any) (schemas.Event, error) {
	e, err := h.event(approvalID, typ, data)
	if err != nil {
		return e, err
	}
	return e, h.produce(ctx, e)
}

// event builds one unchained approval event (stream = approval id).
func (h *Holder) event(approvalID, typ string, data any) (schemas.Event, error) {
	e, err := schemas.NewUnchained(approvalID, h.source, typ, data)
	if err != nil {
		return e, fmt.Errorf("%w: build %s: %v", ErrPublish, typ, err)
	}
	return e, nil
}

// produce writes e to the approvals topic and waits for Kafka's acknowledgement.
func (h *Holder) produce(ctx context.Context, e schemas.Event) error {
	b, err := schemas.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: encode %s: %v", ErrPublish, e.Type, err)
	}
	rec := &kgo.Record{Topic: h.cfg.Topic, Key: []byte(e.Session), Value: b}
	if err := h.producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("%w: %s for approval %s on %s: %v", ErrPublish, e.Type, e.Session, h.cfg.Topic, err)
	}
	return nil
}
