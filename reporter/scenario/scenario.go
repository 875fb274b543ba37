// Package scenario builds realistic, fully chained and signed pangate event streams on a simulated clock:
// gateway runs with checkpoints, sessions with statements, holds and decisions, failed logins, JIT
// credentials. The reporter's unit tests, integration tests and benchmark use it to produce known
// populations; it is not used in production.
package scenario

import (
	"crypto/ed25519"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pangate/pangate/schemas"
)

// Builder owns the clock and collects the events in production order.
type Builder struct {
	now time.Time
	// Events are the audit-topic events (chained, key = session id), in production order.
	Events []schemas.Event
	// Approvals are the approvals-topic records (unchained, key = approval id).
	Approvals []schemas.Event
	gateways  []*Gateway
	n         int
	// Prefix makes session, run and approval ids unique across tests sharing a store.
	Prefix string
	// Clock is what the next Gateway reports in gateway.started (nil: chrony, synchronised, 120 µs).
	Clock *schemas.Clock
}

// New starts a scenario at start.
func New(start time.Time) *Builder { return &Builder{now: start.UTC()} }

// Now is the simulated clock.
func (b *Builder) Now() time.Time { return b.now }

func (b *Builder) emit(e schemas.Event) { b.Events = append(b.Events, e) }

func (b *Builder) id(prefix string) string {
	b.n++
	return fmt.Sprintf("%s%s-%06d", b.Prefix, prefix, b.n)
}

// Advance moves the clock by d, emitting every gateway's due checkpoints on the way.
func (b *Builder) Advance(d time.Duration) {
	end := b.now.Add(d)
	for {
		var next *Gateway
		for _, g := range b.gateways {
			if g.stopped || g.paused {
				continue
			}
			if next == nil || g.due.Before(next.due) {
				next = g
			}
		}
		if next == nil || next.due.After(end) {
			break
		}
		b.now = next.due
		next.checkpoint()
	}
	b.now = end
}

// Gateway is one gateway run.
type Gateway struct {
	b        *Builder
	Instance string
	Run      string
	key      ed25519.PrivateKey
	interval time.Duration
	chain    *schemas.Chain
	due      time.Time
	lastTo   time.Time
	number   uint64
	prevCP   string
	heads    map[string]schemas.SessionHead
	stopped  bool
	paused   bool
	served   int64
}

// Gateway starts a gateway run: gateway.started (with clock data) and policy.loaded.
func (b *Builder) Gateway(instance string, key ed25519.PrivateKey, interval time.Duration) *Gateway {
	g := &Gateway{b: b, Instance: instance, Run: b.id("run-" + instance), key: key, interval: interval,
		heads: map[string]schemas.SessionHead{}, prevCP: schemas.GenesisPrev}
	g.chain = g.newChain(g.Run)
	g.due, g.lastTo = b.now.Add(interval), b.now
	b.gateways = append(b.gateways, g)
	clock := schemas.Clock{Source: "chrony", Synced: true, OffsetUS: 120, Detail: "chronyc tracking"}
	if b.Clock != nil {
		clock = *b.Clock
	}
	g.next(g.chain, schemas.TypeGatewayStarted, schemas.GatewayStarted{Instance: instance, Version: "test", Listen: "127.0.0.1:6432",
		MaskShape: "first6last4", CheckpointIntervalMS: interval.Milliseconds(), KeyID: schemas.KeyID(key.Public().(ed25519.PublicKey)),
		Clock: clock})
	g.next(g.chain, schemas.TypePolicyLoaded, schemas.PolicyLoaded{Hash: strings.Repeat("ab", 32), Source: "policy.yaml", Rules: 4})
	return g
}

func (g *Gateway) newChain(session string) *schemas.Chain {
	c := schemas.NewChain(session, schemas.Source{Instance: g.Instance, Version: "test"})
	c.Now = func() time.Time { return g.b.now }
	return c
}

func (g *Gateway) next(c *schemas.Chain, typ string, data any) schemas.Event {
	e, err := c.Next(typ, data)
	if err != nil {
		panic(err)
	}
	g.b.emit(e)
	if c.Session() != g.Run {
		g.heads[c.Session()] = schemas.SessionHead{Session: c.Session(), Seq: e.Seq, Hash: e.Hash,
			Ended: typ == schemas.TypeCredentialRevoked || typ == schemas.TypeAuthFailed}
	}
	return e
}

func (g *Gateway) checkpoint() {
	heads := make([]schemas.SessionHead, 0, len(g.heads))
	for _, h := range g.heads {
		heads = append(heads, h)
	}
	sort.Slice(heads, func(i, j int) bool { return heads[i].Session < heads[j].Session })
	cp := schemas.Checkpoint{Instance: g.Instance, Run: g.Run, Number: g.number, Prev: g.prevCP,
		From: schemas.FormatTime(g.lastTo), To: schemas.FormatTime(g.b.now), IntervalMS: g.interval.Milliseconds(), Sessions: heads}
	if err := schemas.SignCheckpoint(&cp, g.key); err != nil {
		panic(err)
	}
	h, err := schemas.CheckpointHash(cp)
	if err != nil {
		panic(err)
	}
	g.next(g.chain, schemas.TypeGatewayCheckpoint, cp)
	g.prevCP, g.number, g.lastTo = h, g.number+1, g.b.now
	g.heads = map[string]schemas.SessionHead{}
	g.due = g.b.now.Add(g.interval)
}

// Silence stops the gateway's checkpoints for d (the clock advances), as a hung or partitioned gateway
// would; the next checkpoint then covers a longer interval than configured.
func (g *Gateway) Silence(d time.Duration) {
	g.paused = true
	g.b.Advance(d)
	g.paused = false
	g.due = g.b.now
	g.b.Advance(0)
}

// Stop writes a final checkpoint and gateway.stopped.
func (g *Gateway) Stop() {
	g.checkpoint()
	g.next(g.chain, schemas.TypeGatewayStopped, schemas.GatewayStopped{Reason: "signal", SessionsServed: g.served})
	g.stopped = true
}

// Crash ends the run as kill -9 would: no final checkpoint and no gateway.stopped; events written since the
// last checkpoint stay unlisted. Start a new run of the same instance with Builder.Gateway.
func (g *Gateway) Crash() { g.stopped = true }

// Identity of a session.
type Identity struct {
	Subject string
	Human   bool
	Addr    string
	Claims  map[string]string // kept token claims besides repository (run_id, sha, …)
}

// Session is one client session.
type Session struct {
	g     *Gateway
	ID    string
	Role  string
	Ident schemas.Identity
	chain *schemas.Chain
	index int64
	stmts int64
	block int64
}

// AuthFailed writes a one-event connection that failed to log in (its own chain, checkpointed).
func (g *Gateway) AuthFailed(subject, reason string) schemas.Event {
	c := g.newChain(g.b.id("conn"))
	return g.next(c, schemas.TypeAuthFailed, schemas.AuthFailed{Client: schemas.Client{Addr: "10.0.0.9:50000", TLS: true},
		Target: "cards", User: "etl", Subject: subject, Reason: reason, Message: "token " + reason, SQLState: "28000"})
}

// Session logs a workload in: auth.succeeded, credential.issued, session.started.
func (g *Gateway) Session(id Identity) *Session {
	g.served++
	s := &Session{g: g, ID: g.b.id("sess")}
	s.chain = g.newChain(s.ID)
	s.Role = "pg_jit_" + s.ID
	s.Ident = schemas.Identity{Issuer: "https://issuer.test", Subject: id.Subject, Human: id.Human,
		Claims: map[string]string{"repository": "acme/etl"}}
	for k, v := range id.Claims {
		s.Ident.Claims[k] = v
	}
	addr := id.Addr
	if addr == "" {
		addr = "10.0.0.5:40000"
	}
	cl := schemas.Client{Addr: addr, TLS: true, Application: "etl"}
	g.next(s.chain, schemas.TypeAuthSucceeded, schemas.AuthSucceeded{Identity: s.Ident, Client: cl, Target: "cards", Database: "cards", RequestedRole: "etl"})
	g.next(s.chain, schemas.TypeCredentialIssued, schemas.CredentialIssued{Role: s.Role, Target: "cards", Granted: []string{"etl_reader"},
		ValidUntil: schemas.FormatTime(g.b.now.Add(time.Hour)), TTLMS: 3600000, ForSession: s.ID})
	g.next(s.chain, schemas.TypeSessionStarted, schemas.SessionStarted{Identity: s.Ident, Client: cl, Target: "cards", Database: "cards",
		RequestedRole: "etl", Role: s.Role, Granted: []string{"etl_reader"}, MaskShape: "first6last4"})
	return s
}

// Statement builds a statement description.
func Statement(sql, kind string, tables []string, cardholder bool) schemas.Statement {
	return schemas.Statement{SQL: sql, Fingerprint: fmt.Sprintf("fp%08x", len(sql)*31+len(kind)), Kind: kind, Tables: tables, Cardholder: cardholder, Protocol: "simple"}
}

// Query writes a statement as the gateway records it (contract version 2, docs/evidence.md "Statement
// outcomes"): a read keeps one query.executed carrying its outcome; any other kind is recorded ahead (a
// query.executed with outcome forwarded, returned) and then completed by a query.completed with outcome,
// rows and, for cardholder data that ran, masked counts and a sample as the gateway reports them.
func (s *Session) Query(st schemas.Statement, outcome string, rows int64, approval *schemas.ApprovalRef) schemas.Event {
	if st.Kind == "read" {
		st.Index = s.index
		s.index++
		s.stmts++
		q := schemas.QueryExecuted{Statement: st, Role: s.Role, Outcome: outcome, Rows: rows, DurationUS: 1500, MaskShape: "first6last4", Approval: approval}
		if outcome != "ok" {
			q.SQLState, q.Error = "42501", "permission denied"
		}
		if st.Cardholder && outcome == "ok" {
			q.Masked = []schemas.ColumnCount{{Column: "pan", Count: rows}}
			q.Sample = &schemas.Sample{Columns: []string{"id", "pan"}, Rows: [][]string{{"1", "411111******1111"}}}
		}
		q.CommandTag = fmt.Sprintf("SELECT %d", rows)
		return s.g.next(s.chain, schemas.TypeQueryExecuted, q)
	}
	done := schemas.QueryCompleted{Outcome: outcome, Rows: rows, CommandTag: commandTag(st, rows)}
	switch {
	case outcome == "error":
		done.SQLState, done.Error, done.Rows, done.CommandTag = "42501", "permission denied", 0, ""
	case outcome == "skipped":
		done.Rows, done.CommandTag = 0, ""
	case outcome == "ok" && st.Cardholder && rows > 0 && isExport(st):
		done.Masked = []schemas.ColumnCount{{Column: "pan", Count: rows}}
		done.Sample = &schemas.Sample{Columns: []string{"id", "pan"}, Rows: [][]string{{"1", "411111******1111"}}}
	}
	intent, _ := s.Ahead(st, approval, &done)
	return intent
}

// Read writes a side-effect-free read (one query.executed with its outcome) that returned rows, of which
// masked card numbers were masked in column pan (0: the result held no card number).
func (s *Session) Read(st schemas.Statement, rows, masked int64) schemas.Event {
	st.Index = s.index
	s.index++
	s.stmts++
	q := schemas.QueryExecuted{Statement: st, Role: s.Role, Outcome: "ok", Rows: rows, DurationUS: 900, MaskShape: "first6last4",
		CommandTag: fmt.Sprintf("SELECT %d", rows)}
	if masked > 0 {
		q.Masked = []schemas.ColumnCount{{Column: "pan", Count: masked}}
		q.Sample = &schemas.Sample{Columns: []string{"id", "pan"}, Rows: [][]string{{"1", "411111******1111"}}}
	}
	return s.g.next(s.chain, schemas.TypeQueryExecuted, q)
}

// Export writes COPY … TO of cardholder data recorded ahead and its completion: rows copied, of which
// masked card numbers (masked < rows is an export the reporter flags cardholder_unmasked).
func (s *Session) Export(sql string, rows, masked int64, approval *schemas.ApprovalRef) (intent, completion schemas.Event) {
	st := Statement(sql, "copy", []string{"cards"}, true)
	st.RiskTags = []string{"copy_out"}
	st.Columns = []string{"cards.id", "cards.pan"}
	done := schemas.QueryCompleted{Outcome: "ok", Rows: rows, CommandTag: fmt.Sprintf("COPY %d", rows)}
	if masked > 0 {
		done.Masked = []schemas.ColumnCount{{Column: "pan", Count: masked}}
		done.Sample = &schemas.Sample{Columns: []string{"id", "pan"}, Rows: [][]string{{"1", "411111******1111"}}, Truncated: rows > 1}
	}
	return s.Ahead(st, approval, &done)
}

// Ahead writes st recorded ahead (query.executed, outcome forwarded) and, unless done is nil (the gateway
// stopped before PostgreSQL answered), its query.completed: done's Intent, Index, Kind, MaskShape and a
// duration are filled in.
func (s *Session) Ahead(st schemas.Statement, approval *schemas.ApprovalRef, done *schemas.QueryCompleted) (intent, completion schemas.Event) {
	st.Index = s.index
	s.index++
	s.stmts++
	intent = s.g.next(s.chain, schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: st, Role: s.Role, Outcome: "forwarded",
		MaskShape: "first6last4", Approval: approval})
	if done == nil {
		return intent, schemas.Event{}
	}
	d := *done
	d.Intent, d.Index, d.Kind, d.MaskShape = intent.Seq, st.Index, st.Kind, "first6last4"
	if d.DurationUS == 0 && d.Outcome != "skipped" {
		d.DurationUS = 2500
	}
	return intent, s.g.next(s.chain, schemas.TypeQueryCompleted, d)
}

func isExport(st schemas.Statement) bool {
	for _, t := range st.RiskTags {
		if t == "copy_out" {
			return true
		}
	}
	return false
}

// commandTag is the tag PostgreSQL would answer for st.
func commandTag(st schemas.Statement, rows int64) string {
	f := strings.Fields(strings.ToUpper(st.SQL))
	if len(f) == 0 {
		return ""
	}
	switch f[0] {
	case "INSERT":
		return fmt.Sprintf("INSERT 0 %d", rows)
	case "UPDATE", "DELETE", "COPY", "MERGE":
		return fmt.Sprintf("%s %d", f[0], rows)
	case "CREATE", "ALTER", "DROP":
		if len(f) > 1 {
			return f[0] + " " + f[1]
		}
	}
	return f[0]
}

// Blocked writes query.blocked.
func (s *Session) Blocked(st schemas.Statement, reason string, approval *schemas.ApprovalRef) schemas.Event {
	st.Index = s.index
	s.index++
	s.block++
	return s.g.next(s.chain, schemas.TypeQueryBlocked, schemas.QueryBlocked{Statement: st, Role: s.Role, Reason: reason, Message: "blocked: " + reason, SQLState: "42501", Approval: approval})
}

// Hold holds st for approval and decides it: approval.requested in the session chain, approval.requested,
// approval.notified and approval.decided (or approval.expired) as unchained approvals-topic records, then
// query.executed (approved) or query.blocked. decision is approved, denied or expired.
func (s *Session) Hold(st schemas.Statement, decision string, latency time.Duration) (approvalID string) {
	g := s.g
	approvalID = g.b.id("appr")
	req := schemas.ApprovalRequested{ApprovalID: approvalID, Session: s.ID, Identity: s.Ident, Target: "cards", Role: s.Role,
		Statement: st, Rule: "ddl-needs-approval", Reason: "DDL on cardholder schema", Expires: schemas.FormatTime(g.b.now.Add(10 * time.Minute)), GatewayInst: g.Instance}
	g.next(s.chain, schemas.TypeApprovalRequested, req)
	appr := schemas.Source{Instance: "approver-1", Version: "test"}
	unchained := func(typ string, data any) {
		c := schemas.NewChain(approvalID, appr)
		c.Now = func() time.Time { return g.b.now }
		e, err := c.Peek(typ, data)
		if err != nil {
			panic(err)
		}
		g.b.Approvals = append(g.b.Approvals, e)
	}
	unchained(schemas.TypeApprovalRequested, req)
	unchained(schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: approvalID, Channel: "C123", MessageTS: "1.2"})
	g.b.Advance(latency)
	ref := &schemas.ApprovalRef{ID: approvalID, Decision: decision}
	switch decision {
	case string(schemas.OutcomeExpired):
		unchained(schemas.TypeApprovalExpired, schemas.ApprovalExpired{ApprovalID: approvalID, Expires: req.Expires})
		s.Blocked(st, string(schemas.BlockApprovalExpired), ref)
	default:
		ref.By, ref.ByEmail = "U042", "alice@example.com"
		unchained(schemas.TypeApprovalDecided, schemas.ApprovalDecided{ApprovalID: approvalID, Decision: decision, By: "U042",
			ByName: "Alice", ByEmail: "alice@example.com", Reason: "change ticket CHG-1", LatencyMS: latency.Milliseconds()})
		if decision == string(schemas.OutcomeApproved) {
			s.Query(st, "ok", 0, ref)
		} else {
			s.Blocked(st, string(schemas.BlockApprovalDenied), ref)
		}
	}
	return approvalID
}

// End writes session.ended and credential.revoked.
func (s *Session) End() {
	s.g.next(s.chain, schemas.TypeSessionEnded, schemas.SessionEnded{Reason: string(schemas.EndClientTerminate), Statements: s.stmts, Blocked: s.block, DurationUS: 1000})
	s.g.next(s.chain, schemas.TypeCredentialRevoked, schemas.CredentialRevoked{Role: s.Role, Target: "cards", Reason: string(schemas.RevokeSessionEnd)})
}

// BySession returns events grouped by session (sessions in order of first appearance, events in log
// order), as the integrity checker reads them.
func BySession(events []schemas.Event) []schemas.Event {
	order := map[string]int{}
	for _, e := range events {
		if _, ok := order[e.Session]; !ok {
			order[e.Session] = len(order)
		}
	}
	out := append([]schemas.Event(nil), events...)
	sort.SliceStable(out, func(i, j int) bool { return order[out[i].Session] < order[out[j].Session] })
	return out
}

// Checkpoints returns the gateway.checkpoint events.
func Checkpoints(events []schemas.Event) []schemas.Event {
	var out []schemas.Event
	for _, e := range events {
		if e.Type == schemas.TypeGatewayCheckpoint {
			out = append(out, e)
		}
	}
	return out
}

// Drain returns the events and approvals records built so far and forgets them, so long scenarios
// (benchmarks) can be produced in pieces without holding every event in memory.
func (b *Builder) Drain() (events, approvals []schemas.Event) {
	events, approvals = b.Events, b.Approvals
	b.Events, b.Approvals = nil, nil
	return events, approvals
}
