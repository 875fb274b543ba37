package scenario

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/pangate/pangate/schemas"
)

// TestEventsValidate keeps the scenario honest: every event it builds passes the contract's JSON Schema
// and hash check, as the indexer requires before it stores anything.
func TestEventsValidate(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	b := New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	g := b.Gateway("gw-1", key, time.Minute)
	s := g.Session(Identity{Subject: "repo:acme/etl", Human: true})
	s.Query(Statement("SELECT pan FROM cards", "read", []string{"cards"}, true), "ok", 2, nil)
	s.Query(Statement("SELECT x", "read", nil, false), "error", 0, nil)
	s.Blocked(Statement("COPY cards TO STDOUT", "copy", []string{"cards"}, true), "policy_deny", nil)
	s.Hold(Statement("DROP TABLE t", "ddl", []string{"t"}, false), "approved", time.Second)
	s.Hold(Statement("DROP TABLE u", "ddl", []string{"u"}, false), "denied", time.Second)
	s.Hold(Statement("DROP TABLE v", "ddl", []string{"v"}, false), "expired", time.Second)
	g.AuthFailed("x", "expired")
	b.Advance(2 * time.Minute)
	s.End()
	g.Stop()
	for _, e := range append(b.Events, b.Approvals...) {
		raw, err := schemas.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas.Validate(raw); err != nil {
			t.Errorf("%s: %v", e.Type, err)
		}
		if err := schemas.VerifyEvent(e); err != nil {
			t.Errorf("%s: %v", e.Type, err)
		}
	}
}
