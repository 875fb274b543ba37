package soundness_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/integration/stack"
)

// PostgreSQL's own record of what it ran: integration/stack's PGLog reader (log_statement = all is set on
// h2_sound by soundDB).

type logEntry = stack.PGLogEntry

// logOffset is the current size of PostgreSQL's log: entries of sessions started later are after it.
func logOffset(t *testing.T, f *fixture) int64 { return stack.PGLogOffset(t, f.Admin) }

// pgStatements returns what PostgreSQL logged for backend pid since offset, waiting briefly so that the
// backend's last lines (written after the client saw its answer) are in.
func pgStatements(t *testing.T, f *fixture, offset int64, pid int) []logEntry {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	return stack.ReadPGLog(t, f.Admin, offset)[pid]
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
