package multi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// loadWorker is one client of the load: a loop of reads and writes through one gateway, reconnecting
// (to the surviving gateway) when its connection fails.
type loadWorker struct {
	id        int
	sub       string
	startOn   *gateway
	ok        atomic.Int64 // statements the client saw succeed
	failed    atomic.Int64 // statements or connects that failed
	okAfter   atomic.Int64 // successes after the gateway kill
	movedToB  atomic.Bool
	lastError atomic.Value
}

// held is one statement the policy holds for approval.
type held struct {
	n       int
	table   string
	gw      *gateway
	approve bool
	done    chan struct{}
	tag     string
	err     error
	id      string // approval id, from the Slack post
	msg     slackuitest.Message
	session string // from approval.requested
}

// TestMultiInstanceKills runs two gateways, two approvers and two indexers against the real stack, a client
// load across both gateways and six held statements, and kills one process of each kind with SIGKILL
// mid-run. Then: every event on the topics is in ClickHouse exactly once (FINAL, as auditors count);
// every session chain verifies, the killed gateway's sessions being gap-free prefixes; every approval has
// exactly one effective decision (the first in the log), posted to Slack exactly once, matching what the
// client saw (design invariants 5, 6, 7).
func TestMultiInstanceKills(t *testing.T) {
	began := time.Now()
	w := newWorld(t, 6)
	t.Logf("topics, tables, issuer and fake Slack ready after %s", time.Since(began).Round(time.Millisecond))
	// Dropped with the indexers' <db>_ingest once they have stopped (cleanups run last-in first-out).
	stack.ClickHouseDatabase(t, w.db)
	ch := stack.ClickHouse(t)

	gwA, gwB := w.launchGateway(t, "gw-a"), w.launchGateway(t, "gw-b")
	apA, apB := w.launchApprover(t, "ap-a"), w.launchApprover(t, "ap-b")
	ixA := w.startIndexer(t, "ix-a") // migrates the database first
	ixB := w.startIndexer(t, "ix-b")
	t.Logf("indexers started after %s", time.Since(began).Round(time.Millisecond))
	for _, g := range []*gateway{gwA, gwB} {
		g.waitReady(t)
	}
	for _, a := range []*approver{apA, apB} {
		a.waitReady(t)
	}
	t.Logf("six processes up after %s", time.Since(began).Round(time.Millisecond))

	// --- load: 4 clients, 2 per gateway ---
	ctx := context.Background()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var gwAKilled atomic.Bool
	workers := []*loadWorker{
		{id: 1, sub: "load-1", startOn: gwA}, {id: 2, sub: "load-2", startOn: gwA},
		{id: 3, sub: "load-3", startOn: gwB}, {id: 4, sub: "load-4", startOn: gwB},
	}
	var wg sync.WaitGroup
	for _, lw := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.runLoad(loadCtx, lw, gwB, &gwAKilled)
		}()
	}
	loadStart := time.Now()

	// --- held statements ---
	hs := make([]*held, 6)
	for i := range hs {
		hs[i] = &held{n: i, table: w.held[i], approve: i%2 == 0 || i == 5, done: make(chan struct{})}
	}
	issue := func(h *held, g *gateway) {
		t.Helper()
		h.gw = g
		c, err := w.connect(ctx, g, fmt.Sprintf("held-%d", h.n))
		if err != nil {
			t.Fatalf("held %d: connect through %s: %v", h.n, g.instance, err)
		}
		go func() {
			defer close(h.done)
			tag, err := c.Exec(ctx, fmt.Sprintf("UPDATE %s SET note = 'after'", h.table))
			h.tag, h.err = tag.String(), err
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_ = c.Close(cctx) // a clean end: session.ended (if the gateway is alive)
			cancel()
		}()
	}
	posted := func(h *held) {
		t.Helper()
		eventually(t, 60*time.Second, fmt.Sprintf("the Slack post of held statement %d", h.n), func() bool {
			var ok bool
			h.msg, h.id, ok = w.heldPost(h.table)
			return ok
		})
	}
	decide := func(h *held, a *approver, user string) {
		t.Helper()
		c := slackuitest.Click{ApprovalID: h.id, Approve: h.approve, User: user, MessageTS: h.msg.TS}
		if !h.approve {
			c.Reason = "not during the test"
		}
		var res string
		// The approver answers unknown_approval until its log consumer has seen the request.
		eventually(t, 30*time.Second, fmt.Sprintf("a decision on held statement %d through %s", h.n, a.name), func() bool {
			var err error
			res, err = click(a, c)
			if err != nil {
				t.Fatalf("click on %d through %s: %v", h.n, a.name, err)
			}
			return res != "unknown_approval"
		})
		if res != "decided" {
			t.Fatalf("click on held statement %d through %s: result %q, want decided", h.n, a.name, res)
		}
	}
	result := func(h *held) {
		t.Helper()
		select {
		case <-h.done:
		case <-time.After(60 * time.Second):
			t.Fatalf("held statement %d did not return within 60s of its decision", h.n)
		}
	}

	// Phase 1, everything alive: h0 on gw-a approved through ap-a, h1 on gw-b denied through ap-b.
	issue(hs[0], gwA)
	issue(hs[1], gwB)
	posted(hs[0])
	posted(hs[1])
	decide(hs[0], apA, "UADA")
	decide(hs[1], apB, "UBOB")
	result(hs[0])
	result(hs[1])
	// A late second click on the other approver (the opposite choice): whatever it answers, the first
	// decision in the log must stay the one that applies (checked below).
	if res, err := click(apB, slackuitest.Click{ApprovalID: hs[0].id, Approve: false, User: "UBOB", MessageTS: hs[0].msg.TS,
		Reason: "too late"}); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("second click on approval %s: %s", hs[0].id, res)
	}

	// Phase 2: h2 (gw-a) and h3 (gw-b) posted and pending when ap-a dies. h4 (gw-b) is requested with ap-a
	// armed to die right after it posts h4 to Slack, before it records approval.notified: ap-b must then
	// adopt that message once the 3s claim lease has passed, not post a second one. If ap-b wins the claim
	// of h4 instead, ap-a is killed after ap-b's post, and ap-b posts h4 once.
	issue(hs[2], gwA)
	issue(hs[3], gwB)
	posted(hs[2])
	posted(hs[3])
	apA.killOnPost.Store(&map[string]bool{hs[0].id: true, hs[1].id: true, hs[2].id: true, hs[3].id: true})
	issue(hs[4], gwB)
	posted(hs[4])
	apA.kill()
	t.Logf("killed ap-a at %s", time.Since(loadStart).Round(time.Millisecond))
	t.Logf("approval.notified of held statement 4 recorded by %s", w.notified(t, hs[4].id))
	decide(hs[2], apB, "UADA")
	decide(hs[3], apB, "UBOB")
	decide(hs[4], apB, "UADA")
	result(hs[2])
	result(hs[3])
	result(hs[4])

	// ix-a is killed right after it wrote a batch to ClickHouse, before (or while) it commits the offsets:
	// the replay window that deduplication (FINAL) must cover. ix-b takes over its partitions after the
	// group session timeout and writes those records again.
	for time.Since(loadStart) < 4*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	ixA.killOnWrite.Store(true)
	select {
	case <-ixA.done:
	case <-time.After(15 * time.Second):
		t.Log("ix-a wrote no batch within 15s; killing it anyway")
	}
	ixA.kill()
	t.Logf("killed ix-a at %s", time.Since(loadStart).Round(time.Millisecond))

	// Phase 3: h5 held on gw-a, posted, then gw-a killed while it waits. Its client certainly gets an error
	// and nobody may run the statement: the approval decided afterwards has no gateway to act on it.
	issue(hs[5], gwA)
	posted(hs[5])
	for time.Since(loadStart) < 8*time.Second {
		time.Sleep(100 * time.Millisecond) // let the load run on both gateways for a while before the kill
	}
	gwAKilled.Store(true)
	gwA.kill()
	killedAt := time.Now()
	t.Logf("killed gw-a at %s", killedAt.Sub(loadStart).Round(time.Millisecond))
	result(hs[5])
	decide(hs[5], apB, "UADA")

	// The load keeps going on gw-b; the moved clients must succeed there.
	eventually(t, 60*time.Second, "every load client succeeding after the gateway kill", func() bool {
		for _, lw := range workers {
			if lw.okAfter.Load() < 5 {
				return false
			}
		}
		return time.Since(loadStart) >= 15*time.Second
	})
	stopLoad()
	wg.Wait()
	loadTime := time.Since(loadStart)

	// Clean ends for the survivors: gw-b writes gateway.stopped, ap-b stops writing.
	gwB.stop(t)
	apB.stop(t)

	// --- what the clients saw ---
	var clientOK int64
	for _, lw := range workers {
		le, _ := lw.lastError.Load().(string)
		t.Logf("load client %d (started on %s): %d ok (%d after the kill), %d failed; last error: %s",
			lw.id, lw.startOn.instance, lw.ok.Load(), lw.okAfter.Load(), lw.failed.Load(), le)
		clientOK += lw.ok.Load()
		if lw.startOn == gwB && lw.failed.Load() != 0 {
			// Killing gw-a must not disturb gw-b's clients: the gateways share no state (invariant 7).
			t.Errorf("load client %d on the surviving gateway saw %d failures (last: %s)", lw.id, lw.failed.Load(), le)
		}
		if lw.startOn == gwA && !lw.movedToB.Load() {
			t.Errorf("load client %d never reconnected to gw-b", lw.id)
		}
	}
	for _, h := range hs[:5] {
		if h.approve && (h.err != nil || h.tag != "UPDATE 3") {
			t.Errorf("held statement %d (approved): %q, %v; want UPDATE 3", h.n, h.tag, h.err)
		}
		if !h.approve && (h.err == nil || !strings.Contains(h.err.Error(), "denied")) {
			t.Errorf("held statement %d (denied): %q, %v; want an error saying denied", h.n, h.tag, h.err)
		}
	}
	if hs[5].err == nil {
		t.Errorf("held statement 5 on the killed gateway returned %q without error", hs[5].tag)
	}
	for _, h := range hs {
		var after int
		if err := w.admin.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE note = 'after'`, h.table)).Scan(&after); err != nil {
			t.Fatal(err)
		}
		want := 0
		if h.approve && h.n != 5 {
			want = 3
		}
		if after != want {
			t.Errorf("held statement %d: %d rows changed in PostgreSQL, want %d", h.n, after, want)
		}
	}

	// --- (a) the topics, and ClickHouse as auditors count it ---
	recs := w.readTopics(t, schemas.TopicAudit, schemas.TopicApprovals, schemas.TopicDecisions)
	ids := map[string]int{}
	for _, r := range recs {
		ids[r.ev.ID]++
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("event %s is %d times on the topics", id, n)
		}
	}
	want := uint64(len(ids))
	count := func(q string) uint64 {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var n uint64
		if err := ch.QueryRow(cctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	indexStart := time.Now()
	var got uint64
	eventually(t, 90*time.Second, fmt.Sprintf("%d events in ClickHouse (events FINAL)", want), func() bool {
		got = count("SELECT count() FROM " + w.db + ".events FINAL")
		return got >= want
	})
	indexWait := time.Since(indexStart)
	ixB.stop(t)
	if got = count("SELECT count() FROM " + w.db + ".events FINAL"); got != want {
		t.Errorf("events FINAL = %d, want %d (the events on the topics)", got, want)
	}
	if n := count("SELECT count(DISTINCT event_id) FROM " + w.db + ".events FINAL"); n != want {
		t.Errorf("distinct event ids in events FINAL = %d, want %d", n, want)
	}
	raw := count("SELECT count() FROM " + w.db + ".events")
	written := ixA.records.Load() + ixB.records.Load()
	if n := count("SELECT count() FROM " + w.db + ".dead_letters FINAL"); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	rows, err := ch.Query(cctx, "SELECT event_id FROM "+w.db+".events FINAL")
	if err != nil {
		t.Fatal(err)
	}
	extra := 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if ids[id] == 0 {
			extra++
		}
	}
	rows.Close()
	cancel()
	if extra != 0 {
		t.Errorf("%d events in ClickHouse that are not on the topics", extra)
	}
	// The auditors' chain-gap query (cookbook 12) finds nothing: the killed gateway's sessions are prefixes.
	if n := count(`SELECT count() FROM (SELECT session, count() AS events, min(seq) AS first_seq, max(seq) AS last_seq
		FROM ` + w.db + `.events FINAL WHERE kafka_topic LIKE '%pangate.audit'
		GROUP BY session HAVING first_seq != 0 OR toInt64(last_seq + 1) - toInt64(events) != 0)`); n != 0 {
		t.Errorf("cookbook 12 (chain gaps) finds %d sessions, want 0", n)
	}

	// --- (b) session chains ---
	bySession := map[string][]schemas.Event{}
	var order []string
	for _, r := range recs {
		if r.topic != schemas.TopicAudit {
			continue
		}
		if _, ok := bySession[r.ev.Session]; !ok {
			order = append(order, r.ev.Session)
		}
		bySession[r.ev.Session] = append(bySession[r.ev.Session], r.ev)
	}
	unterminated := map[string]bool{}
	executedOK := map[string]int64{} // by subject
	runs := map[string]int{}         // gateway runs seen, by instance
	cut := 0                         // client sessions without an end event
	for _, s := range order {
		evs := bySession[s]
		if err := schemas.VerifySession(evs); err != nil {
			t.Errorf("session %s (%s) does not verify: %v", s, evs[0].Gateway.Instance, err)
		}
		inst := evs[0].Gateway.Instance
		last := evs[len(evs)-1].Type
		if evs[0].Type == schemas.TypeGatewayStarted {
			runs[inst]++
			stopped := last == schemas.TypeGatewayStopped
			if inst == "gw-b" && !stopped {
				t.Errorf("gw-b's run chain ends with %s, want gateway.stopped", last)
			}
			if inst == "gw-a" && stopped {
				t.Errorf("gw-a's run chain has gateway.stopped although it was killed")
			}
			continue
		}
		// A client session: auth.succeeded, credential.issued, session.started, statements,
		// credential.revoked, session.ended (or just auth.failed).
		var st *schemas.SessionStarted
		for _, e := range evs {
			switch e.Type {
			case schemas.TypeSessionStarted:
				st = &schemas.SessionStarted{}
				if err := e.Decode(st); err != nil {
					t.Fatal(err)
				}
			case schemas.TypeQueryExecuted:
				var q schemas.QueryExecuted
				// Reads are recorded with their outcome ("ok"); writes ahead of being forwarded ("forwarded").
				if st != nil && e.Decode(&q) == nil && (q.Outcome == "ok" || q.Outcome == "forwarded") {
					executedOK[st.Identity.Subject]++
				}
			}
		}
		if last != schemas.TypeSessionEnded && last != schemas.TypeAuthFailed {
			cut++
			if st != nil {
				unterminated[s] = true
			}
			// Only a killed gateway leaves a session without its end event.
			if inst != "gw-a" {
				t.Errorf("session %s on %s ends with %s, want session.ended", s, inst, last)
			}
		}
	}
	if runs["gw-a"] != 1 || runs["gw-b"] != 1 {
		t.Errorf("gateway runs on the audit topic: %v, want one each of gw-a and gw-b", runs)
	}
	// Write-ahead (invariant 1) across the kill: every statement a client saw succeed was recorded.
	for _, lw := range workers {
		if executedOK[lw.sub] < lw.ok.Load() {
			t.Errorf("load client %d saw %d statements succeed, but only %d query.executed (ok) are on the topic",
				lw.id, lw.ok.Load(), executedOK[lw.sub])
		}
	}
	// The auditors' "sessions without an end" query (cookbook 06, without its one-hour delay) lists exactly
	// the sessions the killed gateway cut.
	cctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	rows, err = ch.Query(cctx, `SELECT session FROM `+w.db+`.sessions FINAL
		WHERE session NOT IN (SELECT session FROM `+w.db+`.session_ends FINAL)`)
	if err != nil {
		t.Fatal(err)
	}
	chOpen := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		chOpen[s] = true
	}
	rows.Close()
	cancel()
	if !sameSet(chOpen, unterminated) {
		t.Errorf("cookbook 06 lists %v, the topic has these sessions without session.ended: %v", keys(chOpen), keys(unterminated))
	}

	// --- (c) approvals ---
	type apLog struct {
		requested, requestedAudit int
		first                     string // first decided/expired, as "decided:approved" or "expired"
		firstBy                   string
		decisions                 int
		posters                   []string // instances that wrote approval.notified with a message
	}
	aps := map[string]*apLog{}
	get := func(id string) *apLog {
		if aps[id] == nil {
			aps[id] = &apLog{}
		}
		return aps[id]
	}
	sessionOf := map[string]string{}
	for _, r := range recs {
		var ref struct {
			ApprovalID string `json:"approval_id"`
		}
		switch r.ev.Type {
		case schemas.TypeApprovalRequested, schemas.TypeApprovalDecided, schemas.TypeApprovalExpired, schemas.TypeApprovalNotified:
			if err := json.Unmarshal(r.ev.Data, &ref); err != nil || ref.ApprovalID == "" {
				t.Errorf("%s without approval_id: %v", r.ev.Type, err)
				continue
			}
		default:
			continue
		}
		a := get(ref.ApprovalID)
		switch r.ev.Type {
		case schemas.TypeApprovalRequested:
			var rq schemas.ApprovalRequested
			if err := r.ev.Decode(&rq); err != nil {
				t.Fatal(err)
			}
			if r.topic == schemas.TopicAudit {
				a.requestedAudit++
				sessionOf[ref.ApprovalID] = r.ev.Session
			} else {
				a.requested++
			}
		case schemas.TypeApprovalNotified:
			var n schemas.ApprovalNotified
			if r.ev.Decode(&n) == nil && n.MessageTS != "" {
				a.posters = append(a.posters, r.ev.Gateway.Instance)
			} else {
				a.posters = append(a.posters, "claim:"+r.ev.Gateway.Instance)
			}
		case schemas.TypeApprovalDecided:
			if r.topic == schemas.TopicAudit { // the session chain's copy
				continue
			}
			a.decisions++
			if a.first == "" {
				var d schemas.ApprovalDecided
				if err := r.ev.Decode(&d); err != nil {
					t.Fatal(err)
				}
				a.first, a.firstBy = "decided:"+d.Decision, d.By
			}
		case schemas.TypeApprovalExpired:
			if r.topic == schemas.TopicAudit { // the session chain's copy
				continue
			}
			a.decisions++
			if a.first == "" {
				a.first = "expired"
			}
		}
	}
	if len(aps) != len(hs) {
		t.Errorf("%d approvals on the topics, want %d (one per held statement)", len(aps), len(hs))
	}
	for _, h := range hs {
		a := aps[h.id]
		if a == nil {
			t.Errorf("held statement %d: approval %s not on the topics", h.n, h.id)
			continue
		}
		wantFirst, wantBy := "decided:denied", "UBOB"
		if h.approve {
			wantFirst, wantBy = "decided:approved", "UADA"
		}
		if a.requested != 1 || a.requestedAudit != 1 || a.first != wantFirst || a.firstBy != wantBy {
			t.Errorf("held statement %d, approval %s: requested %d (approvals topic) and %d (audit), first decision %q by %q; want 1, 1, %q by %q",
				h.n, h.id, a.requested, a.requestedAudit, a.first, a.firstBy, wantFirst, wantBy)
		}
		if n := w.postsFor(h.id); n != 1 {
			t.Errorf("held statement %d, approval %s: %d Slack posts, want exactly 1", h.n, h.id, n)
		}
		h.session = sessionOf[h.id]
		t.Logf("held statement %d on %s: approval %s, notified %v, %d decision event(s), first %s", h.n, h.gw.instance, h.id,
			a.posters, a.decisions, a.first)
	}
	// The statement's own record in its session follows its approval.requested: a denied statement's
	// query.blocked names the approval and the decision; an approved one's query.executed (written ahead
	// of forwarding) carries the "approved" risk tag and names its approval (id, decision, approver).
	for _, h := range hs[:5] {
		var found, requested bool
		var fp string
		for _, e := range bySession[h.session] {
			switch e.Type {
			case schemas.TypeApprovalRequested:
				var rq schemas.ApprovalRequested
				if e.Decode(&rq) == nil && rq.ApprovalID == h.id {
					requested, fp = true, rq.Statement.Fingerprint
				}
			case schemas.TypeQueryExecuted:
				var q schemas.QueryExecuted
				if requested && e.Decode(&q) == nil && q.Statement.Fingerprint == fp && contains(q.Statement.RiskTags, "approved") {
					found = h.approve && q.Outcome == "forwarded" &&
						q.Approval != nil && q.Approval.ID == h.id && q.Approval.Decision == "approved" && q.Approval.By == "UADA"
				}
			case schemas.TypeQueryBlocked:
				var b schemas.QueryBlocked
				if e.Decode(&b) == nil && b.Approval != nil && b.Approval.ID == h.id {
					found = !h.approve && b.Approval.Decision == "denied" && b.Approval.By == "UBOB" && b.Reason == "approval_denied"
				}
			}
		}
		if !found {
			t.Errorf("held statement %d: session %s has no statement record matching its decision", h.n, h.session)
		}
	}
	if h5 := hs[5]; h5.session == "" || !unterminated[h5.session] {
		t.Errorf("held statement 5's session %q is not among the sessions the gateway kill cut", h5.session)
	}
	for _, h := range []*held{hs[0], hs[2]} { // gw-a sessions closed before the kill ended cleanly
		if unterminated[h.session] {
			t.Errorf("held statement %d's session on gw-a has no session.ended although it closed before the kill", h.n)
		}
	}
	// The auditors' approvals query (cookbook 03) agrees on every outcome.
	cctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	rows, err = ch.Query(cctx, `SELECT approval_id,
		if(countIf(event_type IN ('approval.decided', 'approval.expired')) = 0, 'pending',
		   argMinIf(decision, time_us, event_type IN ('approval.decided', 'approval.expired'))) AS outcome
		FROM `+w.db+`.approvals FINAL GROUP BY approval_id`)
	if err != nil {
		t.Fatal(err)
	}
	chOutcome := map[string]string{}
	for rows.Next() {
		var id, o string
		if err := rows.Scan(&id, &o); err != nil {
			t.Fatal(err)
		}
		chOutcome[id] = o
	}
	rows.Close()
	cancel()
	for _, h := range hs {
		want := "denied"
		if h.approve {
			want = "approved"
		}
		if chOutcome[h.id] != want {
			t.Errorf("cookbook 03: approval %s of held statement %d is %q, want %q", h.id, h.n, chOutcome[h.id], want)
		}
	}

	t.Logf("load %s: %d statements ok across 4 clients; %d events on the topics (%d audit sessions, %d cut by the kill); "+
		"the indexers wrote %d records (%d by ix-a), %d more than on the topics (replayed after the kill); %d raw rows in events now (background merges remove duplicates); index caught up %s after the last producer stopped; total %s",
		loadTime.Round(time.Millisecond), clientOK, want, len(order), cut, written, ixA.records.Load(), written-int64(want), raw,
		indexWait.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// runLoad is one load client: SELECT, INSERT and UPDATE … WHERE in a loop; on any error it drops the
// connection and reconnects, to gw-b once gw-a has been killed.
func (w *world) runLoad(ctx context.Context, lw *loadWorker, survivor *gateway, killed *atomic.Bool) {
	var c *pgx.Conn
	defer func() {
		if c != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = c.Close(cctx)
			cancel()
		}
	}()
	fail := func(err error) {
		if ctx.Err() != nil {
			return // stopping: not a failure of the system under test
		}
		lw.failed.Add(1)
		lw.lastError.Store(err.Error())
	}
	for i := 0; ctx.Err() == nil; i++ {
		if c == nil {
			g := lw.startOn
			if killed.Load() {
				g = survivor
			}
			var err error
			c, err = w.connect(ctx, g, lw.sub)
			if err != nil {
				c = nil
				fail(err)
				sleep(ctx, 200*time.Millisecond)
				continue
			}
			if g == survivor && lw.startOn != survivor {
				lw.movedToB.Store(true)
			}
		}
		id := int64(lw.id)*1_000_000 + int64(i)
		stmts := []struct {
			sql  string
			args []any
		}{
			{fmt.Sprintf("SELECT count(*) FROM %s WHERE worker = $1", w.load), []any{lw.id}},
			{fmt.Sprintf("INSERT INTO %s (id, worker, note) VALUES ($1, $2, 'new')", w.load), []any{id, lw.id}},
			{fmt.Sprintf("UPDATE %s SET note = 'seen' WHERE id = $1", w.load), []any{id}},
		}
		for _, s := range stmts {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := c.Exec(sctx, s.sql, s.args...)
			cancel()
			if err != nil {
				fail(err)
				_ = c.Close(context.Background())
				c = nil
				break
			}
			lw.ok.Add(1)
			if killed.Load() {
				lw.okAfter.Add(1)
			}
		}
		sleep(ctx, 20*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
