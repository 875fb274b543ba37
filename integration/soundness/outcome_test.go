package soundness_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/schemas"
)

// Outcome events (issue 14.1): every statement kind, through psql, pgx, psycopg and JDBC, gets its outcome
// in the audit log. A statement recorded ahead (query.executed "forwarded") has exactly one query.completed
// naming its seq as intent, with the command tag, rows, SQLSTATE and masked counts; a gated read has one
// query.executed carrying the outcome itself. docs/evidence.md describes the two shapes.

// step is one client action of the outcome script; clients read steps one a line (outcomeLines).
type step struct {
	Op   string   // pid (prints the backend pid), exec, copyout, copyin (Data is sent), batch (SQL pipelined)
	SQL  []string // one statement; several for batch
	Data string   // COPY FROM STDIN data (copyin)
}

// expect is what the audit log must say about one statement of the script.
type expect struct {
	SQL      string
	Outcome  string // ok, error, skipped; alternatives separated by "|"
	Tag      string // command tag; "" not checked
	Rows     int64  // -1: not checked
	SQLState string
	Masked   int64  // masked values in the result; -1: not checked
	Ahead    string // "ahead": recorded ahead (forwarded + query.completed); "gated": one query.executed; "": either
	// (a side-effect-free read may keep one event; recording it ahead is conservative, not wrong)
}

// outcomeScript returns the steps and what the log must say for a client whose table is tbl, whose DDL
// creates ddl, and whose session is found by tag.
func outcomeScript(f *fixture, tag, tbl, ddl string) ([]step, []expect) {
	ins := fmt.Sprintf("INSERT INTO %s (id, v) VALUES (1, 10), (2, 20), (3, 30)", tbl)
	upd := fmt.Sprintf("UPDATE %s SET v = v + 1 WHERE id <= 2", tbl)
	del := fmt.Sprintf("DELETE FROM %s WHERE id = 3", tbl)
	sel := fmt.Sprintf("SELECT id, v FROM %s WHERE id >= 1 ORDER BY id", tbl)
	create := fmt.Sprintf("CREATE TABLE %s (x int)", ddl)
	txIns := fmt.Sprintf("INSERT INTO %s (id, v) VALUES (4, 40)", tbl)
	util := "SET lock_timeout = '5s'"
	copyOut := fmt.Sprintf("COPY (SELECT id, pan FROM %s ORDER BY id) TO STDOUT", f.Cards)
	copyIn := fmt.Sprintf("COPY %s (id, v) FROM STDIN", tbl)
	errRead := "SELECT 1/0 AS h14_div"
	errWrite := fmt.Sprintf("INSERT INTO %s (id, v) VALUES (1, 99)", tbl)
	skipFirst := fmt.Sprintf("INSERT INTO %s (id, v) VALUES (2, 99)", tbl)
	skipped := fmt.Sprintf("INSERT INTO %s (id, v) VALUES (7, 70)", tbl)
	pid := fmt.Sprintf("SELECT pg_backend_pid(), '%s'", tag)
	steps := []step{
		{Op: "pid", SQL: []string{pid}},
		{Op: "exec", SQL: []string{ins}},
		{Op: "exec", SQL: []string{upd}},
		{Op: "exec", SQL: []string{del}},
		{Op: "exec", SQL: []string{sel}},
		{Op: "exec", SQL: []string{create}},
		{Op: "exec", SQL: []string{"BEGIN"}},
		{Op: "exec", SQL: []string{txIns}},
		{Op: "exec", SQL: []string{"COMMIT"}},
		{Op: "exec", SQL: []string{util}},
		{Op: "copyout", SQL: []string{copyOut}},
		{Op: "copyin", SQL: []string{copyIn}, Data: "5\t50\n6\t60\n"},
		{Op: "exec", SQL: []string{errRead}},
		{Op: "exec", SQL: []string{errWrite}},
		{Op: "batch", SQL: []string{skipFirst, skipped}},
	}
	exps := []expect{
		{SQL: pid, Outcome: "ok", Tag: "SELECT 1", Rows: 1, Masked: -1, Ahead: "gated"},
		{SQL: ins, Outcome: "ok", Tag: "INSERT 0 3", Rows: 3, Masked: -1, Ahead: "ahead"},
		{SQL: upd, Outcome: "ok", Tag: "UPDATE 2", Rows: 2, Masked: -1, Ahead: "ahead"},
		{SQL: del, Outcome: "ok", Tag: "DELETE 1", Rows: 1, Masked: -1, Ahead: "ahead"},
		// A read may be recorded ahead too (the gateway could not prove it free of side effects); then its
		// outcome is in query.completed. Either way exactly one outcome, with its rows.
		{SQL: sel, Outcome: "ok", Tag: "SELECT 2", Rows: 2, Masked: -1},
		{SQL: create, Outcome: "ok", Tag: "CREATE TABLE", Rows: 0, Masked: -1, Ahead: "ahead"},
		{SQL: "BEGIN", Outcome: "ok", Tag: "BEGIN", Rows: -1, Masked: -1},
		{SQL: txIns, Outcome: "ok", Tag: "INSERT 0 1", Rows: 1, Masked: -1, Ahead: "ahead"},
		// A COMMIT makes the transaction's writes durable: it is not free of side effects (issue 14, Faults).
		{SQL: "COMMIT", Outcome: "ok", Tag: "COMMIT", Rows: -1, Masked: -1, Ahead: "ahead"},
		{SQL: util, Outcome: "ok", Tag: "SET", Rows: -1, Masked: -1},
		// Three card numbers leave, each masked: the export's masked count equals its rows.
		{SQL: copyOut, Outcome: "ok", Tag: "COPY 3", Rows: 3, Masked: 3},
		{SQL: copyIn, Outcome: "ok", Tag: "COPY 2", Rows: 2, Masked: -1, Ahead: "ahead"},
		{SQL: errRead, Outcome: "error", SQLState: "22012", Rows: -1, Masked: -1},
		{SQL: errWrite, Outcome: "error", SQLState: "23505", Rows: -1, Masked: -1, Ahead: "ahead"},
		{SQL: skipFirst, Outcome: "error", SQLState: "23505", Rows: -1, Masked: -1, Ahead: "ahead"},
		// Not run (the test checks PostgreSQL has no row 7). Recorded "skipped" when the gateway saw the
		// server void it; psycopg closes the connection as soon as the pipeline's error arrives, and when
		// that happens before the server answered the statement the gateway cannot know and says "unknown"
		// (seen in 1–4 of 10 runs; closing note of session 5).
		{SQL: skipped, Outcome: "skipped|unknown", Rows: 0, Masked: -1, Ahead: "ahead"},
	}
	return steps, exps
}

// outcomeLines encodes steps for the psycopg and JDBC clients: one a line, fields separated by U+001F,
// newlines in COPY data written as \n.
func outcomeLines(steps []step) string {
	var b strings.Builder
	for _, s := range steps {
		fields := append([]string{s.Op}, s.SQL...)
		if s.Op == "copyin" {
			fields = append(fields, strings.ReplaceAll(s.Data, "\n", `\n`))
		}
		b.WriteString(strings.Join(fields, "\x1f") + "\n")
	}
	return b.String()
}

// psqlScript renders steps as a psql script: a batch is one query string (\; joins statements), COPY
// FROM STDIN data follows its statement inline.
func psqlScript(steps []step) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(strings.Join(s.SQL, ` \; `) + ";\n")
		if s.Op == "copyin" {
			b.WriteString(s.Data + "\\.\n")
		}
	}
	return b.String()
}

var pidOut = regexp.MustCompile(`(?m)^(?:pid=)?(\d+)(?:\|h2tag-[0-9a-f]+)?$`)

// outcomeRules allow, for this test only, what the default policy holds for an approver that does not run
// here: DDL, COPY (the export of the tagged column, COPY FROM) and a query string holding a write.
var outcomeRules = []string{`{name: h14-allow-outcome-kinds, when: 'kind == "ddl" || kind == "copy" || "multi_statement" in tags', action: allow}`}

// TestOutcomeEvents runs the outcome script through each client and checks every statement's outcome event.
func TestOutcomeEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := startGateway(t, f, gwOpts{rules: outcomeRules})

	clients := []struct {
		name string
		run  func(t *testing.T, steps []step) (int, string)
	}{
		{"psql", func(t *testing.T, steps []step) (int, string) {
			path := filepath.Join(t.TempDir(), "outcome.sql")
			if err := os.WriteFile(path, []byte(psqlScript(steps)), 0o600); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, _ := psql(t, g, f, nil, "-f", path)
			return pidFrom(t, stdout+stderr), stdout + stderr
		}},
		{"pgx", func(t *testing.T, steps []step) (int, string) { return runPgxSteps(t, g.dsn(f.Role), steps) }},
		{"psycopg", func(t *testing.T, steps []step) (int, string) {
			if err := exec.Command("python3", "-c", "import psycopg").Run(); err != nil {
				t.Fatalf("psycopg is not installed for python3: install it with: go tool task clients (pip install \"psycopg[binary]\")")
			}
			cmd := exec.Command("python3", "testdata/outcome/outcome_psycopg.py", g.dsn(f.Role))
			cmd.Stdin = strings.NewReader(outcomeLines(steps))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("psycopg client: %v\n%s", err, out)
			}
			return pidFrom(t, string(out)), string(out)
		}},
		{"jdbc", func(t *testing.T, steps []step) (int, string) {
			home, _ := os.UserHomeDir()
			jar := filepath.Join(home, ".m2/repository/org/postgresql/postgresql/42.7.4/postgresql-42.7.4.jar")
			if _, err := os.Stat(jar); err != nil {
				t.Fatalf("PostgreSQL JDBC driver not found at %s: fetch it with: mvn -q dependency:get -Dartifact=org.postgresql:postgresql:42.7.4", jar)
			}
			classes := t.TempDir()
			if out, err := exec.Command("javac", "-d", classes, "-cp", jar, "testdata/outcome/OutcomeJdbc.java").CombinedOutput(); err != nil {
				t.Fatalf("javac: %v\n%s", err, out)
			}
			cmd := exec.Command("java", "-cp", classes+string(os.PathListSeparator)+jar, "OutcomeJdbc",
				fmt.Sprintf("jdbc:postgresql://127.0.0.1:%s/%s", g.Port, database), f.Role+"@pg", g.token("h2-jdbc"))
			cmd.Stdin = strings.NewReader(outcomeLines(steps))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("JDBC client: %v\n%s", err, out)
			}
			return pidFrom(t, string(out)), string(out)
		}},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			tbl, ddl := f.name("o_"+c.name), f.name("ddl_"+c.name)
			f.exec(t, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, v int NOT NULL)", tbl),
				fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s", tbl, f.Role))
			tag := newTag()
			steps, exps := outcomeScript(f, tag, tbl, ddl)
			off := logOffset(t, f)
			pid, out := c.run(t, steps)
			t.Logf("%s client:\n%s", c.name, out)
			p := &probe{Name: c.name, Tag: tag, PID: pid}
			evs, ok := auditEvents(t, g, []*probe{p})[p]
			if !ok {
				t.FailNow()
			}
			if err := schemas.VerifySession(evs); err != nil {
				t.Errorf("%s: session chain: %v", c.name, err)
			}
			// What PostgreSQL ran has its events (the suite's comparison), then the outcomes.
			compare(t, p, pgStatements(t, f, off, pid), statements(t, evs))
			checkOutcomes(t, c.name, evs, exps)
			// What the client saw agrees: the rows of the skipped statement are not in the table.
			if n := f.int(t, fmt.Sprintf("SELECT count(*) FROM %s WHERE id = 7", tbl)); n != 0 {
				t.Errorf("%s: the statement after the failed one in the batch ran (%d rows with id 7)", c.name, n)
			}
			if n := f.int(t, fmt.Sprintf("SELECT count(*) FROM %s", tbl)); n != 5 {
				t.Errorf("%s: table %s holds %d rows after the script, want 5 (1, 2, 4, 5, 6)", c.name, tbl, n)
			}
		})
	}
}

// pidFrom reads the backend pid a client printed first.
func pidFrom(t *testing.T, out string) int {
	t.Helper()
	m := pidOut.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("client printed no backend pid:\n%s", out)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// runPgxSteps runs steps with pgx: exec in pgx's default mode (extended protocol, cached statements),
// COPY through PgConn, a batch as one pipelined SendBatch.
func runPgxSteps(t *testing.T, dsn string, steps []step) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var out strings.Builder
	pid := 0
	report := func(tag pgconn.CommandTag, err error) {
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe):
			fmt.Fprintf(&out, "error %s\n", pe.Code)
		case err != nil:
			t.Fatalf("pgx: %v", err)
		default:
			fmt.Fprintf(&out, "ok %s\n", tag)
		}
	}
	for _, s := range steps {
		switch s.Op {
		case "pid":
			if err := c.QueryRow(ctx, s.SQL[0], pgx.QueryExecModeSimpleProtocol).Scan(&pid, new(string)); err != nil {
				t.Fatal(err)
			}
		case "exec":
			report(c.Exec(ctx, s.SQL[0]))
		case "copyout":
			var buf bytes.Buffer
			report(c.PgConn().CopyTo(ctx, &buf, s.SQL[0]))
		case "copyin":
			report(c.PgConn().CopyFrom(ctx, strings.NewReader(s.Data), s.SQL[0]))
		case "batch":
			b := &pgx.Batch{}
			for _, q := range s.SQL {
				b.Queue(q)
			}
			report(pgconn.CommandTag{}, c.SendBatch(ctx, b).Close())
		}
	}
	return pid, out.String()
}

// checkOutcomes checks the session's events against exps, and that every recorded-ahead statement of the
// session has exactly one outcome and every outcome names one.
func checkOutcomes(t *testing.T, client string, evs []schemas.Event, exps []expect) {
	t.Helper()
	type executed struct {
		ev   schemas.Event
		data schemas.QueryExecuted
	}
	var ex []executed
	completions := map[uint64][]schemas.QueryCompleted{}
	bySeq := map[uint64]int{}
	for _, e := range evs {
		switch e.Type {
		case schemas.TypeQueryExecuted:
			var q schemas.QueryExecuted
			if err := e.Decode(&q); err != nil {
				t.Fatal(err)
			}
			bySeq[e.Seq] = len(ex)
			ex = append(ex, executed{e, q})
		case schemas.TypeQueryCompleted:
			var c schemas.QueryCompleted
			if err := e.Decode(&c); err != nil {
				t.Fatal(err)
			}
			if c.Intent >= e.Seq {
				t.Errorf("%s: query.completed seq %d names intent %d, not an earlier event", client, e.Seq, c.Intent)
			}
			completions[c.Intent] = append(completions[c.Intent], c)
		}
		for _, pan := range []string{"4111111111111111", "5555555555554444", "378282246310005"} {
			if strings.Contains(string(e.Data), pan) {
				t.Errorf("%s: %s event seq %d holds a full card number", client, e.Type, e.Seq)
			}
		}
	}
	var listing strings.Builder
	for _, x := range ex {
		fmt.Fprintf(&listing, "  seq %d kind=%s outcome=%s tag=%q rows=%d sql=%q\n", x.ev.Seq, x.data.Statement.Kind, x.data.Outcome, x.data.CommandTag, x.data.Rows, x.data.Statement.SQL)
		for _, c := range completions[x.ev.Seq] {
			fmt.Fprintf(&listing, "    completed outcome=%s tag=%q rows=%d sqlstate=%s masked=%v\n", c.Outcome, c.CommandTag, c.Rows, c.SQLState, c.Masked)
		}
	}
	// Every outcome names a recorded-ahead query.executed; every recorded-ahead one has exactly one outcome.
	for intent, cs := range completions {
		i, ok := bySeq[intent]
		if !ok {
			t.Errorf("%s: query.completed names intent seq %d, which is no query.executed of the session", client, intent)
			continue
		}
		x := ex[i]
		if x.data.Outcome != "forwarded" {
			t.Errorf("%s: query.completed names seq %d (%q), which was not recorded ahead (outcome %s)", client, intent, x.data.Statement.SQL, x.data.Outcome)
		}
		for _, c := range cs {
			if c.Index != x.data.Statement.Index || c.Kind != x.data.Statement.Kind {
				t.Errorf("%s: query.completed for seq %d says index %d kind %s; the intent has index %d kind %s", client, intent, c.Index, c.Kind, x.data.Statement.Index, x.data.Statement.Kind)
			}
		}
	}
	for _, x := range ex {
		if x.data.Outcome == "forwarded" && len(completions[x.ev.Seq]) != 1 {
			t.Errorf("%s: %q (seq %d) was recorded ahead and has %d query.completed events, want 1", client, x.data.Statement.SQL, x.ev.Seq, len(completions[x.ev.Seq]))
		}
	}
	for _, want := range exps {
		var found []executed
		for _, x := range ex {
			if squash(strings.TrimSuffix(strings.TrimSpace(x.data.Statement.SQL), ";")) == squash(want.SQL) {
				found = append(found, x)
			}
		}
		if len(found) != 1 {
			t.Errorf("%s: %d query.executed events record %q, want 1; the session's statements:\n%s", client, len(found), want.SQL, listing.String())
			continue
		}
		x := found[0]
		if cl := classify.Classify(want.SQL); len(cl) == 1 && x.data.Statement.Kind != string(cl[0].Kind) {
			t.Errorf("%s: %q recorded with kind %s, want %s", client, want.SQL, x.data.Statement.Kind, cl[0].Kind)
		}
		got := struct {
			outcome, tag, sqlstate string
			rows                   int64
			masked                 []schemas.ColumnCount
		}{x.data.Outcome, x.data.CommandTag, x.data.SQLState, x.data.Rows, x.data.Masked}
		ahead := x.data.Outcome == "forwarded"
		switch {
		case want.Ahead == "ahead" && !ahead:
			t.Errorf("%s: %q was not recorded ahead (query.executed outcome %s); a statement that is not a side-effect-free read must be", client, want.SQL, x.data.Outcome)
		case want.Ahead == "gated" && ahead:
			t.Errorf("%s: the side-effect-free read %q was recorded ahead, want one gated query.executed carrying its outcome", client, want.SQL)
		}
		if ahead {
			cs := completions[x.ev.Seq]
			if len(cs) == 0 {
				continue // reported above
			}
			c := cs[0]
			got.outcome, got.tag, got.sqlstate, got.rows, got.masked = c.Outcome, c.CommandTag, c.SQLState, c.Rows, c.Masked
		}
		if !slices.Contains(strings.Split(want.Outcome, "|"), got.outcome) {
			t.Errorf("%s: outcome of %q is %q, want %q", client, want.SQL, got.outcome, want.Outcome)
		}
		if want.Tag != "" && got.tag != want.Tag {
			t.Errorf("%s: command tag of %q is %q, want %q", client, want.SQL, got.tag, want.Tag)
		}
		if want.Rows >= 0 && got.rows != want.Rows {
			t.Errorf("%s: rows of %q is %d, want %d", client, want.SQL, got.rows, want.Rows)
		}
		if got.sqlstate != want.SQLState {
			t.Errorf("%s: SQLSTATE of %q is %q, want %q", client, want.SQL, got.sqlstate, want.SQLState)
		}
		if want.Masked >= 0 {
			if n := maskedValues(got.masked); n != want.Masked {
				t.Errorf("%s: %q delivered %d rows with a tagged column; the outcome counts %d masked values (%v), want %d", client, want.SQL, got.rows, n, got.masked, want.Masked)
			}
		}
	}
	if t.Failed() {
		t.Logf("%s: the session's statements and outcomes:\n%s", client, listing.String())
	}
}

// maskedValues is the number of result values masked: every column count except those of error texts,
// notices and notifications (schemas.ColumnCount).
func maskedValues(cs []schemas.ColumnCount) int64 {
	var n int64
	for _, c := range cs {
		switch c.Column {
		case "error", "notice", "notification":
		default:
			n += c.Count
		}
	}
	return n
}
