// Package seed writes synthetic but valid audit events straight into ClickHouse, so that evidence packages
// of millions of events can be benchmarked without producing them through Kafka. Every event is what a
// gateway (or the approver) would write: chained per session with SHA-256 (schemas' canonical encoding),
// gateway runs with Ed25519-signed checkpoints listing every session head, and the rows are those of the
// indexer's own mapping (indexer/rows), so the reporter's integrity check verifies the result with no
// failure. The mix: workload sessions of reads (cardholder data masked), writes recorded ahead with their
// query.completed outcomes (ok, error, skipped), failing reads, blocked statements, COPY exports, held DDL
// with approvals (approved, denied, expired) and failed logins, spread over the period.
//
// It is a benchmark and test tool (docs/scaling.md); `go tool task seed` runs cmd/seed.
package seed

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pangate/pangate/indexer/rows"
	"github.com/pangate/pangate/internal/auditstore"
	"github.com/pangate/pangate/schemas"
)

// Version is the source version seeded events carry.
const Version = "seed"

// Config describes what to seed.
type Config struct {
	Events         int                // about how many events (whole sessions are written)
	From           time.Time          // start of the period
	Days           int                // length of the period (default 30)
	Gateways       int                // gateway instances, one run each for the period (default 4)
	Interval       time.Duration      // checkpoint interval (default 1 min)
	Key            ed25519.PrivateKey // signs the checkpoints (the reporter needs its public key)
	AuditTopic     string             // kafka_topic of audit events (default pangate.audit)
	ApprovalsTopic string             // kafka_topic of the gateways' approval records (default pangate.approvals)
	DecisionsTopic string             // kafka_topic of the approvers' records (default pangate.decisions)
	Prefix         string             // prefix of session, run and approval ids (unique per seeding)
	BlockEvents    int                // events per INSERT (default 200000)
	Workers        int                // generating goroutines (default GOMAXPROCS)
}

// ErrConfig is matched by Config errors.
var ErrConfig = errors.New("seed: invalid config")

func (c *Config) defaults() error {
	if c.Events <= 0 {
		return fmt.Errorf("%w: events %d: ask for at least one", ErrConfig, c.Events)
	}
	if c.Key == nil {
		return fmt.Errorf("%w: no checkpoint signing key", ErrConfig)
	}
	if c.From.IsZero() {
		return fmt.Errorf("%w: no period start", ErrConfig)
	}
	c.From = c.From.UTC()
	if c.Days <= 0 {
		c.Days = 30
	}
	if c.Gateways <= 0 {
		c.Gateways = 4
	}
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.AuditTopic == "" {
		c.AuditTopic = "pangate." + schemas.TopicAudit
	}
	if c.ApprovalsTopic == "" {
		c.ApprovalsTopic = "pangate." + schemas.TopicApprovals
	}
	if c.DecisionsTopic == "" {
		c.DecisionsTopic = schemas.DecisionsTopicFor(c.ApprovalsTopic)
	}
	if c.BlockEvents <= 0 {
		c.BlockEvents = 200000
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	return nil
}

// Result says what was written.
type Result struct {
	Events   int64 // records written (audit and approvals topics)
	Sessions int64 // client sessions (failed logins included)
	Elapsed  time.Duration
}

// Run generates the events and writes them into database db with conn (a user that may insert into the
// audit tables: the operator). progress, if not nil, is called after every block with the events so far.
func Run(ctx context.Context, conn driver.Conn, db string, cfg Config, progress func(events int64)) (Result, error) {
	var written int64
	// Two writers: ClickHouse parses one block while Go fills the next.
	return Generate(ctx, cfg, 2, func(ctx context.Context, b *Block) error {
		if err := b.Write(ctx, conn, db); err != nil {
			return err
		}
		n := atomic.AddInt64(&written, int64(b.Events))
		if progress != nil {
			progress(n)
		}
		return nil
	})
}

// Generate builds the events of cfg in blocks and hands each to sink, from sinks goroutines at once.
func Generate(ctx context.Context, cfg Config, sinks int, sink func(context.Context, *Block) error) (Result, error) {
	start := time.Now()
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	set, err := newTemplates(&cfg)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	blocks := make(chan *Block, cfg.Workers)
	var res Result
	var genErr error
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		if genErr == nil {
			genErr = err
		}
		mu.Unlock()
		cancel()
	}
	// Gateways are generated independently (each owns its run, sessions and Kafka partitions), Workers at a
	// time.
	var gen sync.WaitGroup
	sem := make(chan struct{}, cfg.Workers)
	for g := 0; g < cfg.Gateways; g++ {
		gen.Add(1)
		go func() {
			defer gen.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			gw := newGateway(&cfg, set, g)
			if err := gw.generate(ctx, blocks); err != nil {
				fail(err)
			}
			atomic.AddInt64(&res.Sessions, gw.sessions)
		}()
	}
	go func() { gen.Wait(); close(blocks) }()
	var wr sync.WaitGroup
	for w := 0; w < max(1, sinks); w++ {
		wr.Add(1)
		go func() {
			defer wr.Done()
			for b := range blocks {
				if ctx.Err() != nil {
					continue
				}
				if err := sink(ctx, b); err != nil {
					fail(err)
					continue
				}
				atomic.AddInt64(&res.Events, int64(b.Events))
			}
		}()
	}
	wr.Wait()
	res.Elapsed = time.Since(start)
	if genErr != nil {
		return res, genErr
	}
	return res, ctx.Err()
}

// gateway simulates one gateway run over the period, and the approver's records for its holds.
type gateway struct {
	cfg      *Config
	set      *templates
	mapper   *rows.Mapper
	idx      int
	instance string
	run      string
	runSeq   uint64
	runPrev  string
	now      time.Time
	end      time.Time
	nextCP   time.Time
	lastTo   time.Time
	cpNumber uint64
	cpPrev   string
	heads    map[string]schemas.SessionHead
	part     int32
	offset   int64
	apOffset int64 // next offset on the approvals topic
	deOffset int64 // next offset on the decisions topic
	ids      uint64
	sessions int64
	events   int64
	block    *Block
	out      chan<- *Block
	ctx      context.Context
	v        vals
	buf      []byte
	ingested uint64
	rng      uint64
}

func newGateway(cfg *Config, set *templates, idx int) *gateway {
	g := &gateway{cfg: cfg, set: set, mapper: rows.NewMapper(), idx: idx, instance: fmt.Sprintf("%sgw-%d", cfg.Prefix, idx+1),
		heads: map[string]schemas.SessionHead{}, cpPrev: schemas.GenesisPrev, runPrev: schemas.GenesisPrev,
		part: int32(idx % 12), rng: uint64(idx)*0x9e3779b97f4a7c15 + 1, block: newBlock(), ingested: uint64(time.Now().UnixMicro())}
	g.mapper.Validate = nil // records are built by the generator and checked against the JSON Schema in tests
	g.run = fmt.Sprintf("%srun-%d", cfg.Prefix, idx+1)
	return g
}

func (g *gateway) rand() uint64 {
	g.rng ^= g.rng << 13
	g.rng ^= g.rng >> 7
	g.rng ^= g.rng << 17
	return g.rng
}

// newID returns a UUIDv7-shaped id unique within the seeding: time in ms, gateway and a counter.
func (g *gateway) newID(t time.Time) string {
	g.ids++
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = 0x70 | byte(g.idx>>8)&0x0f
	b[7] = byte(g.idx)
	b[8] = 0x80 | byte(g.ids>>56)&0x3f
	for i := 9; i < 16; i++ {
		b[i] = byte(g.ids >> (8 * (15 - i)))
	}
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// emit encodes one event canonically (schemas.Marshal's bytes), hashes it and appends its rows: the events
// row here, the typed rows from the template. It returns the hash.
func (g *gateway) emit(t *template, session string, seq uint64, prev string, topic string, key string) string {
	v := &g.v
	v.t = g.now
	v.ts = [nSlots]string{}
	v.str[slotSession] = session
	v.str[slotInstance] = g.instance
	v.str[slotRun] = g.run
	v.str[slotID] = g.newID(g.now)
	v.num[slotSeq] = int64(seq)
	timeStr := v.appendSlot(nil, slotTime)
	// Canonical envelope: data, gateway{instance,version}, hash, id, prev, seq, session, time, type, v.
	b := append(g.buf[:0], `{"data":`...)
	b = t.data.append(b, v)
	dataEnd := len(b)
	inst := g.instance
	if t.instance != "" {
		inst = t.instance
	}
	b = append(b, `,"gateway":{"instance":"`...)
	b = append(b, inst...)
	b = append(b, `","version":"`+Version+`"}`...)
	hashAt := len(b)
	b = append(b, `,"id":"`...)
	b = append(b, v.str[slotID]...)
	b = append(b, `","prev":"`...)
	b = append(b, prev...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"session":"`...)
	b = append(b, session...)
	b = append(b, `","time":"`...)
	b = append(b, timeStr...)
	b = append(b, `","type":"`...)
	b = append(b, t.typ...)
	b = append(b, `","v":1}`...)
	sum := sha256.Sum256(b)
	var hx [64]byte
	hex.Encode(hx[:], sum[:])
	hash := string(hx[:])
	rec := make([]byte, 0, len(b)+len(hashMemberKey)+66)
	rec = append(rec, b[:hashAt]...)
	rec = append(rec, hashMemberKey...)
	rec = append(rec, hx[:]...)
	rec = append(rec, '"')
	rec = append(rec, b[hashAt:]...)
	g.buf = b
	record := string(rec)
	data := record[len(`{"data":`):dataEnd]
	var part int32
	var off int64
	switch topic {
	case g.cfg.ApprovalsTopic:
		part, off = int32(g.idx%3), g.apOffset
		g.apOffset++
	case g.cfg.DecisionsTopic:
		part, off = int32(g.idx%3), g.deOffset
		g.deOffset++
	default:
		part, off = g.part, g.offset
		g.offset++
	}
	us := uint64(g.now.UnixMicro())
	sec := g.now.Truncate(time.Second)
	ev := g.block.Cols[len(rows.All)-1] // auditstore.Events is last in rows.All
	ev[0].S = append(ev[0].S, v.str[slotID])
	ev[1].T = append(ev[1].T, sec)
	ev[2].U64 = append(ev[2].U64, us)
	ev[3].U8 = append(ev[3].U8, schemas.Version)
	ev[4].S = append(ev[4].S, t.typ)
	ev[5].S = append(ev[5].S, session)
	ev[6].U64 = append(ev[6].U64, seq)
	ev[7].S = append(ev[7].S, prev)
	ev[8].S = append(ev[8].S, hash)
	ev[9].S = append(ev[9].S, inst)
	ev[10].S = append(ev[10].S, Version)
	ev[11].S = append(ev[11].S, data)
	ev[12].S = append(ev[12].S, record)
	ev[13].S = append(ev[13].S, topic)
	ev[14].I32 = append(ev[14].I32, part)
	ev[15].I64 = append(ev[15].I64, off)
	ev[16].S = append(ev[16].S, key)
	ev[17].U64 = append(ev[17].U64, us)
	ev[18].U64 = append(ev[18].U64, g.ingested)
	for _, tr := range t.typed {
		cs := g.block.Cols[tr.table]
		for i := range tr.cells {
			c := &tr.cells[i]
			switch c.kind {
			case cellConst:
				cs[i].Add(c.val)
			case cellText:
				cs[i].S = append(cs[i].S, string(c.txt.append(g.buf[len(g.buf):], v)))
			case cellTime:
				cs[i].T = append(cs[i].T, sec)
			case cellMicros:
				cs[i].U64 = append(cs[i].U64, uint64(g.now.Add(timeDeltas[c.slot]).UnixMicro()))
			case cellNum:
				if c.asU64 {
					cs[i].U64 = append(cs[i].U64, uint64(v.num[c.slot]))
				} else {
					cs[i].I64 = append(cs[i].I64, v.num[c.slot])
				}
			}
		}
	}
	g.block.Events++
	g.events++
	return hash
}

const hashMemberKey = `,"hash":"`

// flushBlock hands a full block to the writers.
func (g *gateway) flushBlock(force bool) error {
	if g.block.Events == 0 || (!force && g.block.Events < g.cfg.BlockEvents) {
		return nil
	}
	select {
	case g.out <- g.block:
	case <-g.ctx.Done():
		return g.ctx.Err()
	}
	g.block = newBlock()
	return nil
}

// mapped appends an event built the ordinary way (gateway lifecycle, checkpoints) through rows.Map.
func (g *gateway) mapped(typ string, data any) (schemas.Event, error) {
	c := schemas.ResumeChain(g.run, schemas.Source{Instance: g.instance, Version: Version}, g.runSeq-1, g.runPrev)
	if g.runSeq == 0 {
		c = schemas.NewChain(g.run, schemas.Source{Instance: g.instance, Version: Version})
	}
	now := g.now
	c.Now = func() time.Time { return now }
	c.NewID = func() string { return g.newID(now) }
	e, rec, err := c.PeekRecord(typ, data)
	if err != nil {
		return e, err
	}
	rs := g.mapper.Map(rows.Record{Topic: g.cfg.AuditTopic, Partition: g.part, Offset: g.offset, Key: []byte(g.run), Value: rec, Timestamp: now})
	if rs[0].Table == &auditstore.DeadLetters {
		return e, fmt.Errorf("seed: %s event of %s maps to a dead letter: %v", typ, g.instance, rs[0].Values[8])
	}
	g.offset++
	rs[0].Values[18] = g.ingested
	for _, r := range rs {
		g.block.Add(r)
	}
	g.block.Events++
	g.events++
	g.runSeq, g.runPrev = e.Seq+1, e.Hash
	return e, nil
}

// checkpoint writes the run's next signed checkpoint at g.now, listing the heads written since the last.
func (g *gateway) checkpoint() error {
	heads := make([]schemas.SessionHead, 0, len(g.heads))
	for _, h := range g.heads {
		heads = append(heads, h)
	}
	cp := schemas.Checkpoint{Instance: g.instance, Run: g.run, Number: g.cpNumber, Prev: g.cpPrev,
		From: schemas.FormatTime(g.lastTo), To: schemas.FormatTime(g.now), IntervalMS: g.cfg.Interval.Milliseconds()}
	if err := schemas.SealCheckpoint(&cp, heads, g.cfg.Key); err != nil {
		return err
	}
	h, err := schemas.CheckpointHash(cp)
	if err != nil {
		return err
	}
	if _, err := g.mapped(schemas.TypeGatewayCheckpoint, cp); err != nil {
		return err
	}
	g.cpPrev, g.cpNumber, g.lastTo = h, g.cpNumber+1, g.now
	clear(g.heads)
	g.nextCP = g.nextCP.Add(g.cfg.Interval)
	return nil
}

// advance moves the clock to t, writing the checkpoints due on the way.
func (g *gateway) advance(t time.Time) error {
	for !g.nextCP.After(t) {
		g.now = g.nextCP
		if err := g.checkpoint(); err != nil {
			return err
		}
	}
	g.now = t
	return nil
}

// chainEvent writes the next event of a client session's chain at the current time.
type chainState struct {
	id   string
	seq  uint64
	prev string
}

func (g *gateway) chained(s *chainState, t *template) uint64 {
	seq := s.seq
	h := g.emit(t, s.id, seq, s.prev, g.cfg.AuditTopic, s.id)
	s.seq, s.prev = seq+1, h
	g.heads[s.id] = schemas.SessionHead{Session: s.id, Seq: seq, Hash: h,
		Ended: t.typ == schemas.TypeCredentialRevoked || t.typ == schemas.TypeAuthFailed}
	return seq
}

func (g *gateway) generate(ctx context.Context, out chan<- *Block) error {
	g.ctx, g.out = ctx, out
	cfg := g.cfg
	g.now = cfg.From.Add(time.Duration(g.idx) * time.Second)
	g.end = cfg.From.AddDate(0, 0, cfg.Days).Add(-2 * cfg.Interval)
	g.lastTo, g.nextCP = g.now, g.now.Add(cfg.Interval)
	if _, err := g.mapped(schemas.TypeGatewayStarted, schemas.GatewayStarted{Instance: g.instance, Version: Version,
		Listen: "0.0.0.0:6432", Targets: []string{"cards"}, ConfigHash: strings.Repeat("cd", 32), PolicyHash: strings.Repeat("ab", 32),
		MaskShape: "first6last4", CheckpointIntervalMS: cfg.Interval.Milliseconds(), KeyID: schemas.KeyID(cfg.Key.Public().(ed25519.PublicKey)),
		Clock: schemas.Clock{Source: "chrony", Synced: true, OffsetUS: 120, Detail: "chronyc tracking"}}); err != nil {
		return err
	}
	if _, err := g.mapped(schemas.TypePolicyLoaded, schemas.PolicyLoaded{Hash: strings.Repeat("ab", 32), Source: "policy.yaml", Rules: 12}); err != nil {
		return err
	}
	// This gateway's share of the events, in sessions of about avgSessionEvents, evenly over the period.
	share := cfg.Events / cfg.Gateways
	if g.idx < cfg.Events%cfg.Gateways {
		share++
	}
	sessions := max(1, share/avgSessionEvents)
	step := g.end.Sub(g.now) / time.Duration(sessions+1)
	for i := 0; g.events < int64(share) || i == 0; i++ {
		if err := g.advance(g.cfg.From.Add(time.Duration(g.idx)*time.Second + time.Duration(i+1)*step)); err != nil {
			return err
		}
		if !g.now.Before(g.end) {
			break
		}
		if err := g.session(i); err != nil {
			return err
		}
		if err := g.flushBlock(false); err != nil {
			return err
		}
	}
	if err := g.advance(g.now.Add(time.Second)); err != nil {
		return err
	}
	g.nextCP = g.now // the final checkpoint, then gateway.stopped
	if err := g.advance(g.now); err != nil {
		return err
	}
	if _, err := g.mapped(schemas.TypeGatewayStopped, schemas.GatewayStopped{Reason: "signal", SessionsServed: g.sessions,
		UptimeMS: g.now.Sub(cfg.From).Milliseconds()}); err != nil {
		return err
	}
	return g.flushBlock(true)
}

// avgSessionEvents is about the mean number of events a session of session() writes.
const avgSessionEvents = 40

// tick is the time between two events of a session.
const tick = 150 * time.Millisecond

func (g *gateway) step(d time.Duration) error { return g.advance(g.now.Add(d)) }

// session writes one client session (and now and then a failed login before it).
func (g *gateway) session(i int) error {
	set := g.set
	v := &g.v
	g.sessions++
	v.str[slotSubject] = fmt.Sprintf("repo:acme/job-%d:ref:refs/heads/main", i%40)
	if i%20 == 7 {
		// A failed login: a one-event chain of its own.
		s := &chainState{id: fmt.Sprintf("%sconn-%d-%d", g.cfg.Prefix, g.idx+1, i), prev: schemas.GenesisPrev}
		v.str[slotClient] = s.id
		g.chained(s, set.authFailed)
		if err := g.step(tick); err != nil {
			return err
		}
	}
	s := &chainState{id: fmt.Sprintf("%ssess-%d-%d", g.cfg.Prefix, g.idx+1, i), prev: schemas.GenesisPrev}
	v.str[slotClient] = s.id
	human := i%97 == 0
	opening := set.open
	if human {
		opening = set.openHuman
	}
	for _, t := range opening {
		g.chained(s, t)
		if err := g.step(tick); err != nil {
			return err
		}
	}
	var index, stmts, blocked int64
	n := 25 + int(g.rand()%26) // 25…50 statements
	for q := 0; q < n; q++ {
		v.num[slotIndex] = index
		index++
		r := g.rand() % 1000
		switch {
		case r < 500: // read, no cardholder data
			g.chained(s, set.read)
			stmts++
		case r < 700: // read of cardholder data, masked
			g.chained(s, set.readCard)
			stmts++
		case r < 730: // read refused by PostgreSQL
			g.chained(s, set.readErr)
			stmts++
		case r < 860: // write recorded ahead, then its outcome
			v.num[slotIntent] = int64(g.chained(s, set.write))
			if err := g.step(tick); err != nil {
				return err
			}
			g.chained(s, set.writeOK)
			stmts++
		case r < 900:
			v.num[slotIntent] = int64(g.chained(s, set.write))
			if err := g.step(tick); err != nil {
				return err
			}
			g.chained(s, set.writeErr)
			stmts++
		case r < 920:
			v.num[slotIntent] = int64(g.chained(s, set.write))
			g.chained(s, set.writeSkipped)
			stmts++
		case r < 950: // export of cardholder data
			v.num[slotIntent] = int64(g.chained(s, set.export))
			if err := g.step(tick); err != nil {
				return err
			}
			g.chained(s, set.exportOK)
			stmts++
		case r < 980: // blocked by policy
			g.chained(s, set.blocked)
			blocked++
		default: // DDL held for approval
			v.str[slotApproval] = fmt.Sprintf("%sappr-%d-%d-%d", g.cfg.Prefix, g.idx+1, i, q)
			g.chained(s, set.holdRequest)
			g.standalone(set.apRequested)
			g.standalone(set.apNotified)
			if err := g.step(30 * time.Second); err != nil {
				return err
			}
			switch g.rand() % 3 {
			case 0:
				g.standalone(set.apApproved)
				v.num[slotIntent] = int64(g.chained(s, set.ddlApproved))
				if err := g.step(tick); err != nil {
					return err
				}
				g.chained(s, set.ddlOK)
				stmts++
			case 1:
				g.standalone(set.apDenied)
				g.chained(s, set.ddlDenied)
				blocked++
			default:
				g.standalone(set.apExpired)
				g.chained(s, set.ddlExpired)
				blocked++
			}
		}
		if err := g.step(tick); err != nil {
			return err
		}
	}
	v.num[slotStmts], v.num[slotBlocked] = stmts, blocked
	g.chained(s, set.ended)
	if err := g.step(tick); err != nil {
		return err
	}
	g.chained(s, set.revoked)
	return g.step(tick)
}

// standalone writes an approval record to its template's topic (unchained: seq 0, genesis prev, keyed by
// approval id).
func (g *gateway) standalone(t *template) {
	id := g.v.str[slotApproval]
	g.emit(t, id, 0, schemas.GenesisPrev, t.topic, id)
}
