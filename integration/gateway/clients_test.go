package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// psqlCmd runs psql through the gateway (TLS, token as password).
func (g *gw) psqlCmd(t *testing.T, role, db string, args ...string) *exec.Cmd {
	t.Helper()
	if db == "" {
		db = "postgres"
	}
	cmd := exec.Command("psql", append([]string{"-X", "-v", "ON_ERROR_STOP=1", fmt.Sprintf("host=127.0.0.1 port=%s user=%s@%s dbname=%s sslmode=require", g.Port, role, g.Target, db)}, args...)...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+g.token("psql-user"), "PGCONNECT_TIMEOUT=20")
	return cmd
}

func directPsql(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return exec.Command("psql", append([]string{"-X", "-v", "ON_ERROR_STOP=1", stack.PostgresDSN(t)}, args...)...)
}

func run(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", strings.Join(cmd.Args[:2], " "), err, out.String(), errb.String())
	}
	return out.String()
}

// TestPsql runs psql through the gateway: queries (several statements in one string), \copy out and in,
// and compares with a direct psql; card numbers leave masked in COPY output too.
func TestPsql(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	ctx := context.Background()
	q := fmt.Sprintf("SELECT id, name, amount FROM %s ORDER BY id", f.Table)
	got := run(t, g.psqlCmd(t, f.Role, "", "-A", "-c", q))
	want := run(t, directPsql(t, "-A", "-c", q))
	if got != want {
		t.Fatalf("psql through the gateway:\n%s\nwant:\n%s", got, want)
	}
	multi := fmt.Sprintf("SELECT count(*) FROM %s; SELECT 'two'; SELECT max(id) FROM %s", f.Table, f.Table)
	if got, want := run(t, g.psqlCmd(t, f.Role, "", "-A", "-t", "-c", multi)), run(t, directPsql(t, "-A", "-t", "-c", multi)); got != want {
		t.Fatalf("several statements in one string: got %q want %q", got, want)
	}

	dir := t.TempDir()
	out := filepath.Join(dir, "out.csv")
	run(t, g.psqlCmd(t, f.Role, "", "-c", fmt.Sprintf(`\copy (SELECT id, name, pan FROM %s ORDER BY id) TO '%s' CSV`, f.Table, out)))
	b, err := os.ReadFile(out)
	must(t, err)
	if lines := strings.Count(string(b), "\n"); lines != 20 {
		t.Fatalf("\\copy out wrote %d lines, want 20", lines)
	}
	if strings.Contains(string(b), "4111111111111111") || !strings.Contains(string(b), "1111") {
		t.Fatalf("\\copy out: card numbers not masked:\n%s", b)
	}
	in := filepath.Join(dir, "in.csv")
	must(t, os.WriteFile(in, []byte("500,copied one,none,1\n501,copied two,none,2\n"), 0o644))
	run(t, g.psqlCmd(t, f.Role, "", "-c", fmt.Sprintf(`\copy %s FROM '%s' CSV`, f.Table, in)))
	var n int
	must(t, f.admin.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE id IN (500, 501)", f.Table)).Scan(&n))
	if n != 2 {
		t.Fatalf("\\copy in: %d rows arrived, want 2", n)
	}

	evs := g.events(t, endedSessions(4))
	var copies int
	for _, s := range clientSessions(evs) {
		if err := schemas.VerifySession(s); err != nil {
			t.Fatal(err)
		}
		for _, e := range s {
			if e.Type != schemas.TypeQueryExecuted {
				continue
			}
			var qe schemas.QueryExecuted
			must(t, e.Decode(&qe))
			if qe.Statement.Kind == "copy" {
				copies++
				if qe.Outcome != "forwarded" {
					t.Errorf("COPY recorded with outcome %q, want forwarded (write-ahead)", qe.Outcome)
				}
			}
		}
	}
	if copies != 2 {
		t.Errorf("want 2 COPY statements recorded, got %d", copies)
	}
}

// TestPsqlCancel interrupts psql during a long statement: psql sends a CancelRequest (without TLS, as
// libpq does) to the gateway, which forwards it.
func TestPsqlCancel(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	cmd := g.psqlCmd(t, f.Role, "", "-c", "SELECT pg_sleep(62)")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	must(t, cmd.Start())
	waitRunning(t, f, "pg_sleep(62)")
	must(t, cmd.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("psql did not return after SIGINT")
	}
	if !strings.Contains(errb.String(), "canceling statement due to user request") {
		t.Fatalf("psql stderr: %s", errb.String())
	}
}

// TestPgbench runs pgbench's TPC-B-like script through the gateway in the simple, extended and prepared
// protocols and checks that every transaction ran and every statement was recorded in a valid chain.
func TestPgbench(t *testing.T) {
	t.Parallel()
	db := stack.UniqueName(t, "gwpgb")
	g := startGateway(t, gwOpts{databases: []string{db}})
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.admin.Exec(ctx, "CREATE DATABASE "+db)
	must(t, err)
	t.Cleanup(func() {
		_, _ = f.admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	})
	cfg, err := pgx.ParseConfig(stack.PostgresDSN(t))
	must(t, err)
	cfg.Database = db
	dbDSN := fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable", cfg.Host, cfg.Port, cfg.User, cfg.Password, db)
	run(t, exec.Command("pgbench", "-i", "-q", "-s", "1", "-I", "dtg", dbDSN))
	run(t, exec.Command("psql", "-X", dbDSN, "-c", fmt.Sprintf("GRANT ALL ON ALL TABLES IN SCHEMA public TO %s", f.Role)))

	const clients, txs = 2, 15
	re := regexp.MustCompile(`number of transactions actually processed: (\d+)/(\d+)`)
	for _, mode := range []string{"simple", "extended", "prepared"} {
		cmd := exec.Command("pgbench", "-n", "-M", mode, "-c", fmt.Sprint(clients), "-t", fmt.Sprint(txs),
			fmt.Sprintf("host=127.0.0.1 port=%s user=%s@%s dbname=%s sslmode=require", g.Port, f.Role, g.Target, db))
		cmd.Env = append(os.Environ(), "PGPASSWORD="+g.token("pgbench"))
		out := run(t, cmd)
		m := re.FindStringSubmatch(out)
		if m == nil || m[1] != m[2] || m[1] != fmt.Sprint(clients*txs) {
			t.Fatalf("pgbench -M %s: %s", mode, out)
		}
	}
	// Each pgbench run opens one more session than its clients (it reads the scale first): wait for all,
	// or the reader may stop before the partitions holding the last run's sessions were fetched.
	evs := g.events(t, endedSessions(3*(clients+1)))
	updates := 0
	for _, s := range clientSessions(evs) {
		if err := schemas.VerifySession(s); err != nil {
			t.Fatal(err)
		}
		for _, e := range s {
			if e.Type != schemas.TypeQueryExecuted {
				continue
			}
			var qe schemas.QueryExecuted
			must(t, e.Decode(&qe))
			if strings.HasPrefix(qe.Statement.SQL, "UPDATE pgbench_accounts") {
				updates++
			}
		}
	}
	if updates != 3*clients*txs {
		t.Fatalf("recorded %d pgbench_accounts updates, want %d", updates, 3*clients*txs)
	}
}
