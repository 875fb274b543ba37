// Package state is the approver's event-sourced view of every approval: it is built only by applying the
// events of the approvals topic in log order, so a restarted approver that replays the topic reaches the same
// state as one that never stopped (docs/invariants.md, invariant 5).
//
// Rules, applied per approval (all its events share a partition, so every reader sees them in one order):
//
//   - approval.requested opens it. A duplicate request for a known id is ignored.
//   - approval.notified with an empty message_ts is a claim: the approver instance named in the envelope
//     ("gateway.instance") announces that it alone will post the request to Slack. The first claim wins.
//     A later claim wins only if no message was recorded and the claim it replaces is at least Lease older
//     (by event time): its writer is presumed dead between claim and post.
//   - approval.notified with a message_ts records the Slack message. The first one wins; a later one (a
//     double post after a crash inside the lease window) is counted as a duplicate.
//   - approval.decided or approval.expired closes it. Only the first closing event counts; later ones are
//     counted as conflicts and change nothing. Closing events for unknown ids are ignored (orphans).
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
	"sort"
	"sync"
	"time"

	"github.com/pangate/pangate/schemas"
)

// Outcomes of a closed approval.
const (
	Pending   = ""
	Approved  = "approved"
	Denied    = "denied"
	Expired   = "expired"
	Withdrawn = "withdrawn"
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
	Conflict int    // closing events after the first
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
	orphans   int
	rejected  int
}

// New returns an empty State.
func New(cfg Config) *State {
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	return &State{lease: cfg.Lease, keys: cfg.DecisionKeys, approvals: make(map[string]*Approval)}
}

// Lease returns the claim lease in force.
func (s *State) Lease() time.Duration { return s.lease }

// ApplyRecord parses a record value and applies it.
func (s *State) ApplyRecord(value []byte) (Change, *Approval, error) {
	e, err := schemas.Parse(value)
	if err != nil {
		s.reject()
		return Ignored, nil, fmt.Errorf("%w: %v", ErrRejected, err)
	}
	return s.Apply(e)
}

func (s *State) reject() {
	s.mu.Lock()
	s.rejected++
	s.mu.Unlock()
}

// Apply applies one event and returns what changed and, unless the event was rejected, a copy of the
// approval it concerns (nil for orphans and other types).
func (s *State) Apply(e schemas.Event) (Change, *Approval, error) {
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
	var (
		ch  Change
		a   *Approval
		bad error
	)
	switch e.Type {
	case schemas.TypeApprovalRequested:
		ch, a, bad = s.requested(e, at)
	case schemas.TypeApprovalNotified:
		ch, a, bad = s.notified(e, at)
	case schemas.TypeApprovalDecided:
		ch, a, bad = s.decided(e, at)
	case schemas.TypeApprovalExpired:
		ch, a, bad = s.expired(e, at)
	}
	if bad != nil {
		s.rejected++
		return Ignored, nil, fmt.Errorf("%w: %s event %s: %v", ErrRejected, e.Type, e.ID, bad)
	}
	if a == nil {
		return ch, nil, nil
	}
	c := copyOf(a)
	return ch, c, nil
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
	a := &Approval{ID: r.ApprovalID, Request: r, RequestHash: e.Hash, RequestedAt: at, Expires: exp}
	s.approvals[r.ApprovalID] = a
	return Requested, a, nil
}

func (s *State) notified(e schemas.Event, at time.Time) (Change, *Approval, error) {
	var n schemas.ApprovalNotified
	if err := e.Decode(&n); err != nil {
		return Ignored, nil, err
	}
	a, ok := s.approvals[n.ApprovalID]
	if !ok {
		s.orphans++
		return Ignored, nil, nil
	}
	if n.MessageTS == "" { // a claim
		if a.Message != nil || !a.IsPending() {
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

func (s *State) decided(e schemas.Event, at time.Time) (Change, *Approval, error) {
	var d schemas.ApprovalDecided
	if err := e.Decode(&d); err != nil {
		return Ignored, nil, err
	}
	switch d.Decision {
	case Approved, Denied, Withdrawn:
	default:
		return Ignored, nil, fmt.Errorf("decision %q is not approved, denied or withdrawn", d.Decision)
	}
	a, ok := s.approvals[d.ApprovalID]
	if !ok {
		s.orphans++
		return Ignored, nil, nil
	}
	if s.keys != nil && (d.Decision != Withdrawn || d.By != "client") {
		if err := schemas.VerifyDecision(d, s.keys, a.RequestHash); err != nil {
			return Ignored, nil, err
		}
	}
	if !a.IsPending() {
		a.Conflict++
		return Ignored, a, nil
	}
	a.Outcome, a.Decision = d.Decision, d
	a.ClosedAt, a.ClosedBy, a.ClosedID = at, e.Gateway.Instance, e.ID
	return Closed, a, nil
}

func (s *State) expired(e schemas.Event, at time.Time) (Change, *Approval, error) {
	var x schemas.ApprovalExpired
	if err := e.Decode(&x); err != nil {
		return Ignored, nil, err
	}
	a, ok := s.approvals[x.ApprovalID]
	if !ok {
		s.orphans++
		return Ignored, nil, nil
	}
	if !a.IsPending() {
		a.Conflict++
		return Ignored, a, nil
	}
	a.Outcome = Expired
	a.ClosedAt, a.ClosedBy, a.ClosedID = at, e.Gateway.Instance, e.ID
	return Closed, a, nil
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
