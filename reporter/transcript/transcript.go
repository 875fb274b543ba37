// Package transcript renders one session as it happened, from its raw events: login and identity, the
// credential issued, each statement with its bound parameters (masked), timing, outcome (for a statement
// recorded ahead, the outcome its query.completed recorded: failures with SQLSTATE, statements never run)
// and masked result sample, holds and their
// decisions, the credential revoked, and whether the session's hash chain verifies. As text for people and
// as JSON for tools.
package transcript

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pangate/pangate/schemas"
)

// ErrNoSession is returned when the store has no event of the session.
var ErrNoSession = fmt.Errorf("transcript: no events for that session")

// Entry is one event of the session.
type Entry struct {
	Time    string          `json:"time"`
	Seq     uint64          `json:"seq"`
	Type    string          `json:"type"`
	EventID string          `json:"event_id"`
	Summary string          `json:"summary"`
	Lines   []string        `json:"lines,omitempty"`
	Data    json.RawMessage `json:"data"`
}

// Chain is the verification result of the session's hash chain.
type Chain struct {
	OK       bool     `json:"ok"`
	Events   int      `json:"events"`
	Head     string   `json:"head"` // hash of the last event
	Problems []string `json:"problems,omitempty"`
}

// Transcript is a whole session.
type Transcript struct {
	Session  string  `json:"session"`
	Gateway  string  `json:"gateway"`
	Subject  string  `json:"subject,omitempty"`
	Issuer   string  `json:"issuer,omitempty"`
	Role     string  `json:"role,omitempty"`
	Started  string  `json:"started"`
	Ended    string  `json:"ended,omitempty"`
	Entries  []Entry `json:"entries"`
	Chain    Chain   `json:"chain"`
	Approval []Entry `json:"approval_records,omitempty"` // approvals-topic records of the session's holds
}

// Build makes the transcript of one session from its events in log order, and the approvals-topic records
// (unchained) of its approvals in any order.
func Build(events []schemas.Event, approvals []schemas.Event) (*Transcript, error) {
	if len(events) == 0 {
		return nil, ErrNoSession
	}
	t := &Transcript{Session: events[0].Session, Gateway: events[0].Gateway.Instance, Started: events[0].Time, Entries: []Entry{}}
	byApproval := map[string][]schemas.Event{}
	sort.SliceStable(approvals, func(i, j int) bool { return approvals[i].Time < approvals[j].Time })
	for _, a := range approvals {
		byApproval[a.Session] = append(byApproval[a.Session], a)
	}
	done := completions(events)
	for _, e := range events {
		en := Entry{Time: e.Time, Seq: e.Seq, Type: e.Type, EventID: e.ID, Data: e.Data}
		describe(t, &en, e, byApproval, done)
		t.Entries = append(t.Entries, en)
	}
	t.Ended = events[len(events)-1].Time
	errs := schemas.CheckSession(events)
	t.Chain = Chain{OK: len(errs) == 0, Events: len(events), Head: events[len(events)-1].Hash}
	for _, err := range errs {
		t.Chain.Problems = append(t.Chain.Problems, err.Error())
	}
	for _, a := range approvals {
		en := Entry{Time: a.Time, Seq: a.Seq, Type: a.Type, EventID: a.ID, Data: a.Data, Summary: "approvals-topic record of " + a.Session}
		if err := schemas.VerifyEvent(a); err != nil {
			t.Chain.OK = false
			t.Chain.Problems = append(t.Chain.Problems, "approval record "+a.ID+": "+err.Error())
		}
		t.Approval = append(t.Approval, en)
	}
	return t, nil
}

// completion is a query.completed with its own seq.
type completion struct {
	seq uint64
	d   schemas.QueryCompleted
}

// completions maps an intent's seq to the query.completed that names it.
func completions(events []schemas.Event) map[uint64]completion {
	out := map[uint64]completion{}
	for _, e := range events {
		if e.Type != schemas.TypeQueryCompleted {
			continue
		}
		var d schemas.QueryCompleted
		if e.Decode(&d) == nil {
			if _, dup := out[d.Intent]; !dup {
				out[d.Intent] = completion{e.Seq, d}
			}
		}
	}
	return out
}

// outcomeText says how a statement ended, in words an assessor reads (PCI DSS 10.2.2 success or failure).
func outcomeText(outcome, sqlstate, tag string, rows, durUS int64) string {
	switch outcome {
	case "ok", "streamed":
		s := "ok"
		if outcome == "streamed" {
			s = "ok (streamed)"
		}
		if tag != "" {
			s += ", " + tag
		}
		return fmt.Sprintf("%s, %d rows, %.3f ms", s, rows, float64(durUS)/1000)
	case "error":
		return fmt.Sprintf("FAILED, SQLSTATE %s, %.3f ms", sqlstate, float64(durUS)/1000)
	case "skipped":
		return "NOT RUN (skipped: an earlier statement of its batch failed or the session ended first)"
	}
	return outcome + sqlstate2(sqlstate)
}

func sqlstate2(s string) string {
	if s == "" {
		return ""
	}
	return ", SQLSTATE " + s
}

// params renders bound parameters (masked by the gateway) as $1=…, $2=….
func params(ps []string) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("$%d=%s", i+1, p)
	}
	return strings.Join(parts, ", ")
}

// result adds the masked counts and the sample of a result.
func result(add func(string, ...any), masked []schemas.ColumnCount, shape string, sample *schemas.Sample) {
	for _, m := range masked {
		add("masked %d value(s) in %s (%s)", m.Count, m.Column, shape)
	}
	if sample != nil {
		add("sample columns: %s", strings.Join(sample.Columns, " | "))
		for _, r := range sample.Rows {
			add("  %s", strings.Join(r, " | "))
		}
		if sample.Truncated {
			add("  … (sample truncated)")
		}
	}
}

func describe(t *Transcript, en *Entry, e schemas.Event, byApproval map[string][]schemas.Event, done map[uint64]completion) {
	add := func(format string, args ...any) { en.Lines = append(en.Lines, fmt.Sprintf(format, args...)) }
	switch e.Type {
	case schemas.TypeAuthSucceeded:
		var d schemas.AuthSucceeded
		if e.Decode(&d) == nil {
			t.Subject, t.Issuer = d.Identity.Subject, d.Identity.Issuer
			en.Summary = fmt.Sprintf("login: %s (issuer %s) from %s, tls=%v, target %s, requested role %s", d.Identity.Subject, d.Identity.Issuer, d.Client.Addr, d.Client.TLS, d.Target, d.RequestedRole)
			if len(d.Identity.Claims) > 0 {
				add("workload claims: %s", claims(d.Identity.Claims))
			}
			if d.Identity.Human {
				add("HUMAN using a workload account (PCI DSS 10.2.1.2)")
			}
		}
	case schemas.TypeAuthFailed:
		var d schemas.AuthFailed
		if e.Decode(&d) == nil {
			en.Summary = fmt.Sprintf("LOGIN REFUSED: %s (%s), sqlstate %s, from %s, user %s, claimed subject %q", d.Reason, d.Message, d.SQLState, d.Client.Addr, d.User, d.Subject)
		}
	case schemas.TypeCredentialIssued:
		var d schemas.CredentialIssued
		if e.Decode(&d) == nil {
			t.Role = d.Role
			en.Summary = fmt.Sprintf("credential issued: JIT role %s on %s, grants [%s], VALID UNTIL %s (ttl %d ms)", d.Role, d.Target, strings.Join(d.Granted, ", "), d.ValidUntil, d.TTLMS)
		}
	case schemas.TypeSessionStarted:
		var d schemas.SessionStarted
		if e.Decode(&d) == nil {
			t.Role = d.Role
			en.Summary = fmt.Sprintf("session started as %s on %s/%s, mask %s", d.Role, d.Target, d.Database, d.MaskShape)
		}
	case schemas.TypeQueryExecuted:
		var d schemas.QueryExecuted
		if e.Decode(&d) == nil {
			if d.Outcome == "forwarded" {
				// Recorded ahead: the outcome is the query.completed naming this seq (contract version 2).
				en.Summary = fmt.Sprintf("statement #%d [%s] %s → sent to the database (recorded before it ran)", d.Statement.Index, d.Statement.Kind, d.Statement.SQL)
			} else {
				en.Summary = fmt.Sprintf("statement #%d [%s] %s → %s%s, %d rows, %.3f ms", d.Statement.Index, d.Statement.Kind, d.Statement.SQL, d.Outcome, sqlstate(d.SQLState), d.Rows, float64(d.DurationUS)/1000)
			}
			if len(d.Statement.Params) > 0 {
				add("parameters (masked): %s", params(d.Statement.Params))
			}
			if c := contextText(d.Statement.Context); c != "" {
				add("context: %s", c)
			}
			if len(d.Statement.Tables) > 0 {
				add("tables: %s%s", strings.Join(d.Statement.Tables, ", "), cardholder(d.Statement.Cardholder))
			}
			if d.Outcome == "forwarded" {
				if c, ok := done[e.Seq]; ok {
					add("outcome (#%d): %s", c.seq, outcomeText(c.d.Outcome, c.d.SQLState, c.d.CommandTag, c.d.Rows, c.d.DurationUS))
				} else {
					add("no outcome recorded (no query.completed names #%d: a gateway older than contract version 2, or the session ended before PostgreSQL answered)", e.Seq)
				}
			}
			if d.Error != "" {
				add("error: %s", d.Error)
			}
			result(add, d.Masked, d.MaskShape, d.Sample)
			if d.Approval != nil {
				add("ran under approval %s: %s by %s %s", d.Approval.ID, d.Approval.Decision, d.Approval.By, d.Approval.ByEmail)
			}
		}
	case schemas.TypeQueryCompleted:
		var d schemas.QueryCompleted
		if e.Decode(&d) == nil {
			en.Summary = fmt.Sprintf("outcome of statement #%d [%s] (#%d): %s", d.Index, d.Kind, d.Intent, outcomeText(d.Outcome, d.SQLState, d.CommandTag, d.Rows, d.DurationUS))
			if d.Error != "" {
				add("error: %s", d.Error)
			}
			result(add, d.Masked, d.MaskShape, d.Sample)
		}
	case schemas.TypeQueryBlocked:
		var d schemas.QueryBlocked
		if e.Decode(&d) == nil {
			en.Summary = fmt.Sprintf("BLOCKED statement #%d [%s] %s: %s (%s), sqlstate %s", d.Statement.Index, d.Statement.Kind, d.Statement.SQL, d.Reason, d.Message, d.SQLState)
			if c := contextText(d.Statement.Context); c != "" {
				add("context: %s", c)
			}
			if len(d.Statement.Params) > 0 {
				add("parameters (masked): %s", params(d.Statement.Params))
			}
			if d.Approval != nil {
				add("approval %s: %s %s", d.Approval.ID, d.Approval.Decision, d.Approval.By)
			}
		}
	case schemas.TypeApprovalRequested:
		var d schemas.ApprovalRequested
		if e.Decode(&d) == nil {
			en.Summary = fmt.Sprintf("HELD for approval %s: rule %s (%s), expires %s: %s", d.ApprovalID, d.Rule, d.Reason, d.Expires, d.Statement.SQL)
			for _, a := range byApproval[d.ApprovalID] {
				switch a.Type {
				case schemas.TypeApprovalNotified:
					var n schemas.ApprovalNotified
					if a.Decode(&n) == nil {
						add("%s notified approvers in %s", a.Time, n.Channel)
					}
				case schemas.TypeApprovalDecided:
					var n schemas.ApprovalDecided
					if a.Decode(&n) == nil {
						add("%s DECISION %s by %s %s (%s) after %d ms: %s", a.Time, n.Decision, n.By, n.ByName, n.ByEmail, n.LatencyMS, n.Reason)
					}
				case schemas.TypeApprovalExpired:
					add("%s EXPIRED undecided", a.Time)
				}
			}
		}
	case schemas.TypeCredentialRevoked:
		var d schemas.CredentialRevoked
		if e.Decode(&d) == nil {
			en.Summary = fmt.Sprintf("credential revoked: %s (%s)", d.Role, d.Reason)
			if d.Error != "" {
				add("DROP failed: %s", d.Error)
			}
		}
	case schemas.TypeSessionEnded:
		var d schemas.SessionEnded
		if e.Decode(&d) == nil {
			en.Summary = fmt.Sprintf("session ended: %s, %d statements, %d blocked, %.3f s", d.Reason, d.Statements, d.Blocked, float64(d.DurationUS)/1e6)
		}
	case schemas.TypeGatewayCheckpoint:
		var d schemas.Checkpoint
		if e.Decode(&d) == nil {
			en.Summary = fmt.Sprintf("checkpoint %d of %s: %d session head(s), %s to %s", d.Number, d.Instance, len(d.Sessions), d.From, d.To)
		}
	}
	if en.Summary == "" {
		en.Summary = e.Type
	}
}

func sqlstate(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func cardholder(b bool) string {
	if b {
		return " [cardholder data]"
	}
	return ""
}

func claims(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ", ")
}

// ApprovalIDs returns the approvals a session's events name.
func ApprovalIDs(events []schemas.Event) []string {
	var out []string
	for _, e := range events {
		if e.Type == schemas.TypeApprovalRequested {
			var d schemas.ApprovalRequested
			if e.Decode(&d) == nil {
				out = append(out, d.ApprovalID)
			}
		}
	}
	return out
}

// Text renders the transcript for people.
func (t *Transcript) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Session %s on gateway %s\n", t.Session, t.Gateway)
	if t.Subject != "" {
		fmt.Fprintf(&b, "Identity: %s (issuer %s), JIT role %s\n", t.Subject, t.Issuer, t.Role)
	}
	fmt.Fprintf(&b, "From %s to %s\n\n", t.Started, t.Ended)
	for _, e := range t.Entries {
		fmt.Fprintf(&b, "%s  #%-4d %s\n", e.Time, e.Seq, e.Summary)
		for _, l := range e.Lines {
			fmt.Fprintf(&b, "%31s %s\n", "", l)
		}
	}
	b.WriteString("\nHash chain: ")
	if t.Chain.OK {
		fmt.Fprintf(&b, "VERIFIED, %d events, head %s\n", t.Chain.Events, t.Chain.Head)
	} else {
		fmt.Fprintf(&b, "FAILED (%d problem(s))\n", len(t.Chain.Problems))
		for _, p := range t.Chain.Problems {
			fmt.Fprintf(&b, "  - %s\n", p)
		}
	}
	return b.String()
}

// JSON renders the transcript for tools.
func (t *Transcript) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
