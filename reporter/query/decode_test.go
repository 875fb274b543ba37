package query

import (
	"context"
	"crypto/ed25519"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/schemas"
)

// decodeRow decodes a record selected as session's, as readRange does.
func decodeRow(record, session string) Record {
	var ar arena
	return decode([]byte(record), []byte(session), &ar)
}

// TestDecodeFastPathMatchesContract checks the tail-parsing fast path against schemas.HashEvent for every
// event type (the envelope it parses is the event's), and that an edited record, or a session column that
// disagrees with the record, never verifies.
func TestDecodeFastPathMatchesContract(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	b := scenario.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	g := b.Gateway("gw \"quoted\"\t1", key, time.Minute)
	s := g.Session(scenario.Identity{Subject: "s"})
	s.Query(scenario.Statement("SELECT '\\u2028' <b>&", "read", []string{"cards"}, true), "ok", 2, nil)
	s.Hold(scenario.Statement("DROP TABLE x", "ddl", nil, false), "approved", time.Second)
	b.Advance(2 * time.Minute)
	s.End()
	g.Stop()
	for _, e := range append(b.Events, b.Approvals...) {
		raw, _ := schemas.Marshal(e)
		r := decodeRow(string(raw), e.Session)
		if r.Recomputed != e.Hash {
			t.Fatalf("%s: recomputed %s, want %s", e.Type, r.Recomputed, e.Hash)
		}
		got := r.Event
		got.Data = nil
		want := e
		want.Data = nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: envelope %+v, want %+v", e.Type, got, want)
		}
		if DataTypes[e.Type] {
			if want, _ := schemas.Canonical(e.Data); string(r.Event.Data) != string(want) {
				t.Fatalf("%s: data %s, want %s", e.Type, r.Event.Data, want)
			}
		}
		edited := strings.Replace(string(raw), `"data":{`, `"data":{"x":1,`, 1)
		if r := decodeRow(edited, e.Session); r.Recomputed == e.Hash {
			t.Fatalf("%s: edited record verifies", e.Type)
		}
		if r := decodeRow(string(raw), e.Session+"-other"); r.Recomputed == e.Hash || r.Event.Session != e.Session+"-other" {
			t.Fatalf("%s: session column changed without the record: recomputed %s on session %s, want an edit on the column's session", e.Type, r.Recomputed, r.Event.Session)
		}
		// A data member that looks like the envelope's tail does not fool the tail search.
		nested := strings.Replace(string(raw), `"data":{`, `"data":{"a":{"gateway":{"instance":"x"}},`, 1)
		if r := decodeRow(nested, e.Session); r.Recomputed == e.Hash || r.Event.ID != e.ID || r.Event.Seq != e.Seq {
			t.Fatalf("%s: record with a nested gateway member: recomputed %s, envelope %+v", e.Type, r.Recomputed, r.Event)
		}
	}
}

// FuzzDecode: whatever the record, decode either verifies it with the envelope schemas.Parse reads from
// it, or does not verify it.
func FuzzDecode(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(nil)
	b := scenario.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	g := b.Gateway("gw-1", key, time.Minute)
	s := g.Session(scenario.Identity{Subject: "s"})
	s.Query(scenario.Statement("SELECT 1", "read", nil, false), "ok", 1, nil)
	for _, e := range b.Events {
		raw, _ := schemas.Marshal(e)
		f.Add(string(raw), e.Session)
	}
	f.Fuzz(func(t *testing.T, record, session string) {
		r := decodeRow(record, session)
		if r.Recomputed != r.Event.Hash {
			return
		}
		pe, err := schemas.Parse([]byte(record))
		if err != nil {
			t.Fatalf("verified an unparseable record %q", record)
		}
		want, err := schemas.HashEvent(pe)
		got := r.Event
		got.Data, pe.Data = nil, nil
		if err != nil || want != r.Recomputed || !reflect.DeepEqual(got, pe) {
			t.Fatalf("record %q verified as %+v (hash %s), schemas reads %+v (hash %s, %v)", record, got, r.Recomputed, pe, want, err)
		}
	})
}

func TestRender(t *testing.T) {
	p := Period{From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	got := p.RenderMargin("{from} {to} {from_us} {to_us} {from_margin} {to_margin}", time.Minute)
	if got != "1793491200 1796083200 1793491200000000 1796083200000000 1793491140 1796083260" {
		t.Fatalf("render: %s", got)
	}
	for _, pop := range Populations {
		if strings.Contains(p.Render(pop.SQL), "{") && !strings.Contains(pop.SQL, "->") {
			t.Errorf("%s: placeholder left: %s", pop.File, p.Render(pop.SQL))
		}
	}
}

func TestUnreachableClickHouseIsNamed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := Open(ctx, Config{Addr: "127.0.0.1:1", Database: "pangate", User: "reporter", Timeout: time.Second})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("err %v, want ErrUnreachable naming the address", err)
	}
	if err := (Config{}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("empty config: %v", err)
	}
}
