package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// TestPgxEndToEnd runs reads and a write through the gateway with pgx in both protocols, compares the
// results with a direct connection, and checks the session's audit events: order, chain, contents, and
// that the JIT role existed only during the session.
func TestPgxEndToEnd(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	ctx := context.Background()
	c := g.connect(t, f.Role, "ci-job-1")

	var role string
	if err := c.QueryRow(ctx, "SELECT current_user").Scan(&role); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(role, "pangate_jit_") {
		t.Fatalf("session runs as %q, want a JIT role", role)
	}
	var exists bool
	if err := f.admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil || !exists {
		t.Fatalf("JIT role %s does not exist during the session (err %v)", role, err)
	}

	q := fmt.Sprintf("SELECT id, name, amount::text FROM %s ORDER BY id", f.Table)
	want := collect(t, f.admin, q, pgx.QueryExecModeExec)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeDescribeExec} {
		got := collect(t, c, q, mode)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("mode %v: rows through the gateway differ from direct:\n got %v\nwant %v", mode, got, want)
		}
	}
	// Card numbers leave masked.
	var pan string
	if err := c.QueryRow(ctx, fmt.Sprintf("SELECT pan FROM %s WHERE id = 2", f.Table)).Scan(&pan); err != nil {
		t.Fatal(err)
	}
	if pan == "4111111111111111" || !strings.HasSuffix(pan, "1111") {
		t.Fatalf("pan through the gateway = %q, want it masked (first six + last four)", pan)
	}
	// A write, and a statement error.
	if _, err := c.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (100, 'new', 'none', 1)", f.Table)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "SELECT * FROM no_such_table_here"); err == nil || !strings.Contains(err.Error(), "42P01") {
		t.Fatalf("error through the gateway = %v, want SQLSTATE 42P01", err)
	}
	var n int
	if err := f.admin.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE id = 100", f.Table)).Scan(&n); err != nil || n != 1 {
		t.Fatalf("insert through the gateway: %d rows (err %v)", n, err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}

	evs := g.events(t, endedSessions(1))
	ss := clientSessions(evs)
	if len(ss) != 1 {
		t.Fatalf("want 1 client session, got %d", len(ss))
	}
	s := ss[0]
	if err := schemas.VerifySession(s); err != nil {
		t.Fatalf("chain: %v", err)
	}
	types := typesOf(s)
	if !strings.HasPrefix(types, "auth.succeeded,credential.issued,session.started,query.executed") ||
		!strings.HasSuffix(types, "credential.revoked,session.ended") {
		t.Fatalf("event order: %s", types)
	}
	var sawInsert, sawError, sawRead bool
	completed := map[uint64]schemas.QueryCompleted{} // by intent seq
	for _, e := range s {
		if e.Type == schemas.TypeQueryCompleted {
			var qc schemas.QueryCompleted
			must(t, e.Decode(&qc))
			completed[qc.Intent] = qc
		}
	}
	for _, e := range s {
		switch e.Type {
		case schemas.TypeAuthSucceeded:
			var a schemas.AuthSucceeded
			must(t, e.Decode(&a))
			if a.Identity.Subject != "ci-job-1" || a.RequestedRole != f.Role || !a.Client.TLS {
				t.Errorf("auth.succeeded: %+v", a)
			}
		case schemas.TypeSessionStarted:
			var a schemas.SessionStarted
			must(t, e.Decode(&a))
			if a.Role != role {
				t.Errorf("session.started role %q, session ran as %q", a.Role, role)
			}
		case schemas.TypeQueryExecuted:
			var qe schemas.QueryExecuted
			must(t, e.Decode(&qe))
			if strings.Contains(qe.Statement.SQL, "4111111111111111") {
				t.Errorf("event holds a full PAN: %s", qe.Statement.SQL)
			}
			switch {
			case strings.HasPrefix(qe.Statement.SQL, "INSERT"):
				// Recorded ahead; its outcome follows in query.completed.
				qc := completed[e.Seq]
				sawInsert = qe.Statement.Kind == "write" && qe.Outcome == "forwarded" && qc.Outcome == "ok" && qc.CommandTag == "INSERT 0 1" && qc.Rows == 1
			case strings.Contains(qe.Statement.SQL, "no_such_table_here"):
				// An unknown relation is not known to be free of side effects: recorded ahead too.
				qc, ok := completed[e.Seq]
				sawError = (qe.Outcome == "error" && qe.SQLState == "42P01") || (ok && qc.Outcome == "error" && qc.SQLState == "42P01")
			case strings.HasPrefix(qe.Statement.SQL, "SELECT id, name") && qe.Statement.Protocol == "simple":
				sawRead = qe.Outcome == "ok" && qe.Rows == 20 && qe.Statement.Kind == "read" && qe.CommandTag == "SELECT 20"
			}
		}
	}
	if !sawInsert || !sawError || !sawRead {
		t.Errorf("query.executed events: insert %v, error %v, simple read %v", sawInsert, sawError, sawRead)
	}
	// Operations endpoints.
	for path, want := range map[string]string{"/readyz": "ready", "/healthz": "ok", "/metrics": "pangate_gateway_statements_total"} {
		resp, err := http.Get("http://" + g.Ops + path)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %.200s", path, resp.StatusCode, body)
		}
	}
	// The role is gone after the session.
	if err := f.admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil || exists {
		t.Fatalf("JIT role %s still exists after the session (err %v)", role, err)
	}
	_ = stack.Env
}

func collect(t *testing.T, c *pgx.Conn, q string, mode pgx.QueryExecMode) [][]string {
	t.Helper()
	rows, err := c.Query(context.Background(), q, mode)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		var id int
		var name, amount string
		if err := rows.Scan(&id, &name, &amount); err != nil {
			t.Fatal(err)
		}
		out = append(out, []string{fmt.Sprint(id), name, amount})
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s (mode %v): %v", q, mode, err)
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestNotifyMasked checks LISTEN/NOTIFY through the gateway: the asynchronous NotificationResponse reaches
// the listener with a card number in its payload masked.
func TestNotifyMasked(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	ctx := context.Background()
	l := g.connect(t, f.Role, "listener")
	s := g.connect(t, f.Role, "sender")
	ch := stack.UniqueName(t, "ch")
	_, err := l.Exec(ctx, "LISTEN "+ch)
	must(t, err)
	_, err = s.Exec(ctx, fmt.Sprintf("NOTIFY %s, 'card 4111111111111111 seen'", ch))
	must(t, err)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	n, err := l.WaitForNotification(wctx)
	must(t, err)
	if n.Channel != ch || strings.Contains(n.Payload, "4111111111111111") || !strings.HasPrefix(n.Payload, "card 411111") {
		t.Fatalf("notification %q on %q: want the card number masked", n.Payload, n.Channel)
	}
}

// TestShutdownRevokes stops the gateway while a session is open: the session is ended with reason
// "shutdown", its JIT role is dropped and the run ends with gateway.stopped.
func TestShutdownRevokes(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	ctx := context.Background()
	c := g.connect(t, f.Role, "ci-shutdown")
	var role string
	must(t, c.QueryRow(ctx, "SELECT current_user").Scan(&role))
	g.Stop()
	var exists bool
	must(t, f.admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&exists))
	if exists {
		t.Fatalf("JIT role %s survived the gateway's shutdown", role)
	}
	evs := g.events(t, endedSessions(1))
	for _, s := range clientSessions(evs) {
		var se schemas.SessionEnded
		must(t, s[len(s)-1].Decode(&se))
		if se.Reason != "shutdown" {
			t.Fatalf("session ended with reason %q, want shutdown", se.Reason)
		}
		if err := schemas.VerifySession(s); err != nil {
			t.Fatal(err)
		}
	}
}
