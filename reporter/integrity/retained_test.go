package integrity_test

import (
	"crypto/ed25519"
	"errors"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/schemas"
)

// manySessions is one gateway run with n closed, checkpointed sessions, and its events grouped by session
// in ascending session order (what query.StreamRecords delivers).
func manySessions(t *testing.T, n int) (ed25519.PublicKey, []schemas.Event) {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	b := scenario.New(t0)
	gw := b.Gateway("gw-1", key, time.Minute)
	for i := 0; i < n; i++ {
		s := gw.Session(scenario.Identity{Subject: "repo:acme/etl"})
		s.Query(scenario.Statement("SELECT 1", "read", nil, false), "ok", 1, nil)
		b.Advance(5 * time.Second)
		s.End()
	}
	b.Advance(2 * time.Minute)
	gw.Stop()
	evs := make([]schemas.Event, 0, len(b.Events))
	for _, e := range b.Events {
		if c, err := schemas.Canonical(e.Data); err == nil {
			e.Data = c
		}
		evs = append(evs, e)
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Session < evs[j].Session })
	return pub, evs
}

func listed(evs []schemas.Event) func(string) bool {
	ids := map[string]bool{}
	for _, e := range evs {
		ids[e.Session] = true
	}
	return func(id string) bool { return ids[id] }
}

// streamSorted runs a Listed checker over evs and returns its report and the state it retained once every
// event was fed (before Finish).
func streamSorted(t *testing.T, pub ed25519.PublicKey, evs []schemas.Event) (*integrity.Report, int) {
	t.Helper()
	c, err := integrity.New(integrity.Config{From: t0, To: t0.Add(24 * time.Hour), Keys: map[string]ed25519.PublicKey{schemas.KeyID(pub): pub},
		Now: func() time.Time { return t0.Add(24 * time.Hour) }, Listed: listed(evs)}, scenario.Checkpoints(evs))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if err := c.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	retained := c.Retained()
	return c.Finish(), retained
}

// TestRetainedStateDoesNotGrowWithClosedSessions: issue 16.4, bounded memory regardless of the period's
// size. With Config.Listed a closed, checkpointed session leaves nothing in the checker: the state retained
// after 20 sessions and after 400 is the same.
func TestRetainedStateDoesNotGrowWithClosedSessions(t *testing.T) {
	var retained []int
	for _, n := range []int{20, 400} {
		pub, evs := manySessions(t, n)
		rep, r := streamSorted(t, pub, evs)
		if !rep.OK || rep.Sessions != n+1 {
			t.Fatalf("%d sessions: ok=%v, %d chains checked (want %d): %+v", n, rep.OK, rep.Sessions, n+1, rep.Findings)
		}
		retained = append(retained, r)
	}
	if retained[0] != retained[1] {
		t.Fatalf("retained state grows with closed sessions: %d entries after 20 sessions, %d after 400", retained[0], retained[1])
	}
}

// TestListedReportsLikeUnlisted: the Listed mode finds what the default mode finds, including a session a
// checkpoint lists that the store lost (its heads are what is left at Finish) and an edited event.
func TestListedReportsLikeUnlisted(t *testing.T) {
	pub, evs := manySessions(t, 30)
	var cut []schemas.Event
	victim, edited := "", ""
	for _, e := range evs {
		if e.Type == schemas.TypeSessionStarted && victim == "" {
			victim = e.Session
		}
	}
	for _, e := range evs {
		if e.Session == victim {
			continue // deleted whole
		}
		if e.Type == schemas.TypeQueryExecuted && edited == "" {
			edited = e.Session
			e.Data = []byte(`{"tampered":true}`)
		}
		cut = append(cut, e)
	}
	keys := map[string]ed25519.PublicKey{schemas.KeyID(pub): pub}
	plain, err := integrity.New(integrity.Config{From: t0, To: t0.Add(24 * time.Hour), Keys: keys, Now: func() time.Time { return t0.Add(24 * time.Hour) }}, scenario.Checkpoints(evs))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cut {
		if err := plain.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	want := plain.Finish()
	got, _ := streamSorted(t, pub, cut)
	if want.OK || !reflect.DeepEqual(got, want) {
		t.Fatalf("listed report differs from the default one (or verifies):\n got %+v\nwant %+v", got.Findings, want.Findings)
	}
	kinds := map[string]bool{}
	for _, f := range got.Findings {
		kinds[f.Kind] = true
	}
	if !kinds[integrity.KindSessionMissing] || !kinds[integrity.KindEdited] {
		t.Fatalf("findings %+v: want %s (session %s) and %s (session %s)", got.Findings, integrity.KindSessionMissing, victim, integrity.KindEdited, edited)
	}
}

// TestListedRejectsUnsortedSessions: with Config.Listed the checker keeps no set of the sessions seen, so
// it insists on ascending order and says so instead of missing a session that comes twice.
func TestListedRejectsUnsortedSessions(t *testing.T) {
	pub, evs := manySessions(t, 3)
	c, err := integrity.New(integrity.Config{From: t0, To: t0.Add(24 * time.Hour), Keys: map[string]ed25519.PublicKey{schemas.KeyID(pub): pub},
		Listed: listed(evs)}, scenario.Checkpoints(evs))
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1].Session
	var err2 error
	for _, e := range evs {
		if e.Session == last {
			break
		}
		if err2 = c.Add(e); err2 != nil {
			t.Fatal(err2)
		}
	}
	if err := c.Add(evs[0]); !errors.Is(err, integrity.ErrOrder) {
		t.Fatalf("a session after a later one: %v, want ErrOrder", err)
	}
}

// TestEventTimeMatchesSchemas: the digit-by-digit parser reads what schemas.ParseTime reads and refuses
// what it refuses.
func TestEventTimeMatchesSchemas(t *testing.T) {
	for _, s := range []string{"2026-11-02T09:00:00.000000Z", "2026-12-31T23:59:59.999999Z", "2028-02-29T00:00:00.000001Z",
		"2026-02-31T00:00:00.000000Z", "2026-13-01T00:00:00.000000Z", "2026-11-02T24:00:00.000000Z", "2026-11-02T09:00:00.00000xZ",
		"2026-11-02T09:00:00Z", "2026-11-02 09:00:00.000000Z", ""} {
		want, werr := schemas.ParseTime(s)
		got, gerr := integrity.EventTime(s)
		if (werr == nil) != (gerr == nil) || !got.Equal(want) {
			t.Errorf("%q: got %v, %v; schemas.ParseTime %v, %v", s, got, gerr, want, werr)
		}
	}
}
