package panleak_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pangate/pangate/schemas"
)

// client is one pgx connection through the gateway whose received bytes are recorded.
type client struct {
	c       *pgx.Conn
	rec     *recorder
	mu      sync.Mutex
	notices []*pgconn.Notice
}

func connect(t *testing.T, g *gw, f *fixture, mode pgx.QueryExecMode) *client {
	t.Helper()
	cfg, err := pgx.ParseConfig(g.dsn(f.Role, "panleak-pgx"))
	if err != nil {
		t.Fatal(err)
	}
	cl := &client{rec: &recorder{}}
	cfg.DefaultQueryExecMode = mode
	var d net.Dialer
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return recConn{Conn: c, r: cl.rec}, nil
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		cl.mu.Lock()
		cl.notices = append(cl.notices, n)
		cl.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl.c, err = pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect through the gateway: %v", err)
	}
	return cl
}

func (cl *client) takeNotices() []*pgconn.Notice {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	n := cl.notices
	cl.notices = nil
	return n
}

func pgErrorText(e *pgconn.PgError) string {
	return strings.Join([]string{e.Severity, e.Code, e.Message, e.Detail, e.Hint, e.Where, e.InternalQuery, e.SchemaName, e.TableName, e.ColumnName, e.ConstraintName}, "\x00")
}

// run performs one attempt on cl and returns the decoded values the client got; it fails the test when the
// attempt did not really run (wrong row count, no error, wrong SQLSTATE, no notice or notification).
func (a attempt) run(t *testing.T, f *fixture, cl *client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sql := strings.NewReplacer("{t}", f.Table, "{pan}", f.PANs[0]).Replace(a.sql)
	want := a.rows
	if want == all {
		want = int64(len(f.PANs))
	}
	var sb strings.Builder
	switch a.kind {
	case kQuery:
		var args []any
		if a.binary {
			args = append(args, pgx.QueryResultFormats{pgx.BinaryFormatCode})
		}
		rows, err := cl.c.Query(ctx, sql, args...)
		if err != nil {
			t.Fatalf("query: %s", redact(err.Error(), f.PANs))
		}
		n := int64(0)
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatalf("decode: %s", redact(err.Error(), f.PANs))
			}
			for _, v := range vals {
				flatten(&sb, v)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("rows: %s", redact(err.Error(), f.PANs))
		}
		for _, fd := range rows.FieldDescriptions() {
			sb.WriteString(fd.Name)
			sb.WriteByte(0)
		}
		if n != want {
			t.Fatalf("%d rows, want %d: the attempt did not really run", n, want)
		}
		sb.WriteString(cl.c.PgConn().ParameterStatus("application_name"))
	case kError:
		_, err := cl.c.Exec(ctx, sql)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			t.Fatalf("want a server error %s, got %v", a.code, redactErr(err, f.PANs))
		}
		if pe.Code != a.code {
			t.Fatalf("SQLSTATE %s (%s), want %s", pe.Code, redact(pe.Message, f.PANs), a.code)
		}
		sb.WriteString(pgErrorText(pe))
		sb.WriteString(err.Error())
	case kNotice:
		cl.takeNotices()
		if _, err := cl.c.Exec(ctx, sql); err != nil {
			t.Fatalf("exec: %s", redact(err.Error(), f.PANs))
		}
		ns := cl.takeNotices()
		if len(ns) == 0 {
			t.Fatal("no NOTICE arrived")
		}
		for _, n := range ns {
			sb.WriteString(pgErrorText((*pgconn.PgError)(n)))
		}
	case kNotify:
		if _, err := cl.c.Exec(ctx, "LISTEN panleak"); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.c.Exec(ctx, sql); err != nil {
			t.Fatalf("exec: %s", redact(err.Error(), f.PANs))
		}
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := cl.c.WaitForNotification(wctx)
		wcancel()
		if err != nil {
			t.Fatalf("no notification arrived: %v", err)
		}
		sb.WriteString(n.Channel + "\x00" + n.Payload)
		if _, err := cl.c.Exec(ctx, "UNLISTEN panleak"); err != nil {
			t.Fatal(err)
		}
	case kCopy:
		var buf strings.Builder
		tag, err := cl.c.PgConn().CopyTo(ctx, &buf, sql)
		if err != nil {
			t.Fatalf("copy: %s", redact(err.Error(), f.PANs))
		}
		if tag.RowsAffected() != want {
			t.Fatalf("COPY %d rows, want %d: the attempt did not really run", tag.RowsAffected(), want)
		}
		sb.WriteString(buf.String())
	}
	return sb.String()
}

func redactErr(err error, pans []string) string {
	if err == nil {
		return "no error"
	}
	return redact(err.Error(), pans)
}

// checkClient scans what one attempt delivered: the raw bytes read from the socket and the decoded values.
func checkClient(t *testing.T, f *fixture, det *detector, a attempt, raw []byte, decoded string) {
	t.Helper()
	if len(raw) == 0 {
		t.Fatal("no bytes recorded: the recorder is not in the path")
	}
	for _, fd := range append(det.scan("client bytes", raw), det.scan("decoded values", []byte(decoded))...) {
		t.Errorf("LEAK %s", fd)
	}
	if a.tagged {
		// Heads (8 digits) and long tails are not PANs: the detector does not see them. A tagged column
		// hides every digit of values under 12 digits.
		for _, p := range f.PANs {
			for _, piece := range []string{p[:8], p[8:]} {
				if len(piece) >= 6 && strings.Contains(decoded, piece) {
					t.Errorf("LEAK tagged value shows the piece %s… of PAN %s", piece[:2], maskPAN(p))
				}
			}
		}
		if !strings.Contains(decoded, "****") {
			t.Errorf("tagged values do not look masked")
		}
	}
}

// TestPANLeak runs the corpus through the real gateway with pgx in the simple protocol (text results) and
// with cached prepared statements (binary results for int8, numeric, float8, arrays, records), then psql,
// psycopg and JDBC, and checks the client bytes, every Kafka record of the test's topic and the gateway log.
func TestPANLeak(t *testing.T) {
	start := time.Now()
	f := newFixture(t)
	g := startGateway(t, f)
	t.Logf("gateway serving after %v", time.Since(start).Round(time.Millisecond))
	det := newDetector(f.PANs)
	sessions := 0
	ran := 0
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		cl := connect(t, g, f, mode)
		sessions++
		cl.rec.take()
		for _, a := range corpus {
			if _, leaks := knownLeaks[a.name]; leaks && os.Getenv("PANLEAK_RUN_KNOWN") == "" {
				continue // PANLEAK_RUN_KNOWN=1 runs them too, to check a fix before removing its entry
			}
			if a.kind == kCopy && mode != pgx.QueryExecModeSimpleProtocol {
				continue // COPY goes through the simple protocol whatever the mode
			}
			if a.binary && mode == pgx.QueryExecModeSimpleProtocol {
				continue // the simple protocol returns text only
			}
			t.Run(mode.String()+"/"+a.name, func(t *testing.T) {
				cl.rec.take()
				decoded := a.run(t, f, cl)
				checkClient(t, f, det, a, cl.rec.take(), decoded)
			})
			ran++
		}
		if err := cl.c.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d pgx attempts ran (%v)", ran, time.Since(start).Round(time.Millisecond))

	t.Run("psql", func(t *testing.T) { sessions++; runPsql(t, g, f, det) })
	t.Run("psycopg", func(t *testing.T) { sessions++; runPsycopg(t, g, f, det) })
	t.Run("jdbc", func(t *testing.T) { sessions++; runJDBC(t, g, f, det) })

	t.Logf("clients done (%v)", time.Since(start).Round(time.Millisecond))
	raws, evs := g.records(t, sessions)
	queries := 0
	for i, raw := range raws {
		for _, fd := range det.scan(fmt.Sprintf("Kafka record %d (%s, session %s seq %d)", i, evs[i].Type, evs[i].Session, evs[i].Seq), raw) {
			t.Errorf("LEAK %s: %s", fd, redact(string(raw), f.PANs))
		}
		if evs[i].Type == schemas.TypeQueryExecuted {
			queries++
		}
	}
	if queries < ran {
		t.Errorf("%d query.executed events for %d pgx attempts: statements were not recorded", queries, ran)
	}
	t.Logf("%d Kafka records scanned (%d query.executed)", len(raws), queries)
	t.Logf("Kafka scanned (%v)", time.Since(start).Round(time.Millisecond))
	g.Stop()
	t.Logf("gateway stopped (%v)", time.Since(start).Round(time.Millisecond))
	logs := g.Logs()
	for i, l := range logs {
		for _, fd := range det.scan(fmt.Sprintf("gateway log line %d", i), []byte(l)) {
			t.Errorf("LEAK %s: %s", fd, redact(l, f.PANs))
		}
	}
	if len(logs) == 0 {
		t.Error("no gateway log captured")
	}
	msgs := map[string]int{}
	for _, l := range logs {
		var m struct{ Msg string }
		if json.Unmarshal([]byte(l), &m) == nil {
			msgs[m.Msg]++
		}
	}
	t.Logf("%d gateway log lines scanned, by message: %v", len(logs), msgs)
}

// TestKnownLeaks lists the attempts that leak today, each with its defect. They are skipped by name only:
// the list is knownLeaks in corpus_test.go.
func TestKnownLeaks(t *testing.T) {
	for _, a := range corpus {
		desc, leaks := knownLeaks[a.name]
		if !leaks {
			continue
		}
		t.Run(a.name, func(t *testing.T) { t.Skip("KNOWN LEAK, reported to the lead: " + desc) })
	}
	for name := range knownLeaks {
		found := false
		for _, a := range corpus {
			found = found || a.name == name
		}
		if !found {
			t.Errorf("knownLeaks names %q, which is not in the corpus", name)
		}
	}
}

// runPsql runs psql (libpq, text results) in one session: selects, an aggregate, a cast, a notice, an error
// and a COPY; stdout and stderr are scanned.
func runPsql(t *testing.T, g *gw, f *fixture, det *detector) {
	tb := f.Table
	cmd := exec.Command("psql", "-X", "-A", "-t", g.dsn(f.Role, "panleak-psql"),
		"-c", "SELECT pan FROM "+tb+" ORDER BY id",
		"-c", "SELECT string_agg(pan, ',') FROM "+tb,
		"-c", "SELECT pan::bigint FROM "+tb+" ORDER BY id",
		"-c", "DO $$ DECLARE p text; BEGIN SELECT pan INTO p FROM "+tb+" WHERE id = 1; RAISE NOTICE 'card %', p; END $$",
		"-c", "SELECT pan::int FROM "+tb,
		"-c", "COPY (SELECT id, pan || '' FROM "+tb+") TO STDOUT (FORMAT csv)",
		"-c", "SELECT 'end'")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run() // the deliberate error makes psql's status non-zero in some versions; outputs decide
	n := len(f.PANs)
	lines := strings.Count(out.String(), "\n")
	if want := n + 1 + n + 1 + n + 1; /* "DO" is printed as a command tag */ lines != want || !strings.HasSuffix(out.String(), "end\n") {
		t.Errorf("psql printed %d lines, want %d:\n%s\nstderr:\n%s", lines, want, redact(out.String(), f.PANs), redact(errb.String(), f.PANs))
	}
	if !strings.Contains(errb.String(), "NOTICE") || !strings.Contains(errb.String(), "ERROR") {
		t.Errorf("psql stderr lacks the NOTICE or the ERROR:\n%s", redact(errb.String(), f.PANs))
	}
	for _, fd := range append(det.scan("psql stdout", []byte(out.String())), det.scan("psql stderr", []byte(errb.String()))...) {
		t.Errorf("LEAK %s", fd)
	}
}

// runPsycopg runs psycopg 3 with text and binary cursors, an error, a notice and a notification.
func runPsycopg(t *testing.T, g *gw, f *fixture, det *detector) {
	if err := exec.Command("python3", "-c", "import psycopg").Run(); err != nil {
		t.Fatalf("psycopg is not installed for python3: install it with: pip install \"psycopg[binary]\"")
	}
	cmd := exec.Command("python3", "testdata/psycopg_leak.py", g.dsn(f.Role, "panleak-psycopg"), f.Table)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("psycopg client: %v\nstdout:\n%s\nstderr:\n%s", err, redact(out.String(), f.PANs), redact(errb.String(), f.PANs))
	}
	n := len(f.PANs)
	want := fmt.Sprintf("rows %d %d %d %d 1 1 %d %d %d %d 1 1\nerror 22003\nnotice 1\nnotify 1\n", n, n, n, n, n, n, n, n)
	if got := summary(out.String()); got != want {
		t.Errorf("psycopg summary:\n%s\nwant suffix:\n%s", redact(out.String(), f.PANs), want)
	}
	for _, fd := range append(det.scan("psycopg output", []byte(out.String())), det.scan("psycopg stderr", []byte(errb.String()))...) {
		t.Errorf("LEAK %s", fd)
	}
}

// runJDBC runs the PostgreSQL JDBC driver with server-prepared statements and binary transfer.
func runJDBC(t *testing.T, g *gw, f *fixture, det *detector) {
	home, _ := os.UserHomeDir()
	jar := filepath.Join(home, ".m2/repository/org/postgresql/postgresql/42.7.4/postgresql-42.7.4.jar")
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("PostgreSQL JDBC driver not found at %s: fetch it with: mvn -q dependency:get -Dartifact=org.postgresql:postgresql:42.7.4", jar)
	}
	classes := t.TempDir()
	if out, err := exec.Command("javac", "-d", classes, "-cp", jar, "testdata/jdbc/JdbcLeak.java").CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	url := fmt.Sprintf("jdbc:postgresql://127.0.0.1:%s/postgres", g.Port)
	cmd := exec.Command("java", "-cp", classes+string(os.PathListSeparator)+jar, "JdbcLeak", url, f.Role+"@pg", g.token("panleak-jdbc"), f.Table)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("JDBC client: %v\nstdout:\n%s\nstderr:\n%s", err, redact(out.String(), f.PANs), redact(errb.String(), f.PANs))
	}
	n := len(f.PANs)
	want := fmt.Sprintf("rows %d %d %d %d 1 1\nerror 22003\nnotice 1\ndone\n", n, n, n, n)
	if got := summary(out.String()); got != want {
		t.Errorf("JDBC summary:\n%s\nwant suffix:\n%s", redact(out.String(), f.PANs), want)
	}
	for _, fd := range append(det.scan("JDBC output", []byte(out.String())), det.scan("JDBC stderr", []byte(errb.String()))...) {
		t.Errorf("LEAK %s", fd)
	}
}

// summary keeps the summary lines a client program prints after its values.
func summary(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		for _, p := range []string{"rows ", "error ", "notice ", "notify ", "done"} {
			if strings.HasPrefix(l, p) {
				b.WriteString(l + "\n")
				break
			}
		}
	}
	return b.String()
}
