// Package state is the approver's event-sourced view of every approval: a pure reducer over the approval
// events of the approvals and decisions topics, so a restarted approver that replays both reaches the same
// state as one that never stopped (docs/invariants.md, invariant 5).
//
// Gateways write pangate.approvals and approvers pangate.decisions (docs/approvals.md, "Topics"). Each topic
// keeps the order of one approval's records (same key, one partition), but nothing orders the two topics
// against each other, so the rules below use only the order within a topic: whatever interleaving of the two
// topics a reader sees, it reaches the same state (TestOrderIndependent, FuzzInterleavings). Rules, per
// approval:
//
//   - approval.requested opens it. A duplicate request for a known id is ignored. Any other event for an id
//     whose request has not been seen yet is held and applied, in the order it arrived, when the request
//     arrives (a decision read before its request stays pending until then); held events count as orphans.
//   - approval.notified with an empty message_ts is a claim: the approver instance named in the envelope
//     ("gateway.instance") announces that it alone will post the request to Slack. The first claim wins.
//     A later claim wins only if no message was recorded and the claim it replaces is at least Lease older
//     (by event time): its writer is presumed dead between claim and post. Claims and messages are all the
//     approvers' (one topic), so the outcome plays no part in them.
//   - approval.notified with a message_ts records the Slack message. The first one wins; a later one (a
//     double post after a crash inside the lease window) is counted as a duplicate.
//   - approval.decided or approval.expired closes it. The request's gateway's own closing event (its
//     approval.expired, or its client's withdrawal) wins over any decision: a gateway that wrote one never
//     runs the statement (gateway/hold), so the log must say it did not. Only a decision earlier on the same
//     topic beats it (a log written before contract version 4, where both sides shared pangate.approvals and
//     the first closing event in the log counted). Without a gateway closing event, the first valid decision
//     or approver expiry in its topic counts. Every further closing event is counted as a conflict.
//   - With Config.DecisionKeys set (the approver always sets them), an approved or denied decision (or a
//     withdrawal not by "client") counts only if it is signed by one of those keys for this approval and its
//     request (schemas.VerifyDecision); otherwise it is rejected and the approval stays pending, exactly as
//     the gateways see it (docs/approvals.md, "Signed decisions").
//
// Events whose hash does not verify, or whose data does not decode, are rejected and change nothing.
package state

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pangate/pangate/schemas"
)

// Outcomes of a closed approval (schemas.ApprovalOutcome), as the strings Approval.Outcome and the events
// carry.
const (
	Pending   = string(schemas.OutcomePending)
	Approved  = string(schemas.OutcomeApproved)
	Denied    = string(schemas.OutcomeDenied)
	Expired   = string(schemas.OutcomeExpired)
	Withdrawn = string(schemas.OutcomeWithdrawn)
)

// DefaultLease is how long a claim without a recorded message blocks other approver instances.
const DefaultLease = 60 * time.Second

// ErrRejected is wrapped by Apply for an event that is not a valid approval event; it changed nothing.
var ErrRejected = errors.New("state: event rejected")

// Change says what applying an event did.
type Change int

// Changes returned by Apply.
const (
	Ignored   Change = iota // valid but changed nothing (duplicate, late claim, conflict, orphan, other type)
	Requested               // a new approval is pending
	Claimed                 // a claim became the current claim
	Notified                // the Slack message was recorded
	Closed                  // the first closing event: the approval is decided or expired
)

func (c Change) String() string {
	return [...]string{"ignored", "requested", "claimed", "notified", "closed"}[c]
}

// Claim is the current claim to post an approval to Slack.
type Claim struct {
	Instance string
	At       time.Time
	EventID  string
}

// Message is the Slack message of an approval.
type Message struct {
	Channel  string
	TS       string
	Instance string
	EventID  string
}

// Topic says which topic a record was read from. The reducer relies on the order of records within one
// topic and never on an order between the two.
type Topic int

// Topics of approval events (schemas.TopicApprovals, schemas.TopicDecisions, whatever their prefix).
const (
	OnApprovals Topic = iota // written by gateways; before contract version 4, by approvers too
	OnDecisions              // written by approvers
)

// Approval is one approval as the log describes it. Values returned by State are copies.
type Approval struct {
	ID          string
	Request     schemas.ApprovalRequested
	RequestHash string // hash of the approval.requested event: what a signed decision names
	RequestedAt time.Time
	Expires     time.Time
	Claim       *Claim
	// Takeover is set when a claim replaced a stale one: its writer may have posted before dying, so the
	// new poster first looks for that message in the channel. FirstClaimAt is when the first claim was made.
	Takeover     bool
	FirstClaimAt time.Time
	Message      *Message
	Duplicates   int // messages recorded after the first (double posts)

	Outcome  string // Pending until closed
	Decision schemas.ApprovalDecided
	ClosedAt time.Time
	ClosedBy string // envelope instance of the closing event
	ClosedID string // event id of the closing event
	Conflict int    // closing events besides the one that counts

	closings []closing // every valid closing event, in arrival order (the order within each topic is the log's)
}

// closing is one valid approval.decided or approval.expired.
type closing struct {
	topic    Topic
	outcome  string
	decision schemas.ApprovalDecided // for approval.decided
	at       time.Time
	instance string
	id       string
}

// held is an event of an approval whose request has not been read yet.
type held struct {
	topic Topic
	e     schemas.Event
	at    time.Time
}

// IsPending reports whether no closing event has been applied.
func (a *Approval) IsPending() bool { return a.Outcome == Pending }

// DecidedBy names who closed the approval, for messages ("expired" when nobody did).
func (a *Approval) DecidedBy() string {
	switch {
	case a.Outcome == Expired:
		return "expiry"
	case a.Decision.ByName != "":
		return a.Decision.ByName
	default:
		return a.Decision.By
	}
}

// Config configures a State.
type Config struct {
	// Lease is how long a claim without a message blocks other instances; default DefaultLease. Every
	// approver instance must use the same value, or they may disagree about which claim won.
	Lease time.Duration
	// DecisionKeys, when set, are the public keys a decision must be signed with to count. Nil applies
	// decisions unverified: only for tests and read-only tools, never for a service whose Slack messages
	// and gateways must agree.
	DecisionKeys schemas.DecisionKeys
}

// State holds every approval seen in the log. It is safe for concurrent use.
type State struct {
	lease time.Duration
	keys  schemas.DecisionKeys

	mu        sync.RWMutex
	approvals map[string]*Approval
	early     map[string][]held // approval id → events read before its request
	orphans   int               // events in early
	rejected  int
}

// New returns an empty State.
func New(cfg Config) *State {
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	return &State{lease: cfg.Lease, keys: cfg.DecisionKeys, approvals: make(map[string]*Approval), early: make(map[string][]held)}
}

// Lease returns the claim lease in force.
func (s *State) Lease() time.Duration { return s.lease }

// ApplyRecord parses a record value read from the approvals topic and applies it (ApplyRecordFrom).
func (s *State) ApplyRecord(value []byte) (Change, *Approval, error) {
	return s.ApplyRecordFrom(OnApprovals, value)
}

// ApplyRecordFrom parses a record value read from topic and applies it.
func (s *State) ApplyRecordFrom(topic Topic, value []byte) (Change, *Approval, error) {
	e, err := schemas.Parse(value)
	if err != nil {
		s.reject()
		return Ignored, nil, fmt.Errorf("%w: %v", ErrRejected, err)
	}
	return s.ApplyFrom(topic, e)
}

func (s *State) reject() {
	s.mu.Lock()
	s.rejected++
	s.mu.Unlock()
}

// Apply applies one event read from the approvals topic (ApplyFrom).
func (s *State) Apply(e schemas.Event) (Change, *Approval, error) { return s.ApplyFrom(OnApprovals, e) }

// ApplyFrom applies one event read from topic and returns what changed and, unless the event was rejected,
// a copy of the approval it concerns (nil for events held until their request, and other types).
func (s *State) ApplyFrom(topic Topic, e schemas.Event) (Change, *Approval, error) {
	switch e.Type {
	case schemas.TypeApprovalRequested, schemas.TypeApprovalNotified, schemas.TypeApprovalDecided, schemas.TypeApprovalExpired:
	default:
		return Ignored, nil, nil
	}
	if err := schemas.VerifyEvent(e); err != nil {
		s.reject()
		return Ignored, nil, fmt.Errorf("%w: %v", ErrRejected, err)
	}
	at, err := e.Timestamp()
	if err != nil {
		s.reject()
		return Ignored, nil, fmt.Errorf("%w: %v", ErrRejected, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, a, bad := s.apply(topic, e, at)
	if bad != nil {
		s.rejected++
		return Ignored, nil, fmt.Errorf("%w: %s event %s: %v", ErrRejected, e.Type, e.ID, bad)
	}
	if a == nil {
		return ch, nil, nil
	}
	return ch, copyOf(a), nil
}

// apply applies a verified event; s.mu is held.
func (s *State) apply(topic Topic, e schemas.Event, at time.Time) (Change, *Approval, error) {
	switch e.Type {
	case schemas.TypeApprovalRequested:
		return s.requested(e, at)
	case schemas.TypeApprovalNotified:
		var n schemas.ApprovalNotified
		if err := e.Decode(&n); err != nil {
			return Ignored, nil, err
		}
		a, ok := s.known(topic, n.ApprovalID, e, at)
		if !ok {
			return Ignored, nil, nil
		}
		return s.notified(a, n, e, at)
	case schemas.TypeApprovalDecided:
		var d schemas.ApprovalDecided
		if err := e.Decode(&d); err != nil {
			return Ignored, nil, err
		}
		switch d.Decision {
		case Approved, Denied, Withdrawn:
		default:
			return Ignored, nil, fmt.Errorf("decision %q is not approved, denied or withdrawn", d.Decision)
		}
		a, ok := s.known(topic, d.ApprovalID, e, at)
		if !ok {
			return Ignored, nil, nil
		}
		if s.keys != nil && (d.Decision != Withdrawn || d.By != schemas.DecidedByClient) {
			if err := schemas.VerifyDecision(d, s.keys, a.RequestHash); err != nil {
				return Ignored, nil, err
			}
		}
		return s.close(a, closing{topic: topic, outcome: d.Decision, decision: d, at: at, instance: e.Gateway.Instance, id: e.ID})
	default: // approval.expired
		var x schemas.ApprovalExpired
		if err := e.Decode(&x); err != nil {
			return Ignored, nil, err
		}
		a, ok := s.known(topic, x.ApprovalID, e, at)
		if !ok {
			return Ignored, nil, nil
		}
		return s.close(a, closing{topic: topic, outcome: Expired, at: at, instance: e.Gateway.Instance, id: e.ID})
	}
}

// known returns the approval with id, or holds e until its request arrives.
func (s *State) known(topic Topic, id string, e schemas.Event, at time.Time) (*Approval, bool) {
	if a, ok := s.approvals[id]; ok {
		return a, true
	}
	s.early[id] = append(s.early[id], held{topic: topic, e: e, at: at})
	s.orphans++
	return nil, false
}

func (s *State) requested(e schemas.Event, at time.Time) (Change, *Approval, error) {
	var r schemas.ApprovalRequested
	if err := e.Decode(&r); err != nil {
		return Ignored, nil, err
	}
	if r.ApprovalID == "" {
		return Ignored, nil, errors.New("approval_id is empty")
	}
	exp, err := schemas.ParseTime(r.Expires)
	if err != nil {
		return Ignored, nil, err
	}
	if a, ok := s.approvals[r.ApprovalID]; ok {
		return Ignored, a, nil
	}
	a := &Approval{ID: r.ApprovalID, Request: r, RequestHash: e.Hash, RequestedAt: at, Expires: exp, Outcome: Pending}
	s.approvals[r.ApprovalID] = a
	early := s.early[r.ApprovalID]
	delete(s.early, r.ApprovalID)
	s.orphans -= len(early)
	for _, h := range early {
		if _, _, err := s.apply(h.topic, h.e, h.at); err != nil {
			s.rejected++ // e.g. a decision signed for another request: rejected now that the request is known
		}
	}
	// One change stands for the request and what was held for it, the strongest first, so the caller's
	// side effects (claim, post, message update) follow the approval as it is now.
	switch {
	case !a.IsPending():
		return Closed, a, nil
	case a.Message != nil:
		return Notified, a, nil
	case a.Claim != nil:
		return Claimed, a, nil
	}
	return Requested, a, nil
}

func (s *State) notified(a *Approval, n schemas.ApprovalNotified, e schemas.Event, at time.Time) (Change, *Approval, error) {
	if n.MessageTS == "" { // a claim
		if a.Message != nil {
			return Ignored, a, nil
		}
		if a.Claim != nil && at.Sub(a.Claim.At) < s.lease {
			return Ignored, a, nil
		}
		if a.Claim != nil {
			a.Takeover = true
		} else {
			a.FirstClaimAt = at
		}
		a.Claim = &Claim{Instance: e.Gateway.Instance, At: at, EventID: e.ID}
		return Claimed, a, nil
	}
	if a.Message != nil {
		a.Duplicates++
		return Ignored, a, nil
	}
	a.Message = &Message{Channel: n.Channel, TS: n.MessageTS, Instance: e.Gateway.Instance, EventID: e.ID}
	return Notified, a, nil
}

// close records a valid closing event and works out again which one counts. It returns Closed when the
// outcome or the counting event changed.
func (s *State) close(a *Approval, c closing) (Change, *Approval, error) {
	before := a.ClosedID
	a.closings = append(a.closings, c)
	w, ok := a.winner()
	if !ok {
		return Ignored, a, nil
	}
	a.Outcome, a.Decision = w.outcome, w.decision
	a.ClosedAt, a.ClosedBy, a.ClosedID = w.at, w.instance, w.id
	a.Conflict = len(a.closings) - 1
	if a.ClosedID == before {
		return Ignored, a, nil
	}
	return Closed, a, nil
}

// byGateway reports whether c was written by the gateway holding the statement: its client's withdrawal,
// or an expiry in the name of the request's gateway instance.
func (a *Approval) byGateway(c closing) bool {
	if c.outcome == Withdrawn && c.decision.By == schemas.DecidedByClient {
		return true
	}
	return c.outcome == Expired && a.Request.GatewayInst != "" && c.instance == a.Request.GatewayInst
}

// winner is the closing event that counts (package doc). It depends only on the order of closings within
// each topic.
func (a *Approval) winner() (closing, bool) {
	for _, t := range []Topic{OnApprovals, OnDecisions} {
		for i, c := range a.closings {
			if c.topic != t || !a.byGateway(c) {
				continue
			}
			// The gateway's own closing event, unless a decision came before it on its topic.
			for _, d := range a.closings[:i] {
				if d.topic == t {
					return d, true
				}
			}
			return c, true
		}
	}
	for _, t := range []Topic{OnApprovals, OnDecisions} {
		for _, c := range a.closings {
			if c.topic == t {
				return c, true
			}
		}
	}
	return closing{}, false
}

func copyOf(a *Approval) *Approval {
	c := *a
	if a.Claim != nil {
		cl := *a.Claim
		c.Claim = &cl
	}
	if a.Message != nil {
		m := *a.Message
		c.Message = &m
	}
	c.closings = slices.Clone(a.closings)
	return &c
}

// Get returns a copy of the approval with id.
func (s *State) Get(id string) (*Approval, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.approvals[id]
	if !ok {
		return nil, false
	}
	return copyOf(a), true
}

// Pending returns copies of every pending approval, oldest request first.
func (s *State) Pending() []*Approval {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Approval
	for _, a := range s.approvals {
		if a.IsPending() {
			out = append(out, copyOf(a))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RequestedAt.Before(out[j].RequestedAt) })
	return out
}

// Stats counts what the state holds, for metrics.
type Stats struct {
	Approvals, Pending, Orphans, Rejected, Conflicts, Duplicates int
}

// Stats returns counts over all approvals.
func (s *State) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{Approvals: len(s.approvals), Orphans: s.orphans, Rejected: s.rejected}
	for _, a := range s.approvals {
		if a.IsPending() {
			st.Pending++
		}
		st.Conflicts += a.Conflict
		st.Duplicates += a.Duplicates
	}
	return st
}

// ShouldClaim reports whether an instance should write a claim for a, at local time now: the approval is
// pending, has no message, and has no claim or only one older than the lease.
func (s *State) ShouldClaim(a *Approval, now time.Time) bool {
	if !a.IsPending() || a.Message != nil {
		return false
	}
	return a.Claim == nil || now.Sub(a.Claim.At) >= s.lease
}
