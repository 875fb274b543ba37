package proxy

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pangate/pangate/gateway/jit"
	"github.com/pangate/pangate/schemas"
)

func queryFrame(sql string) []byte {
	b, _ := (&pgproto3.Query{String: sql}).Encode(nil)
	return b
}

func TestSimpleQueryMaskedAndRecorded(t *testing.T) {
	h := newHarness(t)
	fe, c, _ := h.client(t, "good")
	if types, _ := untilReady(t, fe); !strings.HasSuffix(types, "KZ") || !strings.HasPrefix(types, "R") {
		t.Fatalf("greeting: %q", types)
	}
	_, err := c.Write(queryFrame("SELECT pan FROM cards"))
	must(t, err)
	types, vals := untilReady(t, fe)
	if types != "TDCZ" {
		t.Fatalf("response types %q", types)
	}
	if len(vals) != 1 || vals[0] == "4111111111111111" || !strings.HasSuffix(vals[0], "1111") {
		t.Fatalf("DataRow %q: want a masked PAN", vals)
	}
	_, err = c.Write([]byte{'X', 0, 0, 0, 4})
	must(t, err)
	evs := h.events(t, 6)
	var qe schemas.QueryExecuted
	for _, e := range evs {
		if e.Type == schemas.TypeQueryExecuted {
			must(t, e.Decode(&qe))
		}
	}
	if qe.Outcome != "ok" || qe.Rows != 1 || qe.Statement.Kind != "read" || qe.CommandTag != "SELECT 1" {
		t.Fatalf("query.executed %+v", qe)
	}
	if err := schemas.VerifySession(evs[:len(evs)]); err != nil && len(evs) > 0 {
		// all events here belong to one session
		t.Fatal(err)
	}
}

// TestReadResultHeldUntilAck pins invariant 1 for reads: the read runs upstream at once, but no byte of its
// result reaches the client while Kafka has not acknowledged its event.
func TestReadResultHeldUntilAck(t *testing.T) {
	h := newHarness(t)
	fe, c, _ := h.client(t, "good")
	untilReady(t, fe)
	h.holdAck.Store(true)
	_, err := c.Write(queryFrame("SELECT pan FROM cards"))
	must(t, err)
	select {
	case got := <-h.pg.got:
		if !strings.HasPrefix(got, "Q SELECT") {
			t.Fatalf("upstream got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read was not forwarded upstream while its event was pending")
	}
	if readWithin(c, 300*time.Millisecond) {
		t.Fatal("result bytes reached the client before the event was acknowledged")
	}
	h.holdAck.Store(false)
	close(h.release)
}

// TestWriteNotForwardedBeforeAck pins invariant 1 for writes: not even sent upstream before the ack.
func TestWriteNotForwardedBeforeAck(t *testing.T) {
	h := newHarness(t)
	fe, c, _ := h.client(t, "good")
	untilReady(t, fe)
	h.holdAck.Store(true)
	go func() { _, _ = c.Write(queryFrame("INSERT INTO t VALUES (1)")) }()
	select {
	case got := <-h.pg.got:
		t.Fatalf("upstream got %q before the event was acknowledged", got)
	case <-time.After(300 * time.Millisecond):
	}
	h.holdAck.Store(false)
	close(h.release)
	select {
	case got := <-h.pg.got:
		if !strings.HasPrefix(got, "Q INSERT") {
			t.Fatalf("upstream got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write was never forwarded after the ack")
	}
	if types, _ := untilReady(t, fe); types != "CZ" {
		t.Fatalf("response %q", types)
	}
}

func TestExtendedPipeline(t *testing.T) {
	h := newHarness(t)
	fe, _, _ := h.client(t, "good")
	untilReady(t, fe)
	fe.SendParse(&pgproto3.Parse{Name: "s1", Query: "SELECT pan FROM cards WHERE id = $1"})
	fe.SendDescribe(&pgproto3.Describe{ObjectType: 'S', Name: "s1"})
	fe.SendSync(&pgproto3.Sync{})
	must(t, fe.Flush())
	if types, _ := untilReady(t, fe); types != "1tTZ" {
		t.Fatalf("prepare: %q", types)
	}
	for i := 0; i < 2; i++ {
		fe.SendBind(&pgproto3.Bind{PreparedStatement: "s1", Parameters: [][]byte{[]byte("4111111111111111")}})
		fe.SendExecute(&pgproto3.Execute{})
	}
	fe.SendSync(&pgproto3.Sync{})
	must(t, fe.Flush())
	types, vals := untilReady(t, fe)
	if types != "2DC2DCZ" {
		t.Fatalf("pipelined executes: %q", types)
	}
	for _, v := range vals {
		if v == "4111111111111111" {
			t.Fatal("PAN in clear")
		}
	}
	evs := h.events(t, 5)
	n := 0
	for _, e := range evs {
		if e.Type == schemas.TypeQueryExecuted {
			var qe schemas.QueryExecuted
			must(t, e.Decode(&qe))
			if qe.Statement.Protocol != "extended" || len(qe.Statement.Params) != 1 || strings.Contains(qe.Statement.Params[0], "41111111111") {
				t.Fatalf("extended statement event: %+v", qe.Statement)
			}
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d query.executed events for 2 executes", n)
	}
}

func TestBadTokenRefused(t *testing.T) {
	h := newHarness(t)
	fe, _, _ := h.client(t, "expired-token")
	msg, err := fe.Receive()
	must(t, err)
	e, ok := msg.(*pgproto3.ErrorResponse)
	if !ok || e.Code != "28P01" || !strings.Contains(e.Message, "expired") || strings.Contains(e.Message, "expired-token") {
		t.Fatalf("want 28P01 saying why without the token, got %#v", msg)
	}
	if h.creds.issued.Load() != 0 {
		t.Fatal("a role was issued for a refused login")
	}
}

func TestCancelCodecRoundTrip(t *testing.T) {
	c := cancelCodec{key: []byte("0123456789abcdef0123456789abcdef")}
	for _, v := range [][2]uint32{{1, 2}, {4242, 7}, {0xffffffff, 0}, {1 << 22, 123456789}} {
		p, s := c.seal(v[0], v[1])
		if p == v[0] && s == v[1] {
			t.Fatalf("seal(%v) is the identity", v)
		}
		if gp, gs := c.open(p, s); gp != v[0] || gs != v[1] {
			t.Fatalf("open(seal(%v)) = %d,%d", v, gp, gs)
		}
	}
	other := cancelCodec{key: []byte("another key of at least 32 bytes!!")}
	p, s := c.seal(4242, 7)
	if gp, gs := other.open(p, s); gp == 4242 && gs == 7 {
		t.Fatal("a different key opens the same pid and secret")
	}
}

func TestStartupParams(t *testing.T) {
	p, err := parseStartupParams([]byte("user\x00r@t\x00database\x00d\x00\x00"))
	if err != nil || p["user"] != "r@t" || p["database"] != "d" {
		t.Fatalf("%v %v", p, err)
	}
	for _, bad := range []string{"user\x00x", "user\x00x\x00", "user\x00a\x00user\x00b\x00\x00", "\x00junk"} {
		if _, err := parseStartupParams([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestMessageTooLarge(t *testing.T) {
	h := newHarness(t)
	fe, c, _ := h.client(t, "good")
	untilReady(t, fe)
	go func() { _, _ = c.Write(queryFrame("SELECT '" + strings.Repeat("x", 100<<10) + "'")) }()
	msg, err := fe.Receive()
	must(t, err)
	e, ok := msg.(*pgproto3.ErrorResponse)
	if !ok || e.Code != "54000" || e.Severity != "FATAL" {
		t.Fatalf("want FATAL 54000 for an oversized message, got %#v", msg)
	}
}

func TestFunctionCallRefused(t *testing.T) {
	h := newHarness(t)
	fe, c, _ := h.client(t, "good")
	untilReady(t, fe)
	fc, _ := (&pgproto3.FunctionCall{Function: 1234}).Encode(nil)
	_, err := c.Write(fc)
	must(t, err)
	types, vals := untilReady(t, fe)
	if types != "EZ" || !strings.HasPrefix(vals[0], "0A000") {
		t.Fatalf("function call: %q %q", types, vals)
	}
	select {
	case got := <-h.pg.got:
		t.Fatalf("upstream got %q", got)
	default:
	}
}

// denyPolicy denies DDL and holds statements that mention "hold_me".
type denyPolicy struct{ AllowAll }

func (denyPolicy) Evaluate(in Input) Decision {
	switch {
	case in.Statement.Kind == "ddl":
		return Decision{Action: ActionDeny, Rule: "no-ddl", Reason: "schema changes need a migration"}
	case strings.Contains(in.Statement.Text, "hold_me"):
		return Decision{Action: ActionHold, Rule: "risky"}
	}
	return Decision{Action: ActionAllow, Rule: "ok"}
}

// TestPolicyDenyAndHold: denied and held statements (no approval service) never reach PostgreSQL, the client
// gets 42501 in place of the server's answer in both protocols, and query.blocked is recorded.
func TestPolicyDenyAndHold(t *testing.T) {
	h := newHarnessPolicy(t, denyPolicy{})
	fe, c, _ := h.client(t, "good")
	untilReady(t, fe)
	_, err := c.Write(queryFrame("DROP TABLE cards"))
	must(t, err)
	types, vals := untilReady(t, fe)
	if types != "EZ" || !strings.HasPrefix(vals[0], "42501") || !strings.Contains(vals[0], "no-ddl") {
		t.Fatalf("deny: %q %q", types, vals)
	}
	fe.SendParse(&pgproto3.Parse{Query: "SELECT hold_me FROM cards"})
	fe.SendBind(&pgproto3.Bind{})
	fe.SendExecute(&pgproto3.Execute{})
	fe.SendSync(&pgproto3.Sync{})
	must(t, fe.Flush())
	types, vals = untilReady(t, fe)
	if types != "12EZ" || !strings.Contains(vals[0], "approval service is not configured") {
		t.Fatalf("hold without approvals: %q %q", types, vals)
	}
	for {
		select {
		case got := <-h.pg.got:
			if strings.HasPrefix(got, "Q DROP") || got == "E" {
				t.Fatalf("upstream ran a refused statement: %q", got)
			}
			continue
		default:
		}
		break
	}
	evs := h.events(t, 5)
	reasons := map[string]bool{}
	for _, e := range evs {
		if e.Type == schemas.TypeQueryBlocked {
			var qb schemas.QueryBlocked
			must(t, e.Decode(&qb))
			reasons[qb.Reason] = true
		}
	}
	if !reasons["policy_deny"] || !reasons["approval_unavailable"] {
		t.Fatalf("query.blocked reasons %v", reasons)
	}
}

// TestGSSENCDeclined: a GSSENCRequest gets 'N' and the client can go on with its StartupMessage.
func TestGSSENCDeclined(t *testing.T) {
	h := newHarness(t)
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); h.srv.handle(context.Background(), b) }()
	t.Cleanup(func() { a.Close(); <-done })
	_ = a.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = a.Write([]byte{0, 0, 0, 8, 4, 210, 22, 48}) }()
	var resp [1]byte
	_, err := io.ReadFull(a, resp[:])
	must(t, err)
	if resp[0] != 'N' {
		t.Fatalf("GSSENCRequest answered %q, want 'N'", resp[0])
	}
	go func() { _, _ = a.Write(startupPacket("user", "reader@t")) }()
	fe := pgproto3.NewFrontend(a, a)
	msg, err := fe.Receive()
	must(t, err)
	if _, ok := msg.(*pgproto3.AuthenticationCleartextPassword); !ok {
		t.Fatalf("after declining GSS encryption: %T", msg)
	}
}

// TestPipelinedReadReleasedBeforeAck: with audit.reads pipelined a side-effect-free read's result
// reaches the client while its event is pending, and the session's next statement is not forwarded
// until that event is acknowledged, so a crash loses the record of at most one read (issue 14.4).
func TestPipelinedReadReleasedBeforeAck(t *testing.T) {
	h := newHarness(t)
	h.srv.cfg.PipelinedReads = true
	fe, c, _ := h.client(t, "good")
	untilReady(t, fe)
	h.holdAck.Store(true)
	_, err := c.Write(queryFrame("SELECT pan FROM cards"))
	must(t, err)
	if got := <-h.pg.got; !strings.HasPrefix(got, "Q SELECT") {
		t.Fatalf("upstream got %q", got)
	}
	if types, _ := untilReady(t, fe); types != "TDCZ" {
		t.Fatalf("pipelined read answered %q before its ack, want TDCZ", types)
	}
	_, err = c.Write(queryFrame("SELECT pan FROM cards WHERE 2 = 2"))
	must(t, err)
	select {
	case got := <-h.pg.got:
		t.Fatalf("the next statement %q was forwarded before the previous read's event was acknowledged", got)
	case <-time.After(300 * time.Millisecond):
	}
	h.holdAck.Store(false)
	close(h.release)
	select {
	case got := <-h.pg.got:
		if !strings.Contains(got, "2 = 2") {
			t.Fatalf("upstream got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the next statement was never forwarded after the ack")
	}
	if types, _ := untilReady(t, fe); types != "TDCZ" {
		t.Fatalf("second read answered %q", types)
	}
}

// TestPipelinedWriteWaitsForReadAck: a write after a pipelined read is forwarded only once the read's
// event is acknowledged.
func TestPipelinedWriteWaitsForReadAck(t *testing.T) {
	h := newHarness(t)
	h.srv.cfg.PipelinedReads = true
	fe, c, _ := h.client(t, "good")
	untilReady(t, fe)
	h.holdAck.Store(true)
	_, err := c.Write(queryFrame("SELECT pan FROM cards"))
	must(t, err)
	<-h.pg.got
	if types, _ := untilReady(t, fe); types != "TDCZ" {
		t.Fatalf("pipelined read answered %q before its ack, want TDCZ", types)
	}
	go func() { _, _ = c.Write(queryFrame("INSERT INTO t VALUES (1)")) }()
	select {
	case got := <-h.pg.got:
		t.Fatalf("the write %q was forwarded before the previous read's event was acknowledged", got)
	case <-time.After(300 * time.Millisecond):
	}
	h.holdAck.Store(false)
	close(h.release)
	select {
	case got := <-h.pg.got:
		if !strings.HasPrefix(got, "Q INSERT") {
			t.Fatalf("upstream got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write was never forwarded after the ack")
	}
}

// TestUpstreamRefusedEndsChain: a session whose JIT role was issued but whose server connection failed
// still ends its chain with session.ended (reason error) after credential.revoked — it ended with the revoke
// before, which the integrity report cannot tell from a cut chain (found by integration/kafkacluster).
func TestUpstreamRefusedEndsChain(t *testing.T) {
	h := newHarness(t)
	h.noPG.Store(true)
	fe, _, _ := h.client(t, "good")
	msg, err := fe.Receive()
	must(t, err)
	if e, ok := msg.(*pgproto3.ErrorResponse); !ok || e.Severity != "FATAL" || !strings.Contains(e.Message, "could not connect to target") {
		t.Fatalf("want FATAL could not connect, got %#v", msg)
	}
	evs := h.events(t, 4)
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	want := []string{schemas.TypeAuthSucceeded, schemas.TypeCredentialIssued, schemas.TypeCredentialRevoked, schemas.TypeSessionEnded}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	var se schemas.SessionEnded
	must(t, evs[3].Decode(&se))
	if se.Reason != string(schemas.EndError) {
		t.Fatalf("session.ended reason %q, want %q", se.Reason, schemas.EndError)
	}
}

// TestRoleDroppedAfterEndRecorded: at a session's end the JIT role is disabled first and dropped only once
// credential.revoked and session.ended are acknowledged, so a gateway killed in between leaves the role
// for the reaper, which then records the session (docs/evidence.md "Sessions ended by a crash").
func TestRoleDroppedAfterEndRecorded(t *testing.T) {
	h := newHarness(t)
	var atDrop []string
	var disabledAtDrop int64
	h.creds.dropHook = func(jit.Credential) {
		disabledAtDrop = h.creds.disabled.Load()
		for _, e := range h.events(t, 5) {
			atDrop = append(atDrop, e.Type)
		}
	}
	fe, c, done := h.client(t, "good")
	untilReady(t, fe)
	_, err := c.Write([]byte{'X', 0, 0, 0, 4})
	must(t, err)
	<-done
	if disabledAtDrop != 1 || h.creds.revoked.Load() != 1 {
		t.Fatalf("disabled %d times before the drop, dropped %d times; want 1 and 1", disabledAtDrop, h.creds.revoked.Load())
	}
	want := []string{schemas.TypeAuthSucceeded, schemas.TypeCredentialIssued, schemas.TypeSessionStarted, schemas.TypeCredentialRevoked, schemas.TypeSessionEnded}
	if !slices.Equal(atDrop, want) {
		t.Fatalf("the role was dropped when the topic held %v, want %v", atDrop, want)
	}
}

// TestRoleKeptWhenEndUnacknowledged: Kafka does not acknowledge session.ended; the role is disabled but not
// dropped, so the reaper finds it (and records the session if the gateway dies before the end lands).
func TestRoleKeptWhenEndUnacknowledged(t *testing.T) {
	h := newHarness(t)
	fe, c, done := h.client(t, "good")
	untilReady(t, fe)
	h.holdIn.Store(2) // credential.revoked is acknowledged, session.ended is not
	_, err := c.Write([]byte{'X', 0, 0, 0, 4})
	must(t, err)
	<-done
	if h.creds.disabled.Load() != 1 || h.creds.revoked.Load() != 0 {
		t.Fatalf("disabled %d, dropped %d; want the role disabled and kept", h.creds.disabled.Load(), h.creds.revoked.Load())
	}
	h.relOnce.Do(func() { close(h.release) })
}
