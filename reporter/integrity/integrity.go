// Package integrity verifies, from the raw events alone, that the audit trail of a period is complete and
// unaltered (PCI DSS 10.3.4, 10.7): every session's SHA-256 chain, every gateway run's chain of signed
// checkpoints, that every session is covered by a checkpoint of its gateway, and that no gateway was silent
// for longer than its checkpoint interval. Every finding names the session, gateway, sequence numbers and
// times that show it, so the report is evidence and not just a verdict.
//
// Events are streamed: the Checker keeps a summary of the open session only, never the events, so a month
// of events fits in memory. Feed the checkpoints first (New), then every event grouped by session in log
// order. With Config.Listed set (sessions in ascending id order, as query.StreamRecords delivers them) a
// closed session leaves nothing behind unless it has something to resolve at the end (no session.ended, or
// a last event no checkpoint lists yet); without it the Checker remembers every session id to enforce the
// grouping. docs/evidence.md ("Memory") has the figures.
package integrity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pangate/pangate/schemas"
)

// Finding kinds.
const (
	KindEdited            = "event_edited"             // an event's hash does not match its contents
	KindMissing           = "event_missing"            // seq numbers absent from a session
	KindReordered         = "event_reordered"          // seq out of order or repeated
	KindBrokenLink        = "chain_broken"             // prev does not link to the previous event's hash
	KindHeadMismatch      = "checkpoint_head_mismatch" // a checkpointed head's hash differs from the stored event
	KindSessionMissing    = "session_missing"          // a session a checkpoint lists has no events in the store
	KindNotCheckpointed   = "session_not_checkpointed" // a session's last event is not covered by any checkpoint
	KindCheckpointMissing = "checkpoint_missing"       // checkpoint numbers absent from a gateway run
	KindCheckpointChain   = "checkpoint_chain_broken"  // a checkpoint's prev does not link
	KindCheckpointSig     = "checkpoint_signature"     // a checkpoint's signature does not verify
	KindUnknownKey        = "checkpoint_key_unknown"   // no public key configured for a run's key id
	KindLoggingGap        = "logging_gap"              // a gateway silent for longer than its interval (10.7)
	KindRunCrashed        = "gateway_run_crashed"      // a run ended without gateway.stopped and the instance restarted (10.7)
	KindRenumbered        = "checkpoint_renumbered"    // one number signed twice by the gateway itself after a Kafka outage
	KindUndecodable       = "checkpoint_undecodable"   // a gateway.checkpoint event whose data does not parse
	// KindSessionCrashed: a session ended without session.ended and a reaper recorded it (session.reaped):
	// with audit.reads pipelined the record of one read after the named seq may be missing (10.7).
	KindSessionCrashed = "session_ended_by_crash"
	// KindReapedMismatch: the store holds fewer events of a session than the reaper read back from Kafka
	// (failure: deleted since), or more (warning: its gateway was still writing when it was reaped).
	KindReapedMismatch = "session_reaped_mismatch"
)

// Severities.
const (
	Failure = "failure" // evidence of tampering or loss
	Warning = "warning" // needs review, not proof of tampering (a logging gap, a crash, a head not yet checkpointed)
)

// Incident kinds: logging gaps PCI DSS 10.7 wants reported with start, end and cause. They are not
// tampering: a gap inside a run has gapless, validly signed checkpoint numbering on both sides, and a crash
// is a run that ended without gateway.stopped followed by a new run (new run id, its own chain from 0).
const (
	IncidentCrash   = "crash"   // run ended without gateway.stopped; the instance started a new run
	IncidentOutage  = "outage"  // consecutive checkpoints of one run further apart than the interval allows
	IncidentSilence = "silence" // an open run stopped checkpointing before the period (or now) ended
	// IncidentSessionCrashed: a session ended by its gateway's crash, recorded by a reaper (session.reaped);
	// in pipelined mode the record of at most one read after its last acknowledged seq may be missing.
	IncidentSessionCrashed = "session_crashed"
)

// Incident is one logging gap.
type Incident struct {
	Kind    string `json:"kind"`
	Gateway string `json:"gateway"`
	Run     string `json:"run"`
	NextRun string `json:"next_run,omitempty"` // crash: the run that followed
	Start   string `json:"start"`              // last evidence before the gap
	End     string `json:"end"`                // first evidence after it (or the period end)
	Cause   string `json:"cause"`
	// Unconfirmed lists the sessions whose last events no checkpoint confirms because of the gap (their
	// chains verify; only the gateway's signed confirmation is missing).
	Unconfirmed []string `json:"unconfirmed_sessions,omitempty"`
	// Session, LastSeq and Unrecorded (session_crashed): the session, its last acknowledged seq and the most
	// statements (reads) it may have run after it without a record.
	Session    string `json:"session,omitempty"`
	LastSeq    uint64 `json:"last_seq,omitempty"`
	Unrecorded int64  `json:"unrecorded,omitempty"`
}

// Finding is one problem, with the evidence that shows it.
type Finding struct {
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Gateway  string `json:"gateway,omitempty"`
	Run      string `json:"run,omitempty"`
	Session  string `json:"session,omitempty"`
	Seq      string `json:"seq,omitempty"` // one number or a range "3-7"
	EventID  string `json:"event_id,omitempty"`
	From     string `json:"from,omitempty"` // times bounding the evidence
	To       string `json:"to,omitempty"`
	Detail   string `json:"detail"`
}

// Run summarises one gateway run's checkpoints.
type Run struct {
	Gateway     string `json:"gateway"`
	Run         string `json:"run"`
	KeyID       string `json:"key_id"`
	IntervalMS  int64  `json:"interval_ms"`
	Checkpoints int    `json:"checkpoints"`
	First       uint64 `json:"first_number"`
	Last        uint64 `json:"last_number"`
	FirstTo     string `json:"first_to"`
	LastTo      string `json:"last_to"`
	Verified    bool   `json:"signatures_verified"` // every checkpoint's signature checked with a configured key
	Stopped     bool   `json:"stopped"`             // a gateway.stopped event was seen
	Crashed     bool   `json:"crashed,omitempty"`   // ended without gateway.stopped, the instance started a later run
}

// Report is the integrity report of a period.
type Report struct {
	From       string `json:"from"`
	To         string `json:"to"`
	Sessions   int    `json:"sessions"` // chains checked: client sessions and gateway runs (RunChains of them)
	RunChains  int    `json:"gateway_run_chains"`
	SessionsOK int    `json:"sessions_ok"`
	Events     int64  `json:"events"`
	Standalone int64  `json:"standalone_events"` // unchained approval, report and retention records
	// InPeriod counts the events whose time is in the period, by type (the stream also holds the parts of
	// sessions outside it); Gateways lists the instances with gateway lifecycle events in the period.
	InPeriod        map[string]int64 `json:"events_in_period"`
	Gateways        []string         `json:"gateways"`
	Runs            []Run            `json:"runs"`
	Incidents       []Incident       `json:"incidents"`
	Findings        []Finding        `json:"findings"`
	Failures        int              `json:"failures"`
	Warnings        int              `json:"warnings"`
	OK              bool             `json:"ok"`
	SessionsChecked []string         `json:"-"` // ids of sessions with a finding, for linking transcripts
}

// Config of a Checker.
type Config struct {
	From, To time.Time
	// Keys are the gateways' checkpoint public keys, by schemas.KeyID. A run whose key is not here gets a
	// KindUnknownKey warning and its signatures are not checked.
	Keys map[string]ed25519.PublicKey
	// Tolerance is added to a run's checkpoint interval before a silence counts as a logging gap; default
	// half the interval.
	Tolerance time.Duration
	// Now bounds the end of an open run; default time.Now.
	Now func() time.Time
	// Listed, when set, reports whether the stream holds a session (the caller's list of the sessions it
	// streams, for example by binary search in query.Sessions' sorted result). The Checker then requires
	// sessions in strictly ascending id order (ErrOrder otherwise) and keeps no set of the sessions seen:
	// its retained state does not grow with the number of closed sessions.
	Listed func(session string) bool
}

// ErrConfig is returned by Validate.
var ErrConfig = errors.New("integrity: invalid config")

// Validate checks the period.
func (c Config) Validate() error {
	if c.From.IsZero() || c.To.IsZero() || !c.From.Before(c.To) {
		return fmt.Errorf("%w: period [%v, %v) is empty or unset: set From before To", ErrConfig, c.From, c.To)
	}
	return nil
}

type head struct {
	seq  uint64
	hash string
	cp   string // "gateway/run#number"
	at   string
	inst string
}

type sessionState struct {
	id        string
	instance  string
	run       string // session.started's run, when the gateway wrote one
	firstTime time.Time
	events    int64
	expect    uint64
	prevHash  string
	lastSeq   uint64
	lastHash  string
	lastTime  time.Time
	bad       bool
	isRun     bool
	stopped   bool
	gwStarted bool
	ended     bool // session.ended seen
}

// reapedRec is a session.reaped seen on a run chain, matched with its session in Finish.
type reapedRec struct {
	r     schemas.SessionReaped
	by    string // the reaping gateway instance
	at    string // the event's time
	event string
}

// openSession is a client session whose chain has no session.ended: what Finish needs to judge a reaper's
// record of it.
type openSession struct {
	lastSeq  uint64
	lastHash string
	lastTime time.Time
}

// uncovered is a session whose last event no checkpoint lists, decided in Finish once every run is known.
type uncovered struct {
	id, instance, run   string
	firstTime, lastTime time.Time
	lastSeq             uint64
	covered             int  // highest checkpointed seq, -1 for none
	bad                 bool // a failure was found already
}

// runInfo is what Finish knows of one gateway run: from its checkpoints and its run chain.
type runInfo struct {
	id, instance string
	start        time.Time // gateway.started, else its first checkpoint's From
	lastTo       time.Time // its newest checkpoint's To (zero without one)
	lastEvent    time.Time // its run chain's newest event
	lastSeen     time.Time // newest event of its unconfirmed sessions
	stopped      bool
	next         *runInfo // the instance's following run
	unconfirmed  []string
}

// cpRec is what checkRun needs of one checkpoint, settled in New: its hash and signature are computed
// there (on all cores) and its session list goes into Checker.heads, so neither the list nor the event's
// data is kept (a month holds ~130k checkpoints of ~1 KB).
type cpRec struct {
	cp      schemas.Checkpoint // without Sessions and Signature
	to      time.Time
	id      string // the event id
	hash    string // SHA-256 of the event's canonical data bytes
	slow    string // schemas.CheckpointHash, computed only when the data is not proven canonical
	sigErr  error  // signature check with the run's configured key (not checked without one)
	checked bool
}

// settleCheckpoint decodes one gateway.checkpoint event and computes what needs nothing else: its hash and
// whether a configured key can check its signature. The signature itself is settled by AddCheckpoints
// (verify or covered).
func (c *Checker) settleCheckpoint(e schemas.Event) (cpRec, []schemas.SessionHead, error) {
	var cp schemas.Checkpoint
	if err := e.Decode(&cp); err != nil {
		return cpRec{}, nil, err
	}
	to, err := schemas.ParseTime(cp.To)
	if err != nil {
		to, _ = e.Timestamp()
	}
	r := cpRec{to: to, id: e.ID, hash: fastHash(e.Data)}
	_, r.checked = c.cfg.Keys[cp.KeyID]
	sessions := cp.Sessions
	cp.Sessions = nil
	r.cp = cp
	return r, sessions, nil
}

// verify checks r's signature over data (the event's data bytes) with the configured key of its KeyID. A
// signature that verifies over the bytes as stored also proves them canonical; otherwise
// schemas.VerifyCheckpoint decides over the re-encoded checkpoint, and the canonical hash is kept for the
// chain links (slowHash).
func (c *Checker) verify(r *cpRec, data []byte, sessions []schemas.SessionHead) {
	verifications.Add(1)
	if key := c.cfg.Keys[r.cp.KeyID]; !fastVerify(r.cp, data, key) {
		full := r.cp
		full.Sessions = sessions
		r.sigErr = schemas.VerifyCheckpoint(full, key)
		r.slow = slowHash(full)
	}
}

// verifications counts Ed25519 verifications (tests show that covered checkpoints are not verified).
var verifications atomic.Int64

// verifyAll, set by tests, verifies every checkpoint's signature (the reference the covering is compared
// with).
var verifyAll bool

// settleSignatures settles the signatures of one batch of checkpoints (recs[i] decoded from data[i], its
// session list in sessions[i]; ok[i] false for those that did not decode). A checkpoint is covered, and its signature not verified, when its
// successor in the batch (same run, next number, same key) has a valid or covered signature and its prev
// is the SHA-256 of this checkpoint's data bytes as stored: the gateway computed that prev over the
// canonical bytes it had signed (schemas.CheckpointHash), so the successor's signature vouches for every
// byte of this checkpoint, its signature included, and for their canonical form; a checkpoint edited or
// forged in any byte hashes differently, is not covered, and is verified (docs/evidence.md, "each gateway
// run's checkpoints"). Only the newest checkpoint of each linked stretch is verified, in parallel; a
// checkpoint whose successors all failed is verified in a second round. Checkpoints of keys not
// configured keep the canonical hash only (their signatures are not checked).
func (c *Checker) settleSignatures(recs []cpRec, data [][]byte, sessions [][]schemas.SessionHead, ok []bool) {
	type key struct {
		run    string
		number uint64
	}
	var byNum map[key][]int
	if !verifyAll {
		byNum = make(map[key][]int, len(recs))
		for i := range recs {
			if ok[i] && recs[i].checked {
				k := key{recs[i].cp.Run, recs[i].cp.Number}
				byNum[k] = append(byNum[k], i)
			}
		}
	}
	// succ[i]: the checkpoints whose signed prev vouches for checkpoint i's bytes.
	succ := func(i int) []int {
		var out []int
		r := &recs[i]
		for _, j := range byNum[key{r.cp.Run, r.cp.Number + 1}] {
			if recs[j].cp.KeyID == r.cp.KeyID && recs[j].cp.Prev == r.hash {
				out = append(out, j)
			}
		}
		return out
	}
	const (
		unsettled = iota
		valid     // verified, or covered by a valid successor
		invalid
		pending
	)
	state := make([]uint8, len(recs))
	var first []int
	for i := range recs {
		switch {
		case !ok[i]:
			state[i] = invalid
		case !recs[i].checked:
			state[i] = invalid
			full := recs[i].cp
			full.Sessions = sessions[i]
			recs[i].slow = slowHash(full) // the chain may link to the canonical hash instead
		case len(succ(i)) == 0:
			first = append(first, i)
		}
	}
	verifyEach := func(list []int) {
		parallel(len(list), func(n int) { c.verify(&recs[list[n]], data[list[n]], sessions[list[n]]) })
		for _, i := range list {
			if state[i] = valid; recs[i].sigErr != nil {
				state[i] = invalid
			}
		}
	}
	verifyEach(first)
	// Newest first, so a successor is settled (or pending) before its predecessor is looked at.
	order := make([]int, 0, len(recs))
	for i := range recs {
		if state[i] == unsettled {
			order = append(order, i)
		}
	}
	sort.Slice(order, func(a, b int) bool {
		ra, rb := &recs[order[a]].cp, &recs[order[b]].cp
		if ra.Run != rb.Run {
			return ra.Run < rb.Run
		}
		return ra.Number > rb.Number
	})
	var second []int
	for _, i := range order {
		state[i] = pending
		for _, j := range succ(i) {
			if state[j] == valid {
				state[i] = valid
				break
			}
		}
		if state[i] == pending {
			second = append(second, i)
		}
	}
	verifyEach(second)
}

// Checker verifies one period. Not safe for concurrent use.
type Checker struct {
	cfg      Config
	report   Report
	heads    map[string][]head // session → heads listed by checkpoints
	runs     map[string][]cpRec
	runIDs   map[string]bool
	lastCP   map[string]time.Time // instance → time of its newest checkpoint
	cur      *sessionState
	seen     map[string]bool // without Config.Listed: every session streamed
	lastID   string          // with Config.Listed: the newest session, for the ascending-order check
	badSess  map[string]bool
	stopped  map[string]bool // run → gateway.stopped seen
	gateways map[string]bool
	// runStart and runLast: run chains seen in the stream (the run id is the run chain's session id).
	runStart  map[string]time.Time
	runInst   map[string]string
	runLast   map[string]time.Time
	uncovered []uncovered
	// reaped: session.reaped records by session; open: client sessions without session.ended (a session
	// seen and not open has one).
	reaped map[string][]reapedRec
	open   map[string]openSession
}

// New starts a check. checkpoints are the gateway.checkpoint events of the period (and a margin after it,
// so sessions ending near the end are covered), in any order.
func New(cfg Config, checkpoints []schemas.Event) (*Checker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Checker{cfg: cfg, heads: map[string][]head{}, runs: map[string][]cpRec{}, runIDs: map[string]bool{},
		lastCP: map[string]time.Time{}, seen: map[string]bool{}, badSess: map[string]bool{}, stopped: map[string]bool{}, gateways: map[string]bool{},
		runStart: map[string]time.Time{}, runInst: map[string]string{}, runLast: map[string]time.Time{},
		reaped: map[string][]reapedRec{}, open: map[string]openSession{}}
	c.report.InPeriod = map[string]int64{}
	c.report.From, c.report.To = schemas.FormatTime(cfg.From), schemas.FormatTime(cfg.To)
	c.AddCheckpoints(checkpoints)
	return c, nil
}

func (c *Checker) add(f Finding) {
	if f.Severity == Failure {
		c.report.Failures++
	} else {
		c.report.Warnings++
	}
	if f.Session != "" && !c.badSess[f.Session] {
		c.badSess[f.Session] = true
		c.report.SessionsChecked = append(c.report.SessionsChecked, f.Session)
	}
	c.report.Findings = append(c.report.Findings, f)
}

// streamed reports whether session id was in the stream.
func (c *Checker) streamed(id string) bool {
	if c.cfg.Listed != nil {
		return c.cfg.Listed(id)
	}
	return c.seen[id]
}

// Retained is the number of per-session entries the Checker holds beyond the open session: sessions left
// to resolve at Finish (no session.ended, a last event not yet checkpointed), session ids remembered for
// the grouping check (without Config.Listed) and checkpoint heads of sessions not streamed yet. Tests use
// it to show that state does not grow with the number of closed sessions.
func (c *Checker) Retained() int {
	return len(c.open) + len(c.uncovered) + len(c.seen) + len(c.heads)
}

// AddCheckpoints adds gateway.checkpoint events (other types are ignored) before the first Add: New's
// list, or batches of it streamed (query.StreamCheckpoints), so a month's checkpoints are never all
// decoded at once. Each is settled (hash, signature, canonical form) on all cores and kept compact.
func (c *Checker) AddCheckpoints(checkpoints []schemas.Event) {
	type settled struct {
		r        cpRec
		sessions []schemas.SessionHead
		err      error
	}
	res := make([]settled, len(checkpoints))
	parallel(len(checkpoints), func(i int) {
		if e := checkpoints[i]; e.Type == schemas.TypeGatewayCheckpoint {
			res[i].r, res[i].sessions, res[i].err = c.settleCheckpoint(e)
		}
	})
	// Signatures are the expensive part (one Ed25519 verification each): only those no signed successor
	// vouches for are verified, on all cores.
	recs := make([]cpRec, len(checkpoints))
	data := make([][]byte, len(checkpoints))
	sessions := make([][]schemas.SessionHead, len(checkpoints))
	ok := make([]bool, len(checkpoints))
	for i, e := range checkpoints {
		ok[i] = e.Type == schemas.TypeGatewayCheckpoint && res[i].err == nil
		recs[i], data[i], sessions[i] = res[i].r, e.Data, res[i].sessions
	}
	c.settleSignatures(recs, data, sessions, ok)
	for i, e := range checkpoints {
		if e.Type != schemas.TypeGatewayCheckpoint {
			continue
		}
		if err := res[i].err; err != nil {
			c.add(Finding{Kind: KindUndecodable, Severity: Failure, Gateway: e.Gateway.Instance, Session: e.Session,
				Seq: fmt.Sprint(e.Seq), EventID: e.ID, Detail: err.Error()})
			continue
		}
		r := recs[i]
		r.cp.Signature = ""
		cp := r.cp
		c.runs[cp.Run] = append(c.runs[cp.Run], r)
		c.runIDs[cp.Run] = true
		if r.to.After(c.lastCP[cp.Instance]) {
			c.lastCP[cp.Instance] = r.to
		}
		ref := fmt.Sprintf("%s/%s#%d", cp.Instance, cp.Run, cp.Number)
		for _, h := range res[i].sessions {
			c.heads[h.Session] = append(c.heads[h.Session], head{seq: h.Seq, hash: h.Hash, cp: ref, at: cp.To, inst: cp.Instance})
		}
		res[i] = settled{}
	}
}

// ErrOrder is returned by Add when a session's events are not contiguous in the stream.
var ErrOrder = errors.New("integrity: events must be grouped by session")

// Add checks the next event, recomputing its hash. Events of one session must be contiguous, in log order.
func (c *Checker) Add(e schemas.Event) error {
	h, err := schemas.HashEvent(e)
	if err != nil {
		h = "unhashable: " + err.Error()
	}
	return c.AddHashed(e, h)
}

// AddHashed is Add with the hash already recomputed by the caller (for example in parallel, with
// RecomputeRaw); recomputed is compared with e.Hash.
func (c *Checker) AddHashed(e schemas.Event, recomputed string) error {
	t, terr := eventTime(e.Time)
	if terr == nil && !t.Before(c.cfg.From) && t.Before(c.cfg.To) {
		typ := e.Type
		if typ == schemas.TypeApprovalRequested && Standalone(e) {
			// The approvals-topic copy of the request the session chain holds: counted apart, so each
			// request counts once under its type (issue 15.5).
			typ = ApprovalsTopicCopy
		}
		c.report.InPeriod[typ]++
		switch e.Type {
		case schemas.TypeGatewayStarted, schemas.TypeGatewayCheckpoint, schemas.TypeGatewayStopped:
			if !c.gateways[e.Gateway.Instance] {
				c.gateways[e.Gateway.Instance] = true
				c.report.Gateways = append(c.report.Gateways, e.Gateway.Instance)
			}
		}
	}
	if Standalone(e) {
		// Unchained records (approvals topic, reporter and retention runs) stand alone: only their hash counts.
		c.report.Events++
		c.report.Standalone++
		if recomputed != e.Hash {
			c.add(Finding{Kind: KindEdited, Severity: Failure, Gateway: e.Gateway.Instance, Session: e.Session, Seq: "0",
				EventID: e.ID, From: e.Time, Detail: fmt.Sprintf("unchained %s event hash %s does not match its contents (recomputed %s): the event was edited", e.Type, short(e.Hash), short(recomputed))})
		}
		return nil
	}
	if c.cur == nil || c.cur.id != e.Session {
		if c.cfg.Listed != nil {
			if c.cur != nil && e.Session <= c.lastID {
				return fmt.Errorf("%w: session %s follows session %s: with Config.Listed sessions must come in ascending id order", ErrOrder, e.Session, c.lastID)
			}
		} else if c.seen[e.Session] {
			return fmt.Errorf("%w: session %s appears again after other sessions", ErrOrder, e.Session)
		}
		c.flush()
		// A clone: e.Session may point into a whole raw record, which the summary must not keep alive.
		id := strings.Clone(e.Session)
		if c.cfg.Listed != nil {
			c.lastID = id
		} else {
			c.seen[id] = true
		}
		c.cur = &sessionState{id: id, instance: strings.Clone(e.Gateway.Instance), prevHash: schemas.GenesisPrev,
			isRun: c.runIDs[e.Session] || e.Type == schemas.TypeGatewayStarted}
	}
	s := c.cur
	c.report.Events++
	s.events++
	if s.events == 1 {
		s.firstTime = t
	}
	switch e.Type {
	case schemas.TypeSessionStarted:
		var ss struct {
			Run string `json:"run"`
		}
		if e.Decode(&ss) == nil {
			s.run = ss.Run
		}
	case schemas.TypeGatewayStarted:
		s.isRun = true
		c.runStart[s.id], c.runInst[s.id] = t, s.instance
	case schemas.TypeSessionEnded:
		s.ended = true
	case schemas.TypeSessionReaped:
		var r schemas.SessionReaped
		if e.Decode(&r) == nil && r.Session != "" {
			c.reaped[r.Session] = append(c.reaped[r.Session], reapedRec{r: r, by: strings.Clone(e.Gateway.Instance), at: strings.Clone(e.Time), event: strings.Clone(e.ID)})
		}
	}
	if s.isRun && t.After(c.runLast[s.id]) {
		c.runLast[s.id] = t
	}
	fail := func(kind, seq, detail string) {
		s.bad = true
		c.add(Finding{Kind: kind, Severity: Failure, Gateway: e.Gateway.Instance, Session: e.Session, Seq: seq,
			EventID: e.ID, From: e.Time, Detail: detail})
	}
	if recomputed != e.Hash {
		fail(KindEdited, fmt.Sprint(e.Seq), fmt.Sprintf("%s event hash %s does not match its contents (recomputed %s): the event was edited after it was written", e.Type, e.Hash, recomputed))
	}
	linkExplained := false
	switch {
	case e.Seq == s.expect:
	case e.Seq > s.expect:
		rng := fmt.Sprint(s.expect)
		if e.Seq-1 > s.expect {
			rng = fmt.Sprintf("%d-%d", s.expect, e.Seq-1)
		}
		from := ""
		if !s.lastTime.IsZero() {
			from = schemas.FormatTime(s.lastTime)
		}
		s.bad = true
		c.add(Finding{Kind: KindMissing, Severity: Failure, Gateway: e.Gateway.Instance, Session: e.Session, Seq: rng,
			EventID: e.ID, From: from, To: e.Time,
			Detail: fmt.Sprintf("%d event(s) with seq %s absent before %s seq %d (its prev %s)", e.Seq-s.expect, rng, e.Type, e.Seq, short(e.Prev))})
		linkExplained = true
	default:
		fail(KindReordered, fmt.Sprint(e.Seq), fmt.Sprintf("%s seq %d follows seq %d in the log: reordered or duplicated", e.Type, e.Seq, s.expect-1))
		linkExplained = true
	}
	if e.Prev != s.prevHash && !linkExplained {
		fail(KindBrokenLink, fmt.Sprint(e.Seq), fmt.Sprintf("prev %s does not link to the hash %s of seq %d", short(e.Prev), short(s.prevHash), s.lastSeq))
	}
	for _, h := range c.heads[e.Session] {
		if h.seq == e.Seq && h.hash != e.Hash {
			fail(KindHeadMismatch, fmt.Sprint(e.Seq), fmt.Sprintf("checkpoint %s lists head seq %d with hash %s, the stored event has %s", h.cp, h.seq, short(h.hash), short(e.Hash)))
		}
	}
	switch e.Type {
	case schemas.TypeGatewayStopped:
		c.stopped[s.id] = true
	}
	s.expect = e.Seq + 1
	s.prevHash = e.Hash
	s.lastSeq, s.lastHash, s.lastTime = e.Seq, e.Hash, t
	return nil
}

// eventTime parses an event's time: the fixed layout schemas.TimeLayout digit by digit (time.Parse took
// 5 % of the integrity stage's CPU at 10M events), anything else through schemas.ParseTime.
func eventTime(s string) (time.Time, error) {
	const layout = schemas.TimeLayout // 2006-01-02T15:04:05.000000Z
	if len(s) != len(layout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[26] != 'Z' {
		return schemas.ParseTime(s)
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d, h, mi, se, us := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2), num(20, 6)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59 || us < 0 {
		return schemas.ParseTime(s)
	}
	t := time.Date(y, time.Month(mo), d, h, mi, se, us*1000, time.UTC)
	if t.Day() != d {
		return schemas.ParseTime(s) // 31 February and the like: time.Parse says what is wrong
	}
	return t, nil
}

// ApprovalsTopicCopy is the count key of approval.requested records on the approvals topic: copies of the
// approval.requested events in the session chains.
const ApprovalsTopicCopy = "approval.requested.approvals_topic_copy"

// Standalone reports whether e is an unchained record (written with schemas.NewUnchained): approvals-topic
// events, the reporter's report.generated and the indexer's retention.dropped. These are checked by hash
// alone; they belong to no session chain and no checkpoint.
func Standalone(e schemas.Event) bool {
	if e.Seq != 0 || e.Prev != schemas.GenesisPrev {
		return false
	}
	switch e.Type {
	case schemas.TypeApprovalRequested, schemas.TypeApprovalNotified, schemas.TypeApprovalDecided,
		schemas.TypeApprovalExpired, schemas.TypeApprovalRejected, schemas.TypeReportGenerated, schemas.TypeRetentionDropped:
		return true
	}
	return false
}

// flush closes the current session: coverage by checkpoints.
func (c *Checker) flush() {
	s := c.cur
	if s == nil {
		return
	}
	c.cur = nil
	c.report.Sessions++
	if s.isRun {
		c.report.RunChains++
	} else if !s.ended {
		// Sessions without session.ended are few (crashes, sessions still open at the period's end).
		// A clone: the hash may point into the session's last raw record.
		c.open[s.id] = openSession{lastSeq: s.lastSeq, lastHash: strings.Clone(s.lastHash), lastTime: s.lastTime}
	}
	heads := c.heads[s.id]
	// A session's heads are done with once it closed: what is left in c.heads at Finish was never streamed.
	delete(c.heads, s.id)
	var maxHead *head
	for i := range heads {
		if maxHead == nil || heads[i].seq > maxHead.seq {
			maxHead = &heads[i]
		}
	}
	if maxHead != nil && maxHead.seq > s.lastSeq {
		s.bad = true
		c.add(Finding{Kind: KindMissing, Severity: Failure, Gateway: s.instance, Session: s.id,
			Seq: fmt.Sprintf("%d-%d", s.lastSeq+1, maxHead.seq), From: schemas.FormatTime(s.lastTime), To: maxHead.at,
			Detail: fmt.Sprintf("checkpoint %s lists head seq %d (hash %s) but the store ends at seq %d: the session's last events were deleted", maxHead.cp, maxHead.seq, short(maxHead.hash), s.lastSeq)})
	}
	if !s.isRun && (maxHead == nil || maxHead.seq < s.lastSeq) {
		covered := -1
		if maxHead != nil {
			covered = int(maxHead.seq)
		}
		// Decided in Finish, once every run of the gateway (and whether it stopped or crashed) is known.
		c.uncovered = append(c.uncovered, uncovered{id: s.id, instance: s.instance, run: s.run, firstTime: s.firstTime,
			lastTime: s.lastTime, lastSeq: s.lastSeq, covered: covered, bad: s.bad})
		return
	}
	if !s.bad {
		c.report.SessionsOK++
	}
}

// ackGrace is how long after an event's time a checkpoint may still miss it legitimately: the event's head
// is noted when Kafka acknowledges it (up to the gateway's hard timeout, ack_timeout + 1s) and a checkpoint
// built meanwhile lists it only next time.
const ackGrace = 10 * time.Second

// runs returns every run known from checkpoints or run chains, with each instance's runs linked in start
// order.
func (c *Checker) runInfos() map[string]*runInfo {
	runs := map[string]*runInfo{}
	get := func(id, inst string) *runInfo {
		r := runs[id]
		if r == nil {
			r = &runInfo{id: id, instance: inst, stopped: c.stopped[id], lastEvent: c.runLast[id]}
			runs[id] = r
		}
		return r
	}
	for id, recs := range c.runs {
		for _, rec := range recs {
			r := get(id, rec.cp.Instance)
			if from, err := schemas.ParseTime(rec.cp.From); err == nil && (r.start.IsZero() || from.Before(r.start)) {
				r.start = from
			}
			if rec.to.After(r.lastTo) {
				r.lastTo = rec.to
			}
		}
	}
	for id, t := range c.runStart {
		r := get(id, c.runInst[id])
		r.start = t
	}
	byInst := map[string][]*runInfo{}
	for _, r := range runs {
		byInst[r.instance] = append(byInst[r.instance], r)
	}
	for _, rs := range byInst {
		sort.Slice(rs, func(i, j int) bool { return rs[i].start.Before(rs[j].start) })
		for i := 0; i+1 < len(rs); i++ {
			rs[i].next = rs[i+1]
		}
	}
	return runs
}

// runOf returns the run a session belongs to: the one its session.started names, else the instance's
// latest run started before the session's first event (one process per instance name at a time).
func runOf(runs map[string]*runInfo, u uncovered) *runInfo {
	if r := runs[u.run]; r != nil {
		return r
	}
	var best *runInfo
	for _, r := range runs {
		if r.instance != u.instance || r.start.After(u.firstTime) {
			continue
		}
		if best == nil || r.start.After(best.start) {
			best = r
		}
	}
	return best
}

// resolveUncovered decides each session whose last event no checkpoint lists. Tampering (a failure): its own
// run, or without a known run its gateway, checkpointed well after the event without listing it. Otherwise
// it is unconfirmed (a warning): its run crashed, could not write its last checkpoint, or has not
// checkpointed yet.
func (c *Checker) resolveUncovered(runs map[string]*runInfo) {
	for _, u := range c.uncovered {
		sev, why := Warning, "no checkpoint of the gateway after it has been seen yet"
		r := runOf(runs, u)
		switch {
		case r == nil:
			if last, ok := c.lastCP[u.instance]; ok && last.After(u.lastTime.Add(ackGrace)) {
				sev, why = Failure, fmt.Sprintf("gateway %s checkpointed at %s, after it, without listing it: the events were not written by that gateway or the checkpoint was altered", u.instance, schemas.FormatTime(last))
			}
		case r.lastTo.After(u.lastTime.Add(ackGrace)):
			sev, why = Failure, fmt.Sprintf("its run %s of gateway %s checkpointed at %s, after it, without listing it: the events were not written by that gateway or the checkpoint was altered", r.id, u.instance, schemas.FormatTime(r.lastTo))
		case r.stopped:
			why = fmt.Sprintf("its run %s stopped without a checkpoint after it (the final checkpoint was not written): the events cannot be confirmed by the gateway", r.id)
			r.unconfirmed = append(r.unconfirmed, u.id)
		case r.next != nil:
			if u.lastTime.After(r.lastSeen) {
				r.lastSeen = u.lastTime
			}
			why = fmt.Sprintf("its run %s ended without gateway.stopped (crash) before checkpointing it; run %s followed at %s: the events cannot be confirmed by the gateway (see the crash incident)", r.id, r.next.id, schemas.FormatTime(r.next.start))
			r.unconfirmed = append(r.unconfirmed, u.id)
		default:
			r.unconfirmed = append(r.unconfirmed, u.id)
		}
		if sev != Failure && !u.bad {
			c.report.SessionsOK++
		}
		c.add(Finding{Kind: KindNotCheckpointed, Severity: sev, Gateway: u.instance, Session: u.id,
			Seq: fmt.Sprintf("%d", u.lastSeq), From: schemas.FormatTime(u.lastTime),
			Detail: fmt.Sprintf("last event seq %d is not covered by a checkpoint (highest checkpointed seq %d); %s", u.lastSeq, u.covered, why)})
	}
}

// Finish checks the checkpoint chains and gaps and returns the report.
func (c *Checker) Finish() *Report {
	c.flush()
	// Sessions a checkpoint lists that never appeared in the stream were deleted whole (flush removes the
	// heads of every session it closes).
	var missing []string
	for sess := range c.heads {
		missing = append(missing, sess)
	}
	sort.Strings(missing)
	for _, sess := range missing {
		hs := c.heads[sess]
		max := hs[0]
		for _, h := range hs {
			if h.seq > max.seq {
				max = h
			}
		}
		c.add(Finding{Kind: KindSessionMissing, Severity: Failure, Gateway: max.inst, Session: sess, Seq: fmt.Sprintf("0-%d", max.seq), To: max.at,
			Detail: fmt.Sprintf("checkpoint %s lists session %s with head seq %d (hash %s), but the store has no event of it: the session was deleted", max.cp, sess, max.seq, short(max.hash))})
	}
	runs := c.runInfos()
	c.resolveUncovered(runs)
	c.resolveReaped()
	runIDs := make([]string, 0, len(runs))
	for r := range runs {
		runIDs = append(runIDs, r)
	}
	sort.Strings(runIDs)
	for _, id := range runIDs {
		if recs := c.runs[id]; len(recs) > 0 {
			c.checkRun(id, recs, runs[id])
		} else {
			c.crashed(runs[id], nil)
		}
	}
	if c.report.Incidents == nil {
		c.report.Incidents = []Incident{}
	}
	sort.SliceStable(c.report.Findings, func(i, j int) bool {
		a, b := c.report.Findings[i], c.report.Findings[j]
		if a.Severity != b.Severity {
			return a.Severity == Failure
		}
		return false
	})
	c.report.OK = c.report.Failures == 0
	sort.Strings(c.report.Gateways)
	if c.report.Findings == nil {
		c.report.Findings = []Finding{}
	}
	return &c.report
}

// crashed reports run r as crashed if it ended without gateway.stopped and its instance started a later run:
// a KindRunCrashed warning and a crash incident (PCI DSS 10.7), not tampering. It reports whether it did.
func (c *Checker) crashed(r *runInfo, run *Run) bool {
	if r == nil || r.stopped || r.next == nil {
		return false
	}
	start := r.lastTo
	for _, t := range []time.Time{r.lastEvent, r.lastSeen} {
		if t.After(start) {
			start = t
		}
	}
	if run != nil {
		run.Crashed = true
	}
	cause := fmt.Sprintf("gateway %s run %s ended without gateway.stopped (process killed, crashed or lost its host); run %s started under the same instance name at %s with its own checkpoint chain",
		r.instance, r.id, r.next.id, schemas.FormatTime(r.next.start))
	if len(r.unconfirmed) > 0 {
		cause += fmt.Sprintf("; %d session(s) had events after the run's last checkpoint, which no checkpoint confirms", len(r.unconfirmed))
	}
	sort.Strings(r.unconfirmed)
	c.report.Incidents = append(c.report.Incidents, Incident{Kind: IncidentCrash, Gateway: r.instance, Run: r.id, NextRun: r.next.id,
		Start: schemas.FormatTime(start), End: schemas.FormatTime(r.next.start), Cause: cause, Unconfirmed: r.unconfirmed})
	c.add(Finding{Kind: KindRunCrashed, Severity: Warning, Gateway: r.instance, Run: r.id, From: schemas.FormatTime(start),
		To: schemas.FormatTime(r.next.start), Detail: cause + " (PCI DSS 10.7: logging gap)"})
	return true
}

func (c *Checker) checkRun(id string, recs []cpRec, info *runInfo) {
	sort.SliceStable(recs, func(i, j int) bool {
		if recs[i].cp.Number != recs[j].cp.Number {
			return recs[i].cp.Number < recs[j].cp.Number
		}
		return recs[i].to.Before(recs[j].to)
	})
	first := recs[0].cp
	run := Run{Gateway: first.Instance, Run: id, KeyID: first.KeyID, IntervalMS: first.IntervalMS, Checkpoints: len(recs),
		First: first.Number, Last: recs[len(recs)-1].cp.Number, FirstTo: first.To, LastTo: recs[len(recs)-1].cp.To,
		Stopped: c.stopped[id]}
	_, haveKey := c.cfg.Keys[first.KeyID]
	run.Verified = haveKey
	if !haveKey {
		c.add(Finding{Kind: KindUnknownKey, Severity: Warning, Gateway: first.Instance, Run: id,
			Detail: fmt.Sprintf("no public key configured for checkpoint key %s: signatures of run %s not checked (add the gateway's public key to gateway_keys)", first.KeyID, id)})
	}
	interval := time.Duration(first.IntervalMS) * time.Millisecond
	tol := c.cfg.Tolerance
	if tol <= 0 {
		tol = interval / 2
	}
	sigErrs := make([]error, len(recs))
	hashes := make([]string, len(recs))
	for i, r := range recs {
		hashes[i] = r.hash
		if haveKey {
			sigErrs[i] = r.sigErr
			if r.cp.KeyID != first.KeyID || !r.checked {
				sigErrs[i] = fmt.Errorf("checkpoint %d of run %s names key %s, not the run's key %s: not signed by the run's gateway", r.cp.Number, id, r.cp.KeyID, first.KeyID)
			}
		}
	}
	// byNumber holds every checkpoint hash of a number: after a Kafka outage a gateway before issue 14's fix
	// could sign one number twice, and the next checkpoint links to either.
	byNumber := map[uint64][]int{}
	for i, r := range recs {
		byNumber[r.cp.Number] = append(byNumber[r.cp.Number], i)
	}
	links := func(cp schemas.Checkpoint) bool {
		for _, j := range byNumber[cp.Number-1] {
			if cp.Prev == hashes[j] || (recs[j].slow != "" && cp.Prev == recs[j].slow) {
				return true
			}
		}
		return false
	}
	for i, r := range recs {
		cp := r.cp
		if haveKey {
			if err := sigErrs[i]; err != nil {
				run.Verified = false
				c.add(Finding{Kind: KindCheckpointSig, Severity: Failure, Gateway: cp.Instance, Run: id, Seq: fmt.Sprint(cp.Number),
					EventID: r.id, To: cp.To, Detail: err.Error()})
			}
		}
		if i > 0 {
			p := recs[i-1]
			switch {
			case cp.Number == p.cp.Number:
				// Both signed by the gateway's key, both linking to the same predecessor: the gateway wrote the
				// number twice (a late-acknowledged checkpoint after an outage), nobody else could have.
				if haveKey && sigErrs[i] == nil && sigErrs[i-1] == nil && cp.Prev == p.cp.Prev {
					c.add(Finding{Kind: KindRenumbered, Severity: Warning, Gateway: cp.Instance, Run: id, Seq: fmt.Sprint(cp.Number),
						EventID: r.id, From: p.cp.To, To: cp.To,
						Detail: fmt.Sprintf("checkpoint number %d was signed twice by the gateway (at %s and %s), both linking to checkpoint %d: a checkpoint acknowledged late after a Kafka outage was renumbered by a gateway before issue 14's fix; not tampering, every session head listed by either is checked", cp.Number, p.cp.To, cp.To, cp.Number-1)})
				} else {
					c.add(Finding{Kind: KindCheckpointChain, Severity: Failure, Gateway: cp.Instance, Run: id, Seq: fmt.Sprint(cp.Number),
						EventID: r.id, Detail: fmt.Sprintf("checkpoint number %d appears twice", cp.Number)})
				}
			case cp.Number > p.cp.Number+1:
				rng := fmt.Sprint(p.cp.Number + 1)
				if cp.Number-1 > p.cp.Number+1 {
					rng = fmt.Sprintf("%d-%d", p.cp.Number+1, cp.Number-1)
				}
				c.add(Finding{Kind: KindCheckpointMissing, Severity: Failure, Gateway: cp.Instance, Run: id, Seq: rng,
					From: p.cp.To, To: cp.From,
					Detail: fmt.Sprintf("checkpoint(s) %s of gateway %s are absent between %s and %s: deleted from the store", rng, cp.Instance, p.cp.To, cp.From)})
			default:
				if !links(cp) {
					c.add(Finding{Kind: KindCheckpointChain, Severity: Failure, Gateway: cp.Instance, Run: id, Seq: fmt.Sprint(cp.Number),
						EventID: r.id, Detail: fmt.Sprintf("checkpoint %d prev %s does not link to checkpoint %d (hash %s)", cp.Number, short(cp.Prev), p.cp.Number, short(hashes[i-1]))})
				}
			}
			if silent := r.to.Sub(p.to); interval > 0 && silent > interval+tol {
				f := Finding{Kind: KindLoggingGap, Severity: Warning, Gateway: cp.Instance, Run: id, Seq: fmt.Sprintf("%d-%d", p.cp.Number, cp.Number),
					From: p.cp.To, To: cp.To}
				if cp.Number == p.cp.Number+1 {
					cause := fmt.Sprintf("gateway %s wrote no checkpoint for %s between checkpoints %d and %d of run %s (interval %s); the numbering is gapless and signed, so none was deleted: the gateway could not write to Kafka (outage) or was stalled", cp.Instance, silent.Round(time.Millisecond), p.cp.Number, cp.Number, id, interval)
					c.report.Incidents = append(c.report.Incidents, Incident{Kind: IncidentOutage, Gateway: cp.Instance, Run: id, Start: p.cp.To, End: cp.To, Cause: cause})
					f.Detail = cause + " (PCI DSS 10.7: logging gap)"
				} else {
					// Checkpoints are missing in between (a failure above): the silence is their deletion's.
					f.Severity = Failure
					f.Detail = fmt.Sprintf("gateway %s has no checkpoint for %s between checkpoints %d and %d, longer than its checkpoint interval %s, because checkpoints in between are missing (PCI DSS 10.7: logging gap)", cp.Instance, silent.Round(time.Millisecond), p.cp.Number, cp.Number, interval)
				}
				c.add(f)
			}
		}
	}
	// A run that ended without gateway.stopped while its instance started a new one crashed; an open run
	// that stopped checkpointing before the period (or now) ended went silent.
	if !c.crashed(info, &run) && interval > 0 && !run.Stopped {
		end := c.cfg.To
		if now := c.cfg.Now(); now.Before(end) {
			end = now
		}
		last := recs[len(recs)-1]
		if silent := end.Sub(last.to); silent > interval+tol {
			cause := fmt.Sprintf("gateway %s's last checkpoint (%d) is at %s and no gateway.stopped follows: silent for %s until %s, longer than its interval %s: down, crashed without restart, or cut off from Kafka", last.cp.Instance, last.cp.Number, last.cp.To, silent.Round(time.Millisecond), schemas.FormatTime(end), interval)
			var unconfirmed []string
			if info != nil {
				unconfirmed = info.unconfirmed
				sort.Strings(unconfirmed)
			}
			c.report.Incidents = append(c.report.Incidents, Incident{Kind: IncidentSilence, Gateway: last.cp.Instance, Run: id,
				Start: last.cp.To, End: schemas.FormatTime(end), Cause: cause, Unconfirmed: unconfirmed})
			c.add(Finding{Kind: KindLoggingGap, Severity: Warning, Gateway: last.cp.Instance, Run: id, Seq: fmt.Sprint(last.cp.Number),
				From: last.cp.To, To: schemas.FormatTime(end), Detail: cause + " (PCI DSS 10.7: logging gap)"})
		}
	}
	c.report.Runs = append(c.report.Runs, run)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// fastHash is schemas.CheckpointHash for a checkpoint whose data is canonical JSON, as every event's data in
// the store is: the SHA-256 of those bytes. A mismatch falls back to slowHash.
func fastHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func slowHash(cp schemas.Checkpoint) string {
	h, err := schemas.CheckpointHash(cp)
	if err != nil {
		return ""
	}
	return h
}

var signatureMember = []byte(`,"signature":"`)

// fastVerify checks the checkpoint's Ed25519 signature over its canonical data without the signature
// member, cut from the event's data bytes (no re-encoding). Success also proves the bytes canonical (they
// are what the gateway signed, plus the signature member); on failure schemas.VerifyCheckpoint decides,
// and its error names the problem.
func fastVerify(cp schemas.Checkpoint, data []byte, key ed25519.PublicKey) bool {
	i := bytes.LastIndex(data, signatureMember)
	if i < 0 || cp.KeyID != schemas.KeyID(key) {
		return false
	}
	j := i + len(signatureMember)
	k := bytes.IndexByte(data[j:], '"')
	if k < 0 {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(cp.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	msg := make([]byte, 0, len(data))
	msg = append(append(msg, data[:i]...), data[j+k+1:]...)
	return ed25519.Verify(key, msg, sig)
}

// parallel runs f(0…n-1) on all cores.
func parallel(n int, f func(i int)) {
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	next := make(chan int, 64)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// resolveReaped judges every session.reaped against the session's chain as stored: a session that ended
// without session.ended and whose stored last event is the one the reaper read back is a session_crashed
// incident (a logging gap, PCI DSS 10.7, not tampering): with audit.reads pipelined its gateway may have
// released one read's result whose record never reached Kafka. Fewer stored events than the reaper saw is
// a failure (deleted since); a session that has session.ended after all was still being ended by its
// gateway when reaped (a warning); more events than the reaper saw, likewise.
func (c *Checker) resolveReaped() {
	ids := make([]string, 0, len(c.reaped))
	for id := range c.reaped {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rec := c.reaped[id][0] // a reaper whose drop failed after recording may have recorded it again
		r := rec.r
		f := Finding{Gateway: r.Instance, Run: r.Run, Session: id, Seq: fmt.Sprint(r.LastSeq), EventID: rec.event, From: r.LastTime, To: rec.at}
		o, open := c.open[id]
		ended := c.streamed(id) && !open
		switch {
		case !open && !ended:
			continue // the session's events are outside the stream (period); nothing to compare
		case ended:
			f.Kind, f.Severity = KindReapedMismatch, Warning
			f.Detail = fmt.Sprintf("gateway %s's reaper recorded session %s as ended by a crash after seq %d, but the session has session.ended: its gateway was still ending it", rec.by, id, r.LastSeq)
			c.add(f)
			continue
		case o.lastSeq < r.LastSeq:
			f.Kind, f.Severity = KindReapedMismatch, Failure
			f.Seq = fmt.Sprintf("%d-%d", o.lastSeq+1, r.LastSeq)
			f.Detail = fmt.Sprintf("gateway %s's reaper read session %s up to seq %d (hash %s) from Kafka, the store ends at seq %d: the session's last events were deleted", rec.by, id, r.LastSeq, short(r.LastHash), o.lastSeq)
			c.add(f)
			continue
		case o.lastSeq > r.LastSeq:
			f.Kind, f.Severity = KindReapedMismatch, Warning
			f.Detail = fmt.Sprintf("gateway %s's reaper recorded session %s as ended after seq %d, but the store holds seq %d: its gateway was still writing when it was reaped", rec.by, id, r.LastSeq, o.lastSeq)
			c.add(f)
			continue
		case o.lastHash != r.LastHash:
			f.Kind, f.Severity = KindReapedMismatch, Failure
			f.Detail = fmt.Sprintf("gateway %s's reaper read seq %d of session %s with hash %s, the stored event has %s: edited since", rec.by, r.LastSeq, id, short(r.LastHash), short(o.lastHash))
			c.add(f)
			continue
		}
		cause := fmt.Sprintf("session ended by crash; reads after seq %d may be unrecorded (pipelined): gateway %s ended without writing session.ended for session %s; gateway %s's reaper found it and recorded its last acknowledged event (seq %d, %s)",
			r.LastSeq, r.Instance, id, rec.by, r.LastSeq, r.LastType)
		switch {
		case r.Reads == schemas.ReadsStrict:
			cause = fmt.Sprintf("session ended by crash after seq %d; no statement unrecorded (audit.reads strict: no result was released before its record was acknowledged): gateway %s ended without writing session.ended for session %s; gateway %s's reaper found it",
				r.LastSeq, r.Instance, id, rec.by)
		case r.Reads != schemas.ReadsPipelined:
			cause += "; the session does not say its audit.reads mode (gateway before contract version 3), so pipelined is assumed"
		}
		c.report.Incidents = append(c.report.Incidents, Incident{Kind: IncidentSessionCrashed, Gateway: r.Instance, Run: r.Run,
			Start: r.LastTime, End: rec.at, Cause: cause, Session: id, LastSeq: r.LastSeq, Unrecorded: r.Unrecorded})
		f.Kind, f.Severity, f.Detail = KindSessionCrashed, Warning, cause+" (PCI DSS 10.7: logging gap)"
		c.add(f)
	}
}
