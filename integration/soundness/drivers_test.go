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
)

var pidLine = regexp.MustCompile(`(?m)^(?:pid=)?(\d+)\|?(h2tag-[0-9a-f]+)?$`)

// psql runs psql through the gateway with env added; it returns stdout, stderr and the exit error.
func psql(t *testing.T, g *gw, f *fixture, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command("psql", append([]string{"-X", "-A", "-t", fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=%s sslmode=require", g.Port, f.Role, database)}, args...)...)
	cmd.Env = append(append(os.Environ(), "PGPASSWORD="+g.token("h2-psql"), "PGCONNECT_TIMEOUT=20"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// TestDrivers runs the attack classes through real clients: psql (libpq: startup settings from the
// environment, FETCH_COUNT cursors, the E” continuation through -c), pgx (protocol Parse then SQL
// EXECUTE, refused startup encodings) and JDBC (the driver's own server-side statement replaced by SQL
// PREPARE of the same name).
func TestDrivers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := startGateway(t, f, gwOpts{})
	x := attackTexts(f)

	t.Run("PsqlRefusedStartupSettings", func(t *testing.T) {
		for _, env := range [][]string{{"PGCLIENTENCODING=SJIS"}, {"PGOPTIONS=-c standard_conforming_strings=off"}, {"PGOPTIONS=-c role=" + f.Other}} {
			_, stderr, err := psql(t, g, f, env, "-c", "SELECT 1")
			if err == nil {
				t.Errorf("psql with %v connected; want a FATAL refusal", env)
			} else if !strings.Contains(stderr, "pangate") {
				t.Errorf("psql with %v: %s; want pangate's FATAL naming the parameter", env, stderr)
			}
		}
	})

	t.Run("PsqlFetchCountCursorAndCacheKey", func(t *testing.T) {
		off := logOffset(t, f)
		tag := newTag()
		upd := fmt.Sprintf("UPDATE %s SET v = %d", f.Marker, evil)
		stdout, stderr, _ := psql(t, g, f, nil, "-v", "FETCH_COUNT=1",
			"-c", fmt.Sprintf("SELECT pg_backend_pid(), '%s'", tag),
			"-c", fmt.Sprintf("SELECT pan FROM %s", f.Cards),
			"-c", "SELECT E'a'\n'b'",
			"-c", "SELECT E'a'\n'\\''; "+upd+"; --'")
		m := pidLine.FindStringSubmatch(stdout)
		if m == nil {
			t.Fatalf("psql printed no backend pid:\n%s\n%s", stdout, stderr)
		}
		pid, _ := strconv.Atoi(m[1])
		if n := f.touched(t); n > 0 {
			t.Errorf("psql -c with an E'' continuation ran the held UPDATE on %d rows", n)
		}
		p := &probe{Name: "psql", Tag: tag, PID: pid}
		evs := checkAudit(t, g, f, off, p)[p]
		fetches := eventsFor(evs, "FETCH FORWARD")
		if len(fetches) == 0 {
			t.Fatalf("psql FETCH_COUNT=1 produced no FETCH events:\n%s", listEvents(evs))
		}
		// psql runs every -c through its cursor: the first FETCHes read the pid query, later ones the cards.
		var overCards int
		for _, e := range fetches {
			st := e.Data.Statement
			if !slices.Contains(st.Tables, f.Cards) {
				continue
			}
			overCards++
			if !st.Cardholder || st.Kind != "read" {
				t.Errorf("psql's FETCH from its cursor over %s recorded as kind %s, cardholder %v", f.Cards, st.Kind, st.Cardholder)
			}
		}
		if overCards == 0 {
			t.Errorf("no FETCH event carries the cursor's table %s:\n%s", f.Cards, listEvents(evs))
		}
	})

	t.Run("PgxParseThenSQLExecute", func(t *testing.T) {
		off := logOffset(t, f)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, g.dsn(f.Role))
		if err != nil {
			t.Fatal(err)
		}
		tag := newTag()
		var pid int
		if err := c.QueryRow(ctx, fmt.Sprintf("SELECT pg_backend_pid(), '%s'", tag), pgx.QueryExecModeSimpleProtocol).Scan(&pid, new(string)); err != nil {
			t.Fatal(err)
		}
		p := &probe{Name: "pgx", Tag: tag, PID: pid}
		_, _ = c.Prepare(ctx, "s", x.held)
		_, err = c.Exec(ctx, "EXECUTE s", pgx.QueryExecModeSimpleProtocol)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && refusedByGateway(&msg{Code: pe.Code, Message: pe.Message}) {
			p.NotRun = append(p.NotRun, "EXECUTE s")
		}
		_ = c.Close(ctx)
		if n := f.touched(t); n > 0 {
			t.Errorf("pgx Prepare of the held UPDATE then SQL EXECUTE changed %d marker rows", n)
		}
		checkAudit(t, g, f, off, p)
		cfg, err := pgx.ParseConfig(g.dsn(f.Role))
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["client_encoding"] = "SJIS"
		if c, err := pgx.ConnectConfig(ctx, cfg); err == nil {
			_ = c.Close(ctx)
			t.Error("pgx with client_encoding=SJIS connected; want a FATAL refusal")
		}
	})

	t.Run("JDBCStatementReplacedBySQLPrepare", func(t *testing.T) {
		home, _ := os.UserHomeDir()
		jar := filepath.Join(home, ".m2/repository/org/postgresql/postgresql/42.7.4/postgresql-42.7.4.jar")
		if _, err := os.Stat(jar); err != nil {
			t.Fatalf("PostgreSQL JDBC driver not found at %s: fetch it with: mvn -q dependency:get -Dartifact=org.postgresql:postgresql:42.7.4", jar)
		}
		classes := t.TempDir()
		if out, err := exec.Command("javac", "-d", classes, "-cp", jar, "testdata/jdbc/JdbcPrepare.java").CombinedOutput(); err != nil {
			t.Fatalf("javac: %v\n%s", err, out)
		}
		off := logOffset(t, f)
		tag := newTag()
		out, err := exec.Command("java", "-cp", classes+string(os.PathListSeparator)+jar, "JdbcPrepare",
			fmt.Sprintf("jdbc:postgresql://127.0.0.1:%s/%s", g.Port, database), f.Role+"@pg", g.token("h2-jdbc"), f.Marker, tag).CombinedOutput()
		if err != nil {
			t.Fatalf("JDBC client: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("JDBC client printed no pid:\n%s", out)
		}
		pid, _ := strconv.Atoi(m[1])
		t.Logf("JDBC:\n%s", out)
		// The UPDATE has a WHERE clause, so the policy allows it: if it ran, the audit must say so (kind write).
		f.touched(t)
		p := &probe{Name: "jdbc", Tag: tag, PID: pid}
		checkAudit(t, g, f, off, p)
	})
}
