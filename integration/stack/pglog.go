package stack

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL's own record of what it ran, the reference the adversarial tests compare the audit trail with.
// The stack starts PostgreSQL with pg_ctl -l <stack>/pg/postgres.log and log_line_prefix '%m [%p] '
// (deploy/local/postgres.go): each entry starts with a timestamp and the backend pid; continuation lines of
// a multi-line statement start with a tab. With log_statement = all (tests set it on their database) a simple
// Query is logged as "statement: <string>" once it parses, and an extended-protocol Execute as
// "execute <stmt>[/<portal>]: <source text>" — the text the portal was bound to, which is exactly what ran.
// The file is read through pg_read_file as superuser, so a test needs no file permission on it.

// PGLogEntry is one statement PostgreSQL logged as started, for one backend.
type PGLogEntry struct {
	Kind   string // "statement" (simple Query) or "execute" (extended protocol)
	Name   string // the prepared statement (and /portal) of an execute
	Text   string
	Failed string // the error PostgreSQL logged after it for the same backend, if any
}

// Querier runs one query as a superuser (a *pgx.Conn or a *pgxpool.Pool of the stack's admin).
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	pgLogPrefixRE  = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(\d+)\] (\w+):  (.*)$`)
	pgLogExecuteRE = regexp.MustCompile(`^execute(?: fetch from)? ([^:]*): (.*)$`)
)

// PGLogPath is the stack's PostgreSQL log: PANGATE_PG_LOG_FILE, else next to the socket directory, else
// .stack/pg/postgres.log in the module.
func PGLogPath(t testing.TB) string {
	if p := os.Getenv("PANGATE_PG_LOG_FILE"); p != "" {
		return p
	}
	if d := os.Getenv("PANGATE_PG_SOCKET_DIR"); d != "" {
		return filepath.Join(filepath.Dir(d), "postgres.log")
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, ".stack", "pg", "postgres.log")
}

// PGLogOffset is the current size of PostgreSQL's log: entries of sessions started later are after it.
func PGLogOffset(t testing.TB, db Querier) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(context.Background(), "SELECT (pg_stat_file($1)).size", PGLogPath(t)).Scan(&n); err != nil {
		t.Fatalf("size of PostgreSQL's log %s (needs a superuser connection): %v", PGLogPath(t), err)
	}
	return n
}

// ReadPGLog returns what PostgreSQL logged since offset, by backend pid. A backend writes its last lines
// after the client saw the answer: callers wait a moment (a few hundred ms) before reading.
func ReadPGLog(t testing.TB, db Querier, offset int64) map[int][]PGLogEntry {
	t.Helper()
	return ParsePGLog(PGLogText(t, db, offset))
}

// PGLogText is PostgreSQL's log from offset on, as written (warnings and notices included).
func PGLogText(t testing.TB, db Querier, offset int64) string {
	t.Helper()
	var text string
	if err := db.QueryRow(context.Background(), "SELECT pg_read_file($1, $2, greatest((pg_stat_file($1)).size - $2, 0))", PGLogPath(t), offset).Scan(&text); err != nil {
		t.Fatalf("read PostgreSQL's log %s as superuser: %v", PGLogPath(t), err)
	}
	return text
}

// ParsePGLog parses log text (see PGLogEntry), by backend pid.
func ParsePGLog(text string) map[int][]PGLogEntry {
	out := map[int][]PGLogEntry{}
	cur, curPID := -1, 0  // the entry continuation lines extend
	last := map[int]int{} // the last statement of each backend
	for _, line := range strings.Split(text, "\n") {
		m := pgLogPrefixRE.FindStringSubmatch(line)
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
			out[pid] = append(out[pid], PGLogEntry{Kind: "statement", Text: strings.TrimPrefix(body, "statement: ")})
			cur, curPID, last[pid] = len(out[pid])-1, pid, len(out[pid])
		case level == "LOG" && pgLogExecuteRE.MatchString(body):
			x := pgLogExecuteRE.FindStringSubmatch(body)
			out[pid] = append(out[pid], PGLogEntry{Kind: "execute", Name: x[1], Text: x[2]})
			cur, curPID, last[pid] = len(out[pid])-1, pid, len(out[pid])
		case level == "ERROR" || level == "FATAL":
			if l := last[pid]; l > 0 && out[pid][l-1].Failed == "" {
				out[pid][l-1].Failed = body
			}
		}
	}
	return out
}
