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
