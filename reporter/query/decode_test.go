package query

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/schemas"
)

func rowOf(e schemas.Event, record string) rawRow {
	t, _ := e.Timestamp()
	return rawRow{record: record, id: e.ID, typ: e.Type, session: e.Session, prev: e.Prev, hash: e.Hash, inst: e.Gateway.Instance,
		ver: e.Gateway.Version, seq: e.Seq, timeUS: uint64(t.UnixMicro()), v: uint8(e.V)}
}

// TestDecodeFastPathMatchesContract checks the column-based fast path against schemas.HashEvent for every
// event type, and that an edited record, or columns that disagree with the record, never verify.
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
		r, _ := decode(ptr(rowOf(e, string(raw))), nil)
		if r.Recomputed != e.Hash {
			t.Fatalf("%s: recomputed %s, want %s", e.Type, r.Recomputed, e.Hash)
		}
		if want, _ := schemas.Canonical(e.Data); string(r.Event.Data) != string(want) {
			t.Fatalf("%s: data %s, want %s", e.Type, r.Event.Data, want)
		}
		edited := strings.Replace(string(raw), `"data":{`, `"data":{"x":1,`, 1)
		if r, _ := decode(ptr(rowOf(e, edited)), nil); r.Recomputed == e.Hash {
			t.Fatalf("%s: edited record verifies", e.Type)
		}
		moved := rowOf(e, string(raw))
		moved.seq++
		if r, _ := decode(&moved, nil); r.Recomputed == e.Hash {
			t.Fatalf("%s: seq column changed without the record, still verifies", e.Type)
		}
	}
}

func ptr[T any](v T) *T { return &v }

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
