package transcript_test

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/reporter/transcript"
	"github.com/pangate/pangate/schemas"
)

func TestTranscriptTellsTheSession(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	b := scenario.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	gw := b.Gateway("gw-1", key, time.Minute)
	s := gw.Session(scenario.Identity{Subject: "repo:acme/etl"})
	s.Query(scenario.Statement("SELECT pan FROM cards", "read", []string{"cards"}, true), "ok", 2, nil)
	s.Hold(scenario.Statement("DROP TABLE cards", "ddl", []string{"cards"}, true), "denied", 30*time.Second)
	s.End()
	var evs []schemas.Event
	for _, e := range b.Events {
		if e.Session == s.ID {
			evs = append(evs, e)
		}
	}
	tr, err := transcript.Build(evs, b.Approvals)
	if err != nil {
		t.Fatal(err)
	}
	text := tr.Text()
	for _, want := range []string{"login: repo:acme/etl", "credential issued: JIT role " + s.Role, "SELECT pan FROM cards → ok, 2 rows",
		"411111******1111", "HELD for approval", "DECISION denied by U042", "BLOCKED statement #1", "credential revoked", "Hash chain: VERIFIED"} {
		if !strings.Contains(text, want) {
			t.Errorf("transcript lacks %q:\n%s", want, text)
		}
	}
	js, err := tr.JSON()
	if err != nil || !json.Valid(js) {
		t.Fatalf("JSON: %v", err)
	}
	// An edited event makes the chain fail in the transcript.
	evs[3].Data = json.RawMessage(strings.Replace(string(evs[3].Data), `"rows":2`, `"rows":1`, 1))
	tr, _ = transcript.Build(evs, nil)
	if tr.Chain.OK || !strings.Contains(tr.Text(), "FAILED") {
		t.Fatalf("edited event not reported:\n%s", tr.Text())
	}
	if _, err := transcript.Build(nil, nil); err != transcript.ErrNoSession {
		t.Fatalf("empty session: %v", err)
	}
}

// TestTranscriptShowsOutcomes: a statement recorded ahead shows the outcome its query.completed recorded
// (rows and masked counts of an export, a failure with its SQLSTATE, a statement never run), one without
// a completion says so, and bound parameters (masked) appear with their statement (issue 15.6).
func TestTranscriptShowsOutcomes(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	b := scenario.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	s := b.Gateway("gw-1", key, time.Minute).Session(scenario.Identity{Subject: "repo:acme/etl"})
	lookup := scenario.Statement("SELECT id FROM cards WHERE pan = $1", "read", []string{"cards"}, true)
	lookup.Params = []string{"411111******1111"}
	s.Query(lookup, "ok", 0, nil)
	s.Export("COPY (SELECT id, pan FROM cards) TO STDOUT", 20, 18, nil)
	s.Query(scenario.Statement("UPDATE cards SET note = 'x'", "write", []string{"cards"}, true), "error", 0, nil)
	s.Query(scenario.Statement("DELETE FROM cards WHERE id = 1", "write", []string{"cards"}, true), "skipped", 0, nil)
	s.Ahead(scenario.Statement("DROP TABLE tmp", "ddl", []string{"tmp"}, false), nil, nil)
	s.End()
	var evs []schemas.Event
	for _, e := range b.Events {
		if e.Session == s.ID {
			evs = append(evs, e)
		}
	}
	tr, err := transcript.Build(evs, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := tr.Text()
	for _, want := range []string{
		"parameters (masked): $1=411111******1111",
		"statement #1 [copy] COPY (SELECT id, pan FROM cards) TO STDOUT → sent to the database (recorded before it ran)",
		"outcome of statement #1 [copy] (#4): ok, COPY 20, 20 rows",
		"masked 18 value(s) in pan (first6last4)",
		"outcome (#5): ok, COPY 20, 20 rows",
		"outcome of statement #2 [write] (#6): FAILED, SQLSTATE 42501",
		"error: permission denied",
		"outcome of statement #3 [write] (#8): NOT RUN (skipped",
		"no outcome recorded (no query.completed names #10",
		"Hash chain: VERIFIED",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("transcript lacks %q:\n%s", want, text)
		}
	}
}
