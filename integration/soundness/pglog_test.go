package soundness_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/integration/stack"
)

// PostgreSQL's own record of what it ran. The stack starts PostgreSQL with pg_ctl -l <stack>/pg/postgres.log
// and log_line_prefix '%m [%p] ' (deploy/local/postgres.go): each entry starts with a timestamp and the
// backend pid; continuation lines of a multi-line statement start with a tab. With log_statement = all
// (set on h2_sound by soundDB) a simple Query is logged as "statement: <string>" once it parses, and an
// extended-protocol Execute as "execute <stmt>[/<portal>]: <source text>" — the text the portal was bound
// to, which is exactly what ran. The file is read through pg_read_file as superuser, so the test needs no
// file permission on it.

// logEntry is one statement PostgreSQL logged as started, for one backend.
type logEntry struct {
	Kind   string // "statement" (simple Query) or "execute" (extended protocol)
	Name   string // the prepared statement (and /portal) of an execute
	Text   string
	Failed string // SQLSTATE-less error message logged after it by the same backend, if any
}

var (
	prefixRE  = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(\d+)\] (\w+):  (.*)$`)
	executeRE = regexp.MustCompile(`^execute(?: fetch from)? ([^:]*): (.*)$`)
)

// pgLogPath is the stack's PostgreSQL log: PANGATE_PG_LOG_FILE, else next to the socket directory.
func pgLogPath(t testing.TB) string {
	if p := os.Getenv("PANGATE_PG_LOG_FILE"); p != "" {
		return p
	}
	if d := os.Getenv("PANGATE_PG_SOCKET_DIR"); d != "" {
		return filepath.Join(filepath.Dir(d), "postgres.log")
	}
	root, err := stack.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, ".stack", "pg", "postgres.log")
}

// logOffset is the current size of PostgreSQL's log: entries of sessions started later are after it.
func logOffset(t *testing.T, f *fixture) int64 {
	t.Helper()
	return f.int(t, "SELECT (pg_stat_file($1)).size", pgLogPath(t))
}

// pgStatements returns what PostgreSQL logged for backend pid since offset, waiting briefly so that the
// backend's last lines (written after the client saw its answer) are in.
func pgStatements(t *testing.T, f *fixture, offset int64, pid int) []logEntry {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	var text string
	if err := f.Admin.QueryRow(context.Background(), "SELECT pg_read_file($1, $2, greatest((pg_stat_file($1)).size - $2, 0))", pgLogPath(t), offset).Scan(&text); err != nil {
		t.Fatalf("read PostgreSQL's log %s as superuser: %v", pgLogPath(t), err)
	}
	return parseLog(text, pid)
}

func parseLog(text string, pid int) []logEntry { return parseLogAll(text)[pid] }

// parseLogAll returns what PostgreSQL logged, by backend pid.
func parseLogAll(text string) map[int][]logEntry {
	out := map[int][]logEntry{}
	cur, curPID := -1, 0  // the entry continuation lines extend
	last := map[int]int{} // the last statement of each backend
	for _, line := range strings.Split(text, "\n") {
		m := prefixRE.FindStringSubmatch(line)
		if m == nil {
			if cur >= 0 && strings.HasPrefix(line, "\t") {
				out[curPID][cur].Text += "\n" + line[1:]
			}
			continue
		}
		cur = -1
		pid, _ := strconv.Atoi(m[1])
		level, body := m[2], m[3]
		switch {
		case level == "LOG" && strings.HasPrefix(body, "statement: "):
			out[pid] = append(out[pid], logEntry{Kind: "statement", Text: strings.TrimPrefix(body, "statement: ")})
			cur, curPID, last[pid] = len(out[pid])-1, pid, len(out[pid])
		case level == "LOG" && executeRE.MatchString(body):
			x := executeRE.FindStringSubmatch(body)
			out[pid] = append(out[pid], logEntry{Kind: "execute", Name: x[1], Text: x[2]})
			cur, curPID, last[pid] = len(out[pid])-1, pid, len(out[pid])
		case level == "ERROR" || level == "FATAL":
			if l := last[pid]; l > 0 && out[pid][l-1].Failed == "" {
				out[pid][l-1].Failed = body
			}
		}
	}
	return out
}

// ran reports whether the log shows a statement whose text contains every one of parts (compared with
// whitespace collapsed and case folded), with the entry that did.
func ran(entries []logEntry, parts ...string) (logEntry, bool) {
	for _, e := range entries {
		txt := squash(e.Text)
		ok := true
		for _, p := range parts {
			if !strings.Contains(txt, squash(p)) {
				ok = false
				break
			}
		}
		if ok {
			return e, true
		}
	}
	return logEntry{}, false
}

func squash(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
