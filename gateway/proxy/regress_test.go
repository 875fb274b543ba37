package proxy

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pangate/pangate/gateway/hold"
	"github.com/pangate/pangate/gateway/jit"
	"github.com/pangate/pangate/schemas"
)

const panInt8 = 4111111111111111

func int8Bytes(v int64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(v))
	return b
}

// TestCachedStatementMaskedByItsOwnLayout pins the masking-order bug: the first DataRow of an Execute that
// follows no RowDescription (a statement prepared once, as pgx's QueryExecModeCacheStatement and JDBC do)
// was masked with the previous statement's row layout, so a binary int8 PAN passed as "text".
func TestCachedStatementMaskedByItsOwnLayout(t *testing.T) {
	h := newHarness(t)
	h.pg.results = map[string]fakeResult{
		"SELECT pan_num FROM cards": {
			desc: &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("pan_num"), DataTypeOID: 20, DataTypeSize: 8, TypeModifier: -1, Format: 1}}},
			rows: []*pgproto3.DataRow{{Values: [][]byte{int8Bytes(panInt8)}}},
		},
		"SELECT name FROM merchants": {
			desc: &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("name"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}},
			rows: []*pgproto3.DataRow{{Values: [][]byte{[]byte("acme")}}},
		},
	}
	fe, _, _ := h.client(t, "good")
	untilReady(t, fe)
	for _, p := range []struct{ name, sql string }{{"pans", "SELECT pan_num FROM cards"}, {"names", "SELECT name FROM merchants"}} {
		fe.SendParse(&pgproto3.Parse{Name: p.name, Query: p.sql})
		fe.SendDescribe(&pgproto3.Describe{ObjectType: 'S', Name: p.name})
	}
	fe.SendSync(&pgproto3.Sync{})
	must(t, fe.Flush())
	if types, _ := untilReady(t, fe); types != "1tT1tTZ" {
		t.Fatalf("prepare: %q", types)
	}
	// Execute the other statement, then the PAN statement twice, binary results, no Describe of the portal.
	for _, stmt := range []string{"names", "pans", "names", "pans"} {
		fe.SendBind(&pgproto3.Bind{PreparedStatement: stmt, ResultFormatCodes: []int16{1}})
		fe.SendExecute(&pgproto3.Execute{})
		fe.SendSync(&pgproto3.Sync{})
		must(t, fe.Flush())
		types, vals := untilReady(t, fe)
		if types != "2DCZ" || len(vals) != 1 {
			t.Fatalf("execute %s: %q %q", stmt, types, vals)
		}
		if stmt != "pans" {
			continue
		}
		if len(vals[0]) != 8 {
			t.Fatalf("int8 value of %d bytes", len(vals[0]))
		}
		got := int64(binary.BigEndian.Uint64([]byte(vals[0])))
		if got == panInt8 {
			t.Fatal("a binary int8 PAN reached the client unmasked")
		}
		if got/10000 == 0 || got%10000 != 1111 {
			t.Fatalf("masked int8 %d, want first six and last four kept", got)
		}
	}
}

// fakeHolder answers every approval request with one scripted decision.
type fakeHolder struct {
	dec hold.Decision
	err error
}

func (f fakeHolder) Request(_ context.Context, req schemas.ApprovalRequested) (hold.Decision, error) {
	d := f.dec
	if d.Outcome == hold.Approved || d.Outcome == hold.Denied {
		d.EventID = "ev-" + req.ApprovalID
	}
	return d, f.err
}

// TestHeldStatementOutcomes: a held statement's refusal names who decided and why (their free text
// cleaned and masked), expiry and audit failures say so, and an approved statement's query.executed
// names its approval.
func TestHeldStatementOutcomes(t *testing.T) {
	cases := []struct {
		name       string
		holder     fakeHolder
		sql        string
		wantCode   string
		wantMsg    []string
		wantReason string // query.blocked reason; "" means the statement ran
	}{
		{name: "denied", holder: fakeHolder{dec: hold.Decision{Outcome: hold.Denied, By: "UBOB", ByName: "Bob", ByEmail: "bob@acme.example",
			Reason: "a full card dump\n is never needed\x1b[31m 4111111111111111"}},
			sql: "SELECT hold_me FROM cards", wantCode: "42501", wantReason: "approval_denied",
			wantMsg: []string{"statement denied by bob@acme.example (Bob): a full card dump", "is never needed", "(approval "}},
		{name: "expired", holder: fakeHolder{dec: hold.Decision{Outcome: hold.Expired}}, sql: "SELECT hold_me FROM cards",
			wantCode: "42501", wantReason: "approval_expired", wantMsg: []string{"expired after 15m without a decision"}},
		{name: "publish failed", holder: fakeHolder{err: fmt.Errorf("%w: broker down", hold.ErrPublish)}, sql: "SELECT hold_me FROM cards",
			wantCode: "58000", wantReason: "audit_unavailable", wantMsg: []string{"audit log"}},
		{name: "approved read", holder: fakeHolder{dec: hold.Decision{Outcome: hold.Approved, By: "UADA", ByEmail: "ada@acme.example"}},
			sql: "SELECT hold_me FROM cards"},
		{name: "approved write", holder: fakeHolder{dec: hold.Decision{Outcome: hold.Approved, By: "UADA", ByEmail: "ada@acme.example"}},
			sql: "UPDATE cards SET hold_me = 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessPolicy(t, denyPolicy{})
			h.srv.deps.Holder = tc.holder
			fe, c, _ := h.client(t, "good")
			untilReady(t, fe)
			_, err := c.Write(queryFrame(tc.sql))
			must(t, err)
			types, vals := untilReady(t, fe)
			if tc.wantReason == "" {
				if strings.Contains(types, "E") {
					t.Fatalf("approved statement refused: %q %q", types, vals)
				}
			} else {
				// NEZ: the notice that the statement waits for approval, then the refusal.
				if types != "NEZ" || !strings.HasPrefix(vals[0], tc.wantCode+" ") {
					t.Fatalf("want %s, got %q %q", tc.wantCode, types, vals)
				}
				for _, w := range tc.wantMsg {
					if !strings.Contains(vals[0], w) {
						t.Fatalf("message %q lacks %q", vals[0], w)
					}
				}
				if strings.ContainsAny(vals[0], "\n\x1b") || strings.Contains(vals[0], "4111111111111111") {
					t.Fatalf("message carries control characters or a PAN: %q", vals[0])
				}
			}
			evs := h.events(t, 4)
			var requested string
			found := false
			for _, e := range evs {
				switch e.Type {
				case schemas.TypeApprovalRequested:
					var ar schemas.ApprovalRequested
					must(t, e.Decode(&ar))
					requested = ar.ApprovalID
				case schemas.TypeQueryBlocked:
					var qb schemas.QueryBlocked
					must(t, e.Decode(&qb))
					if tc.wantReason == "" || qb.Reason != tc.wantReason || qb.SQLState != tc.wantCode || qb.Approval == nil || qb.Approval.ID != requested {
						t.Fatalf("query.blocked %+v (approval %+v), want reason %q", qb, qb.Approval, tc.wantReason)
					}
					if strings.ContainsAny(qb.Message+qb.Approval.Reason, "\n\x1b") || strings.Contains(qb.Message+qb.Approval.Reason, "4111111111111111") {
						t.Fatalf("query.blocked carries control characters or a PAN: %+v", qb)
					}
					found = true
				case schemas.TypeQueryExecuted:
					var qe schemas.QueryExecuted
					must(t, e.Decode(&qe))
					if tc.wantReason != "" {
						t.Fatalf("refused statement executed: %+v", qe)
					}
					if a := qe.Approval; a == nil || a.ID != requested || a.Decision != hold.Approved || a.By != "UADA" || a.ByEmail != "ada@acme.example" {
						t.Fatalf("query.executed approval %+v, want %s approved by UADA", qe.Approval, requested)
					}
					found = true
				}
			}
			if !found || requested == "" {
				t.Fatalf("events %d: no approval.requested or no outcome event", len(evs))
			}
		})
	}
}

// TestTokenExpiresTooSoon: a token that expires before a JIT role could live gets a message saying what to
// do, not the jit package's internals.
func TestTokenExpiresTooSoon(t *testing.T) {
	h := newHarness(t)
	h.creds.issueErr = jit.ErrExpired
	fe, _, _ := h.client(t, "good")
	for {
		msg, err := fe.Receive()
		must(t, err)
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			if e.Severity != "FATAL" || !strings.Contains(e.Message, "token expires too soon") || !strings.Contains(e.Message, "get a fresh token") {
				t.Fatalf("error %s %s %q", e.Severity, e.Code, e.Message)
			}
			return
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			t.Fatal("session started with a token that expires too soon")
		}
	}
}

// batchPolicy holds a statement of a multi-statement string that contains a write, as deploy/policy/pci.yaml's
// hold-multi-statement-write does (`"multi_statement" in tags && "write" in batch_kinds`).
type batchPolicy struct{ AllowAll }

func (batchPolicy) Evaluate(in Input) Decision {
	multi := false
	for _, t := range in.Statement.Tags {
		multi = multi || t == "multi_statement"
	}
	for _, k := range in.Batch {
		if multi && k == "write" {
			return Decision{Action: ActionHold, Rule: "hold-multi-statement-write", Score: 10}
		}
	}
	return Decision{Action: ActionAllow, Rule: "ok"}
}

// TestMultiStatementHeldWhole: a query string with a read and a write is held as a whole: one approval
// whose statement shows the whole string; denied, nothing of it runs; approved, every statement's
// query.executed names the approval.
func TestMultiStatementHeldWhole(t *testing.T) {
	const sql = "SELECT name FROM merchants; UPDATE merchants SET name = 'x' WHERE id = 1"
	for _, approve := range []bool{false, true} {
		t.Run(fmt.Sprint("approve=", approve), func(t *testing.T) {
			h := newHarnessPolicy(t, batchPolicy{})
			dec := hold.Decision{Outcome: hold.Denied, By: "UBOB", ByEmail: "bob@acme.example", Reason: "no"}
			if approve {
				dec = hold.Decision{Outcome: hold.Approved, By: "UADA"}
			}
			h.srv.deps.Holder = fakeHolder{dec: dec}
			fe, c, _ := h.client(t, "good")
			untilReady(t, fe)
			_, err := c.Write(queryFrame(sql))
			must(t, err)
			types, vals := untilReady(t, fe)
			if approve == strings.Contains(types, "E") {
				t.Fatalf("approve=%v: %q %q", approve, types, vals)
			}
			ran := false
			for {
				select {
				case got := <-h.pg.got:
					ran = ran || strings.HasPrefix(got, "Q ")
					continue
				default:
				}
				break
			}
			if ran != approve {
				t.Fatalf("approve=%v but the string reached PostgreSQL: %v", approve, ran)
			}
			evs := h.events(t, 5)
			var ids []string
			executed := 0
			for _, e := range evs {
				switch e.Type {
				case schemas.TypeApprovalRequested:
					var ar schemas.ApprovalRequested
					must(t, e.Decode(&ar))
					if !strings.Contains(ar.Statement.SQL, "SELECT name FROM merchants") || !strings.Contains(ar.Statement.SQL, "UPDATE merchants") {
						t.Fatalf("approval shows %q, want the whole string", ar.Statement.SQL)
					}
					ids = append(ids, ar.ApprovalID)
				case schemas.TypeQueryExecuted:
					var qe schemas.QueryExecuted
					must(t, e.Decode(&qe))
					if qe.Approval == nil || len(ids) != 1 || qe.Approval.ID != ids[0] {
						t.Fatalf("query.executed %q approval %+v, want approval %v", qe.Statement.SQL, qe.Approval, ids)
					}
					executed++
				}
			}
			if len(ids) != 1 {
				t.Fatalf("%d approvals requested for one string, want 1", len(ids))
			}
			if want := map[bool]int{true: 2}[approve]; executed != want {
				t.Fatalf("%d query.executed, want %d", executed, want)
			}
		})
	}
}
