package soundness_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pangate/pangate/schemas"
)

// TestStatementEndsItsOwnBackend (tried in session 5): a statement that makes PostgreSQL end the session's own backend
// (pg_terminate_backend of pg_backend_pid(), alone or after a write in the same query string) ends the
// session from the server's side, mid-answer. The gateway's view must still match the server's:
// PostgreSQL's statement log against the events (every statement it ran has its query.executed), the
// session's chain ends with credential.revoked then session.ended and verifies, and PostgreSQL no longer
// has the session's JIT role (disabled, then dropped once the end is recorded).
func TestStatementEndsItsOwnBackend(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Allowed here, as an approved statement would be: the default policy holds admin functions and
	// multi-statement writes, and no approver runs in this suite.
	g := startGateway(t, f, gwOpts{rules: []string{`{name: selfend-allow, when: '"admin_function" in tags || "multi_statement" in tags', action: allow}`}})
	for _, c := range []struct{ name, sql string }{
		{"Alone", "SELECT pg_terminate_backend(pg_backend_pid())"},
		{"AfterAWrite", fmt.Sprintf("INSERT INTO %s DEFAULT VALUES; SELECT pg_terminate_backend(pg_backend_pid())", f.Who)},
	} {
		t.Run(c.name, func(t *testing.T) {
			off := logOffset(t, f)
			w := connect(t, g, f.Role, nil)
			p := w.probe(c.name)
			ms := w.Query(c.sql)
			if refusedByGateway(errorOf(ms)) {
				t.Fatalf("the gateway refused %q (%v): the policy of this test allows it, so it must reach PostgreSQL", c.sql, ms)
			}
			t.Logf("answer: %v", ms)
			w.Close()
			checkAudit(t, g, f, off, p)
			evs := auditEvents(t, g, []*probe{p})[p]
			if err := schemas.VerifySession(evs); err != nil {
				t.Errorf("session chain: %v", err)
			}
			var role string
			revokedAt := -1
			for i, e := range evs {
				switch e.Type {
				case schemas.TypeCredentialIssued:
					var ci schemas.CredentialIssued
					if err := e.Decode(&ci); err != nil {
						t.Fatal(err)
					}
					role = ci.Role
				case schemas.TypeCredentialRevoked:
					revokedAt = i
				}
			}
			if n := len(evs); n == 0 || evs[n-1].Type != schemas.TypeSessionEnded || revokedAt != n-2 {
				t.Fatalf("session events %v: want credential.revoked then session.ended at the end", typesOf(evs))
			}
			if role == "" {
				t.Fatal("no credential.issued in the session")
			}
			deadline := time.Now().Add(10 * time.Second)
			for f.int(t, "SELECT count(*) FROM pg_roles WHERE rolname = $1", role) != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("PostgreSQL still has the session's JIT role %s 10s after session.ended", role)
				}
				time.Sleep(100 * time.Millisecond)
			}
			checkWho(t, f)
			f.exec(t, "DELETE FROM "+f.Who)
		})
	}
}

func typesOf(evs []schemas.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}
