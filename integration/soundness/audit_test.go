package soundness_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// executedTypes are the event types that say a statement was sent to PostgreSQL: today query.executed;
// the lead's rewrite may split it (query.completed). query.blocked says it was not.
var executedTypes = map[string]bool{schemas.TypeQueryExecuted: true, "query.completed": true}

// probe is one client session to compare with PostgreSQL's log: found in the audit topic by the unique
// literal Tag of its first statement, in PostgreSQL's log by its backend PID.
type probe struct {
	Name   string // for messages: which attack
	Tag    string
	PID    int
	NotRun []string // texts the client was told were not run (pangate's 42501/58000): must not be in the log
}

func (w *wire) probe(name string) *probe { return &probe{Name: name, Tag: w.Tag, PID: w.PID} }

// stmt is the statement part of an executed or blocked event.
type stmtEvent struct {
	Type  string
	Index int
	Data  schemas.QueryExecuted // QueryBlocked shares Statement; the rest stays zero
}

// auditEvents reads the gateway's audit topic until every probe's session has ended, and returns each
// probe's events in log order (one partition per session keeps them in order).
func auditEvents(t *testing.T, g *gw, probes []*probe) map[*probe][]schemas.Event {
	t.Helper()
	opts := []kgo.Opt{kgo.ConsumeTopics(g.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	var cl *kgo.Client
	if g.fake {
		var err error
		cl, err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(g.Brokers...)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
	} else {
		cl = stack.Kafka(t, opts...)
	}
	bySession := map[string][]schemas.Event{}
	var order []string
	found := func() (map[*probe][]schemas.Event, bool) {
		out := map[*probe][]schemas.Event{}
		for _, p := range probes {
			for _, s := range order {
				evs := bySession[s]
				if !sessionHas(evs, p.Tag) {
					continue
				}
				out[p] = evs
			}
		}
		done := len(out) == len(probes)
		for _, evs := range out {
			if evs[len(evs)-1].Type != schemas.TypeSessionEnded {
				done = false
			}
		}
		return out, done
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			e, err := schemas.Parse(r.Value)
			if err != nil {
				t.Errorf("audit record is not an event: %v", err)
				return
			}
			if _, ok := bySession[e.Session]; !ok {
				order = append(order, e.Session)
			}
			bySession[e.Session] = append(bySession[e.Session], e)
		})
		cancel()
		if out, done := found(); done {
			return out
		}
	}
	out, _ := found()
	for _, p := range probes {
		if _, ok := out[p]; !ok {
			t.Errorf("%s: no session in audit topic %s recorded the statement tagged %s", p.Name, g.Topic, p.Tag)
		} else if evs := out[p]; evs[len(evs)-1].Type != schemas.TypeSessionEnded {
			t.Errorf("%s: the session's session.ended event did not arrive within 30s (last: %s)", p.Name, evs[len(evs)-1].Type)
		}
	}
	return out
}

func sessionHas(evs []schemas.Event, tag string) bool {
	for _, e := range evs {
		if (executedTypes[e.Type] || e.Type == schemas.TypeQueryBlocked) && strings.Contains(string(e.Data), tag) {
			return true
		}
	}
	return false
}

func statements(t *testing.T, evs []schemas.Event) []stmtEvent {
	t.Helper()
	var out []stmtEvent
	for i, e := range evs {
		if !executedTypes[e.Type] && e.Type != schemas.TypeQueryBlocked {
			continue
		}
		var q schemas.QueryExecuted
		if err := e.Decode(&q); err != nil {
			t.Errorf("event %s: %v", e.Type, err)
			continue
		}
		out = append(out, stmtEvent{Type: e.Type, Index: i, Data: q})
	}
	return out
}

// checkAudit ends the probes' sessions' comparison: for each, PostgreSQL's log (since offset) against the
// session's audit events.
//   - every statement PostgreSQL logged has an executed event whose masked text equals it modulo literals
//     (an SQL EXECUTE may instead be recorded with the text it runs), in the same order;
//   - that event's kind is the kind of what ran (for EXECUTE: of the prepared statement, when the log
//     shows it); in particular no event calls "read" a statement that is not one;
//   - nothing the client was told was not run appears in the log.
func checkAudit(t *testing.T, g *gw, f *fixture, offset int64, probes ...*probe) map[*probe][]stmtEvent {
	t.Helper()
	all := auditEvents(t, g, probes)
	out := map[*probe][]stmtEvent{}
	for _, p := range probes {
		evs, ok := all[p]
		if !ok {
			continue
		}
		if err := schemas.VerifySession(evs); err != nil {
			t.Errorf("%s: session chain: %v", p.Name, err)
		}
		logged := pgStatements(t, f, offset, p.PID)
		out[p] = statements(t, evs)
		if os.Getenv("H2_DEBUG") != "" {
			for _, le := range logged {
				t.Logf("pg log %s %s: %q failed=%q", le.Kind, le.Name, le.Text, le.Failed)
			}
			t.Logf("events:\n%s", listEvents(out[p]))
		}
		compare(t, p, logged, out[p])
	}
	return out
}

var (
	prepareRE = regexp.MustCompile(`(?is)^\s*prepare\s+("?[\w$]+"?)\s*(?:\([^)]*\))?\s+as\s+(.*)$`)
	executeSQ = regexp.MustCompile(`(?is)^\s*(?:explain\s*(?:\([^)]*\)|analyze|verbose|\s)*\s+)?execute\s+("?[\w$]+"?)`)
	ctasExec  = regexp.MustCompile(`(?is)\bas\s+execute\s+("?[\w$]+"?)`)
	deallocRE = regexp.MustCompile(`(?is)^\s*deallocate\s+(?:prepare\s+)?("?[\w$]+"?)`)
	fetchRE   = regexp.MustCompile(`(?is)^\s*(fetch|move)\b`)
)

func unquote(s string) string {
	if strings.HasPrefix(s, `"`) {
		return strings.Trim(s, `"`)
	}
	return strings.ToLower(s)
}

func compare(t *testing.T, p *probe, logged []logEntry, evs []stmtEvent) {
	t.Helper()
	prepared := map[string]string{} // prepared statement name -> text, as the log reveals it
	used := make([]bool, len(evs))
	next := 0
	var ranTexts []string
	for _, le := range logged {
		pieces := []string{le.Text}
		if le.Kind == "statement" {
			if ps, err := pg_query.SplitWithScanner(le.Text, true); err == nil && len(ps) > 0 {
				pieces = ps
			}
		} else if name, _, _ := strings.Cut(le.Name, "/"); name != "<unnamed>" {
			prepared[strings.ToLower(name)] = le.Text
		}
		for _, piece := range pieces {
			ranTexts = append(ranTexts, piece)
			cands := []string{piece}
			kindOf := piece
			if m := prepareRE.FindStringSubmatch(piece); m != nil {
				prepared[unquote(m[1])] = m[2]
				cands = append(cands, m[2])
			}
			if m := deallocRE.FindStringSubmatch(piece); m != nil {
				if strings.EqualFold(m[1], "all") {
					clear(prepared)
				} else {
					delete(prepared, unquote(m[1]))
				}
			}
			resolved := ""
			if m := executeSQ.FindStringSubmatch(piece); m != nil {
				resolved = m[1]
			} else if m := ctasExec.FindStringSubmatch(piece); m != nil {
				resolved = m[1]
			}
			skipKind := fetchRE.MatchString(piece)
			if resolved != "" {
				if txt, ok := prepared[unquote(resolved)]; ok {
					if m := prepareRE.FindStringSubmatch(txt); m != nil {
						txt = m[2]
					}
					cands = append(cands, txt)
					if executeSQ.MatchString(piece) {
						kindOf = txt
					}
				} else {
					skipKind = true // prepared by a Parse the log cannot show; the test checks it itself
				}
			}
			idx := -1
			for pass := 0; pass < 2 && idx < 0; pass++ {
				from := next
				if pass == 1 {
					from = 0
				}
				for i := from; i < len(evs); i++ {
					if used[i] || !executedTypes[evs[i].Type] {
						continue
					}
					if matchAny(evs[i].Data.Statement.SQL, cands) {
						idx = i
						break
					}
				}
			}
			if idx < 0 {
				t.Errorf("%s: PostgreSQL ran %q (backend %d) but no %s event of the session records it; the session's statement events:\n%s",
					p.Name, piece, p.PID, schemas.TypeQueryExecuted, listEvents(evs))
				continue
			}
			used[idx] = true
			next = idx + 1
			got := evs[idx].Data.Statement.Kind
			if skipKind {
				continue
			}
			cl := classify.Classify(kindOf)
			if len(cl) != 1 {
				continue
			}
			want := string(cl[0].Kind)
			switch {
			case got == "read" && want != "read":
				t.Errorf("%s: the event records %q as a read, but PostgreSQL ran it and it is a %s", p.Name, evs[idx].Data.Statement.SQL, want)
			case got != want:
				t.Errorf("%s: the event records %q with kind %s; what PostgreSQL ran (%q) is a %s", p.Name, evs[idx].Data.Statement.SQL, got, kindOf, want)
			}
		}
	}
	for _, nr := range p.NotRun {
		for _, r := range ranTexts {
			// A statement PostgreSQL ran is one piece of a logged string: it begins with the refused text (a
			// mere mention inside a literal or comment of another statement is not a run).
			if strings.HasPrefix(squash(r), squash(nr)) {
				t.Errorf("%s: the client was told %q was not run, but PostgreSQL's log shows it ran (%q)", p.Name, nr, r)
				break
			}
		}
	}
}

// norm is a statement's text with its constants replaced by PostgreSQL's normaliser and its whitespace
// collapsed, so that the audit's masked text and the logged text compare equal when only literals differ.
func norm(s string) string {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";"))
	if n, err := pg_query.Normalize(s); err == nil {
		return squash(n)
	}
	return squash(s)
}

func matchAny(sql string, cands []string) bool {
	n := norm(sql)
	for _, c := range cands {
		if norm(c) == n {
			return true
		}
	}
	return false
}

func listEvents(evs []stmtEvent) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s kind=%s outcome=%s tag=%q sql=%q\n", e.Type, e.Data.Statement.Kind, e.Data.Outcome, e.Data.CommandTag, e.Data.Statement.SQL)
	}
	return b.String()
}

// eventFor returns the executed or blocked events whose text contains every part.
func eventsFor(evs []stmtEvent, parts ...string) []stmtEvent {
	var out []stmtEvent
	for _, e := range evs {
		ok := true
		for _, p := range parts {
			if !strings.Contains(squash(e.Data.Statement.SQL), squash(p)) {
				ok = false
			}
		}
		if ok {
			out = append(out, e)
		}
	}
	return out
}
