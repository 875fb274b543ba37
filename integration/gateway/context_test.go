package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	gatewayconfig "github.com/pangate/pangate/gateway/config"
	"github.com/pangate/pangate/schemas"
)

// recorded is one statement event of a session: its type and data.
type recorded struct {
	typ  string
	stmt schemas.Statement
	msg  string // query.blocked message
}

func statementEvents(t *testing.T, evs []schemas.Event) []recorded {
	t.Helper()
	var out []recorded
	for _, e := range evs {
		switch e.Type {
		case schemas.TypeQueryExecuted:
			var d schemas.QueryExecuted
			must(t, e.Decode(&d))
			out = append(out, recorded{typ: e.Type, stmt: d.Statement})
		case schemas.TypeQueryBlocked:
			var d schemas.QueryBlocked
			must(t, e.Decode(&d))
			out = append(out, recorded{typ: e.Type, stmt: d.Statement, msg: d.Message})
		}
	}
	return out
}

// findStatement returns the event of the statement whose recorded SQL contains s.
func findStatement(t *testing.T, recs []recorded, s string) recorded {
	t.Helper()
	for _, r := range recs {
		if strings.Contains(r.stmt.SQL, s) {
			return r
		}
	}
	var have []string
	for _, r := range recs {
		have = append(have, r.typ+": "+r.stmt.SQL)
	}
	t.Fatalf("no statement event with SQL containing %q; have:\n%s", s, strings.Join(have, "\n"))
	return recorded{}
}

// TestStatementContext drives psycopg 3 instrumented by OpenTelemetry (opentelemetry-instrumentation-psycopg
// with its sqlcommenter on) through the gateway under a policy that requires a purpose for cardholder reads,
// then sends hand-written comments with pgx: the events carry the library's context (traceparent of the
// active span, purpose, the driver's tags), a card number in a comment is masked, the policy sees the
// context, and no comment changes what a statement is (issue 19).
func TestStatementContext(t *testing.T) {
	t.Parallel()
	if err := exec.Command("python3", "-c", "import psycopg, opentelemetry.instrumentation.psycopg, opentelemetry.sdk").Run(); err != nil {
		t.Fatalf("psycopg or the OpenTelemetry psycopg instrumentation is not installed for python3: install them with: go tool task clients (pip install \"psycopg[binary]\" opentelemetry-instrumentation-psycopg opentelemetry-sdk)")
	}
	f := newFixture(t)
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	must(t, os.WriteFile(policy, []byte(fmt.Sprintf(`version: 1
grants:
  - name: everyone
    when: "true"
    roles: [%s]
rules:
  - name: deny-cardholder-read-without-purpose
    when: cardholder && kind == "read" && !("purpose" in context) && !("ticket" in context)
    action: deny
    reason: "reads of cardholder data must say why: add /*purpose='…'*/ or /*ticket='…'*/"
  - name: deny-unparseable
    when: kind == "unparseable"
    action: deny
    reason: "unparseable"
default: {action: allow}
`, f.Role)), 0o600))
	g := startGateway(t, gwOpts{configure: func(c *gatewayconfig.Config) { c.PolicyFile = policy }})

	// 1. The OpenTelemetry instrumentation writes the comments.
	const ticket = "PAY-7 card 4111111111111111"
	dsn := fmt.Sprintf("host=127.0.0.1 port=%s user=%s@%s dbname=postgres sslmode=require password=%s application_name=tot-it", g.Port, f.Role, g.Target, g.token("otel"))
	out := run(t, exec.Command("python3", "testdata/otel_psycopg_client.py", dsn, f.Table, ticket))
	var py map[string]any
	must(t, json.Unmarshal([]byte(out), &py))
	if rows := fmt.Sprint(py["with_purpose"]); !strings.HasPrefix(rows, "[[1 ") || !strings.HasSuffix(rows, " [2 411111******1111]]") {
		t.Fatalf("the read with a purpose: %v (error %v)", py["with_purpose"], py["with_purpose_error"])
	}
	if e, _ := py["without_purpose_error"].(string); !strings.Contains(e, "must say why") {
		t.Fatalf("the cardholder read without a purpose was not refused by the policy: rows %v, error %q", py["without_purpose"], e)
	}
	if fmt.Sprint(py["plain"]) != "[[20]]" {
		t.Fatalf("the read without cardholder data: %v (error %v)", py["plain"], py["plain_error"])
	}

	// 2. Hand-written comments with pgx (simple protocol: the text is exactly what the server gets).
	c := g.connect(t, f.Role, "pgx")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	simple := func(sql string) error {
		rows, err := c.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	}
	// The quote in the comment cannot swallow the end of the comment: PostgreSQL sees
	// SELECT 1 DELETE FROM t, which is SELECT 1 AS "delete" FROM t (DELETE is a bare column label), and so
	// does the gateway: a read of t, nothing deleted.
	swallow := fmt.Sprintf(`SELECT 1 /*x='*/ DELETE FROM %s --'*/`, f.Table)
	must(t, simple(swallow))
	// A literal that looks like a comment is no context: the policy still refuses.
	literal := fmt.Sprintf(`SELECT pan, '/*purpose=''x''*/' FROM %s WHERE id = 2`, f.Table)
	if err := simple(literal); err == nil || !strings.Contains(err.Error(), "must say why") {
		t.Fatalf("%s: %v, want the policy's refusal", literal, err)
	}
	// A comment between the words of a write: still a write, and its context recorded.
	write := fmt.Sprintf(`UPDATE %s /*purpose='fix%%20name',step='3'*/ SET name = 'fixed' WHERE id = 1`, f.Table)
	must(t, simple(write))
	// Oversized and malformed comments are recorded as such and change nothing.
	big := fmt.Sprintf(`SELECT id FROM %s WHERE id = 1 /*purpose='%s'*/ /*a=*/ /*b='%s'*/`, f.Table, strings.Repeat("p", 600), strings.Repeat("b", 10000))
	must(t, simple(big))
	var n int
	must(t, f.admin.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", f.Table)).Scan(&n))
	if n != 20 {
		t.Fatalf("%d rows left in the table, want 20", n)
	}
	must(t, c.Close(ctx))

	evs := g.events(t, endedSessions(2))
	var recs []recorded
	for _, s := range clientSessions(evs) {
		if err := schemas.VerifySession(s); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, statementEvents(t, s)...)
	}
	for _, e := range evs {
		if strings.Contains(string(e.Data), "4111111111111111") {
			t.Fatalf("%s event holds a full card number: %s", e.Type, e.Data)
		}
	}

	// The library's comment, read back.
	r := findStatement(t, recs, "WHERE id <= $1")
	if r.typ != schemas.TypeQueryExecuted || r.stmt.Context == nil {
		t.Fatalf("read with a purpose: %s, context %+v", r.typ, r.stmt.Context)
	}
	v := r.stmt.Context.Values
	if want := "00-" + py["with_purpose_trace"].(string) + "-"; !strings.HasPrefix(v["traceparent"], want) || len(v["traceparent"]) != 55 {
		t.Errorf("traceparent %q, want the span's trace %s…", v["traceparent"], want)
	}
	if v["purpose"] != "refund review, step 2/3" || !strings.HasPrefix(v["db_driver"], "psycopg:") || v["dbapi_threadsafety"] == "" {
		t.Errorf("context values %v", v)
	}
	if v["ticket"] != "PAY-7 card 411111******1111" {
		t.Errorf("ticket %q, want the card number masked", v["ticket"])
	}
	if r.stmt.Kind != "read" || !r.stmt.Cardholder {
		t.Errorf("read with a purpose classified %s, cardholder %v", r.stmt.Kind, r.stmt.Cardholder)
	}
	r = findStatement(t, recs, "WHERE id = 2 /*")
	if r.typ != schemas.TypeQueryBlocked || r.stmt.Context == nil || r.stmt.Context.Values["purpose"] != "" ||
		!strings.HasPrefix(r.stmt.Context.Values["traceparent"], "00-"+py["without_purpose_trace"].(string)) {
		t.Errorf("read without a purpose: %s, context %+v", r.typ, r.stmt.Context)
	}

	// Hand-written comments.
	r = findStatement(t, recs, "DELETE FROM")
	if r.stmt.Kind != "read" || r.typ != schemas.TypeQueryExecuted || fmt.Sprint(r.stmt.Tables) != "["+f.Table+"]" ||
		r.stmt.Context == nil || r.stmt.Context.Malformed != 1 || len(r.stmt.Context.Values) != 0 {
		t.Errorf("%s: %s kind %s tables %v, context %+v; want an executed read of %s, one malformed comment", swallow, r.typ, r.stmt.Kind, r.stmt.Tables, r.stmt.Context, f.Table)
	}
	r = findStatement(t, recs, "'/*purpose=''x''*/'")
	if r.typ != schemas.TypeQueryBlocked || r.stmt.Context != nil {
		t.Errorf("literal: %s, context %+v; want blocked without context", r.typ, r.stmt.Context)
	}
	r = findStatement(t, recs, "SET name = 'fixed'")
	if r.stmt.Kind != "write" || r.stmt.Context == nil || r.stmt.Context.Values["purpose"] != "fix name" || r.stmt.Context.Values["step"] != "3" {
		t.Errorf("write: kind %s, context %+v", r.stmt.Kind, r.stmt.Context)
	}
	r = findStatement(t, recs, "WHERE id = 1 /*purpose='ppp")
	if cx := r.stmt.Context; r.stmt.Kind != "read" || cx == nil || cx.Malformed != 2 || cx.Truncated != 1 ||
		len(cx.Values["purpose"]) > 520 || !strings.HasSuffix(cx.Values["purpose"], "…") || len(cx.Values) != 1 {
		t.Errorf("oversized: kind %s, context %+v", r.stmt.Kind, cx)
	}
}
