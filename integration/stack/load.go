package stack

// Load through a gateway for the fault tests under load (integration/soundness, integration/kafkacluster):
// pgbench-like tables, pgbench's scripts over them, rounds of pgbench that go on through outages, and the
// backends of the gateway's just-in-time roles seen while the load runs.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PgbenchTables returns the statements that create pgbench-like tables <p>_branches, <p>_tellers,
// <p>_accounts and <p>_history (scale: 1 branch, 10 tellers, 10,000 accounts) and grant them to role.
func PgbenchTables(p, role string) []string {
	return []string{
		fmt.Sprintf("CREATE TABLE %s_branches (bid int PRIMARY KEY, bbalance int NOT NULL, filler char(88))", p),
		fmt.Sprintf("CREATE TABLE %s_tellers (tid int PRIMARY KEY, bid int, tbalance int NOT NULL, filler char(84))", p),
		fmt.Sprintf("CREATE TABLE %s_accounts (aid int PRIMARY KEY, bid int, abalance int NOT NULL, filler char(84))", p),
		fmt.Sprintf("CREATE TABLE %s_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22))", p),
		fmt.Sprintf("INSERT INTO %s_branches VALUES (1, 0, '')", p),
		fmt.Sprintf("INSERT INTO %s_tellers SELECT g, 1, 0, '' FROM generate_series(1, 10) g", p),
		fmt.Sprintf("INSERT INTO %s_accounts SELECT g, 1, 0, '' FROM generate_series(1, 10000) g", p),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %[1]s_branches, %[1]s_tellers, %[1]s_accounts, %[1]s_history TO %[2]s", p, role),
	}
}

// PgbenchScripts writes pgbench's built-in TPC-B-like and select-only scripts over the tables of
// PgbenchTables(p, …) into a temporary directory of t and returns their paths.
func PgbenchScripts(t testing.TB, p string) (tpcb, selectOnly string) {
	t.Helper()
	dir := t.TempDir()
	tpcb, selectOnly = filepath.Join(dir, "tpcb.sql"), filepath.Join(dir, "select.sql")
	tb := fmt.Sprintf(`\set aid random(1, 10000)
\set bid 1
\set tid random(1, 10)
\set delta random(-5000, 5000)
BEGIN;
UPDATE %[1]s_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM %[1]s_accounts WHERE aid = :aid;
UPDATE %[1]s_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE %[1]s_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO %[1]s_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
END;
`, p)
	sb := fmt.Sprintf("\\set aid random(1, 10000)\nSELECT abalance FROM %s_accounts WHERE aid = :aid;\n", p)
	for path, s := range map[string]string{tpcb: tb, selectOnly: sb} {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return tpcb, selectOnly
}

// Pgbench runs rounds of pgbench through a gateway and keeps their outputs. pgbench 15 aborts a client on
// any error but serialization failures and deadlocks, so a refused statement ends a round early: rounds of
// 3 s are started again until the load stops, and an outage costs rounds, not the load.
type Pgbench struct {
	mu      sync.Mutex
	outputs []string
	tx      int64
}

// PgbenchRound is one pgbench invocation: script, clients, the rate limit (-R, transactions/s, which
// keeps a shared 2-core machine usable), the libpq connection string and the password (a token).
type PgbenchRound struct {
	Script   string
	Clients  int
	Rate     int
	Conninfo string
	Password func() string
}

var pgbenchTxRE = regexp.MustCompile(`number of transactions actually processed: (\d+)`)

// Rounds runs r in rounds until stop is closed.
func (b *Pgbench) Rounds(stop <-chan struct{}, r PgbenchRound) {
	for !closed(stop) {
		cmd := exec.Command("pgbench", "-n", "-M", "simple", "-c", strconv.Itoa(r.Clients), "-T", "3", "-R", strconv.Itoa(r.Rate), "-f", r.Script, r.Conninfo)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+r.Password(), "PGCONNECT_TIMEOUT=20") // a login waits for its session.started to be acknowledged, which a leader election delays
		out, _ := cmd.CombinedOutput()
		m := pgbenchTxRE.FindSubmatch(out)
		b.mu.Lock()
		b.outputs = append(b.outputs, string(out))
		if m != nil {
			n, _ := strconv.ParseInt(string(m[1]), 10, 64)
			b.tx += n
		}
		b.mu.Unlock()
		if m == nil {
			time.Sleep(300 * time.Millisecond) // the gateway refused the sessions (outage)
		}
	}
}

// Summary says how many rounds ran, the transactions they processed, the clients aborted (and how many of
// those by pangate's audit refusals), and up to five distinct error lines.
func (b *Pgbench) Summary() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	aborted := 0
	seen := map[string]bool{}
	var errs []string
	for _, o := range b.outputs {
		aborted += strings.Count(o, "aborted in command")
		for _, line := range strings.Split(o, "\n") {
			if l := strings.TrimSpace(line); (strings.Contains(l, "error") || strings.Contains(l, "ERROR")) && !seen[l] {
				seen[l] = true
				errs = append(errs, l)
			}
		}
	}
	sort.Strings(errs)
	if len(errs) > 5 {
		errs = errs[:5]
	}
	return fmt.Sprintf("pgbench: %d rounds, %d transactions, %d clients aborted (%d by pangate's audit refusals), errors %q",
		len(b.outputs), b.tx, aborted, b.auditRefusals(), errs)
}

// AuditRefusals counts the clients pgbench reported aborted by pangate's audit refusals (SQLSTATE 58000:
// the audit log did not acknowledge the statement's event) so far.
func (b *Pgbench) AuditRefusals() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.auditRefusals()
}

func (b *Pgbench) auditRefusals() int {
	n := 0
	for _, o := range b.outputs {
		n += strings.Count(o, "pangate: the audit log")
	}
	return n
}

// WatchJITBackends records, every 50 ms until stop is closed, the backend pid and role of every session in
// database whose role is a member of role (the gateway's just-in-time roles of a fixture): PostgreSQL's log
// names backends by pid, the audit events name sessions by role. It reports a failure to connect on t.
func WatchJITBackends(t testing.TB, dsn, database, role string, stop <-chan struct{}, seen func(pid int, role string)) {
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Errorf("watch pg_stat_activity: %v", err)
		return
	}
	defer c.Close(context.Background())
	for {
		rows, err := c.Query(context.Background(), `SELECT pid, usename FROM pg_stat_activity WHERE datname = $1 AND usename IN
			(SELECT r.rolname FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = $2))`, database, role)
		if err != nil {
			t.Logf("watch pg_stat_activity: %v", err)
		} else {
			for rows.Next() {
				var pid int
				var r string
				if rows.Scan(&pid, &r) == nil {
					seen(pid, r)
				}
			}
			rows.Close()
		}
		if closed(stop) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DropJITMembers ends the backends of, and drops, the roles that are members of role (the just-in-time
// roles a killed gateway left behind), with what they own.
func DropJITMembers(ctx context.Context, admin *pgx.Conn, role string) {
	rows, err := admin.Query(ctx, `SELECT r.rolname FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid
		WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = $1)`, role)
	if err != nil {
		return
	}
	var roles []string
	for rows.Next() {
		var r string
		if rows.Scan(&r) == nil {
			roles = append(roles, r)
		}
	}
	rows.Close()
	for _, r := range roles {
		_, _ = admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", r)
		_, _ = admin.Exec(ctx, "DROP OWNED BY "+pgx.Identifier{r}.Sanitize())
		_, _ = admin.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize())
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
