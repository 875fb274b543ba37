package stack

// Comparing PostgreSQL's statement log with the audit events (invariant 1 under faults, docs/invariants.md):
// per backend, every statement PostgreSQL ran must have a query.executed of the backend's session, in order.
// Shared by the fault tests under load (integration/soundness, integration/kafkacluster).

import (
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/schemas"
)

// StatementMiss is a statement PostgreSQL ran that no query.executed of its session records.
type StatementMiss struct {
	PID     int
	Session string // the session the backend was attributed to
	SQL     string
	Kind    string // classify's kind of the statement ("read", "write", …), "unparseable" if it has none
}

// LogComparison is what CompareStatementLog found.
type LogComparison struct {
	Backends int // backends attributed to a session and compared
	Ran      int // statements PostgreSQL ran on them
	Commits  int // of those, COMMIT or END
	Refused  int // query.blocked events with pangate's SQLSTATE 58000 (audit log unavailable)
	// LateRefused counts statements whose query.executed Kafka acknowledged after the gateway had refused
	// them (a query.blocked 58000 note follows): they must not be in PostgreSQL's log.
	LateRefused int
	Missing     []StatementMiss
}

// StatementText is a statement as the comparison matches it: trimmed, without a final semicolon,
// whitespace collapsed, lower case.
func StatementText(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(strings.TrimSuffix(strings.TrimSpace(s), ";")), " "))
}

// SessionsByRole maps each session's JIT role (from its session.started) to the session id.
func SessionsByRole(by map[string][]schemas.Event) map[string]string {
	out := map[string]string{}
	for s, evs := range by {
		for _, e := range evs {
			if e.Type == schemas.TypeSessionStarted {
				var d schemas.SessionStarted
				if e.Decode(&d) == nil {
					out[d.Role] = s
				}
			}
		}
	}
	return out
}

// CompareStatementLog matches, per backend, PostgreSQL's log (logs, by backend pid) with the query.executed
// events of the backend's session (by: events by session; sessionOf: backend pid → session, from
// pg_stat_activity). The load's statements carry random literals, so texts match exactly. A backend that
// sessionOf does not know (it ended before pg_stat_activity was sampled) is attributed by its statements on
// the load's tables (names containing tables); one that touched them and belongs to no session is a failure.
//
// A query.executed written ahead of a statement that Kafka acknowledged only after the gateway had refused
// the statement is followed by a query.blocked 58000 note saying it was not run: that statement is not
// expected in the log, and if PostgreSQL ran it anyway it is returned as run with no event. A read's note
// says its result was "withheld": the read ran, and stays expected.
func CompareStatementLog(t testing.TB, logs map[int][]PGLogEntry, by map[string][]schemas.Event, sessionOf map[int]string, tables string) LogComparison {
	t.Helper()
	var c LogComparison
	for pid, entries := range logs {
		s, ok := sessionOf[pid]
		if !ok {
			s, ok = sessionByText(entries, by, tables)
		}
		if !ok {
			for _, e := range entries {
				if strings.Contains(e.Text, tables) {
					t.Errorf("backend %d ran %q on the load's tables but belongs to no session of the gateways' topic", pid, e.Text)
					break
				}
			}
			continue
		}
		c.Backends++
		executed := expectedStatements(t, by[s], &c)
		used := make([]bool, len(executed))
		next := 0
		for _, le := range entries {
			// A string of comments and blanks (pgx's Ping sends "-- ping") runs nothing — PostgreSQL answers
			// EmptyQueryResponse — and the gateway records no statement for it: zero pieces.
			pieces := []string{le.Text}
			if ps, err := pg_query.SplitWithScanner(le.Text, true); err == nil {
				pieces = ps
			}
			for _, piece := range pieces {
				c.Ran++
				want := StatementText(piece)
				if want == "commit" || want == "end" {
					c.Commits++
				}
				idx := findUnused(executed, used, want, next)
				if idx < 0 {
					kind := "unparseable"
					if cl := classify.Classify(piece); len(cl) == 1 {
						kind = string(cl[0].Kind)
					}
					c.Missing = append(c.Missing, StatementMiss{PID: pid, Session: s, SQL: piece, Kind: kind})
					continue
				}
				used[idx] = true
				next = idx + 1
			}
		}
	}
	return c
}

// expectedStatements lists the texts of a session's query.executed events, in order, leaving out those
// refused late (counted in c).
func expectedStatements(t testing.TB, evs []schemas.Event, c *LogComparison) []string {
	notRun := map[int64]bool{}
	executed := map[int64]bool{}
	for _, e := range evs {
		switch e.Type {
		case schemas.TypeQueryExecuted:
			var q schemas.QueryExecuted
			if err := e.Decode(&q); err != nil {
				t.Fatal(err)
			}
			executed[q.Statement.Index] = true
		case schemas.TypeQueryBlocked:
			var b schemas.QueryBlocked
			if err := e.Decode(&b); err != nil {
				t.Fatal(err)
			}
			if b.SQLState == "58000" {
				c.Refused++
			}
			if executed[b.Statement.Index] && !strings.Contains(b.Message, "withheld") {
				notRun[b.Statement.Index] = true
				c.LateRefused++
			}
		}
	}
	var out []string
	for _, e := range evs {
		if e.Type != schemas.TypeQueryExecuted {
			continue
		}
		var q schemas.QueryExecuted
		if err := e.Decode(&q); err != nil {
			t.Fatal(err)
		}
		if !notRun[q.Statement.Index] {
			out = append(out, StatementText(q.Statement.SQL))
		}
	}
	return out
}

// findUnused returns the first unused event text equal to want from next on, else from the start, else -1.
func findUnused(texts []string, used []bool, want string, next int) int {
	for pass := 0; pass < 2; pass++ {
		from := next
		if pass == 1 {
			from = 0
		}
		for i := from; i < len(texts); i++ {
			if !used[i] && texts[i] == want {
				return i
			}
		}
	}
	return -1
}

// sessionByText finds the session whose query.executed events hold most of the backend's statements on
// the load's tables (their literals are random, so another session holding them is chance); it needs at
// least two of them, or the only one the backend ran.
func sessionByText(entries []PGLogEntry, by map[string][]schemas.Event, tables string) (string, bool) {
	want := map[string]bool{}
	for _, e := range entries {
		if strings.Contains(e.Text, tables) {
			want[StatementText(e.Text)] = true
		}
	}
	if len(want) == 0 {
		return "", false
	}
	best, bestN := "", 0
	for s, evs := range by {
		n := 0
		for _, e := range evs {
			if e.Type != schemas.TypeQueryExecuted {
				continue
			}
			var q schemas.QueryExecuted
			if e.Decode(&q) == nil && want[StatementText(q.Statement.SQL)] {
				n++
			}
		}
		if n > bestN {
			best, bestN = s, n
		}
	}
	if bestN >= 2 || (bestN == 1 && len(want) == 1) {
		return best, true
	}
	return "", false
}
