package seed

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pangate/pangate/indexer/rows"
	"github.com/pangate/pangate/internal/auditstore"
	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/schemas"
)

// rowsOf turns a block's columns back into rows of table t.
func rowsOf(b *Block, t *rows.Table) [][]any {
	cs := b.Cols[rows.TableIndex(t)]
	_, n := cs[0].Slice()
	out := make([][]any, n)
	for i := range out {
		out[i] = make([]any, len(cs))
	}
	for j := range cs {
		s, _ := cs[j].Slice()
		v := reflect.ValueOf(s)
		for i := 0; i < n; i++ {
			out[i][j] = v.Index(i).Interface()
		}
	}
	return out
}

func generate(t *testing.T, cfg Config) []*Block {
	t.Helper()
	var mu sync.Mutex
	var blocks []*Block
	res, err := Generate(context.Background(), cfg, 1, func(_ context.Context, b *Block) error {
		mu.Lock()
		blocks = append(blocks, b)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events < int64(cfg.Events) {
		t.Fatalf("asked for %d events, got %d", cfg.Events, res.Events)
	}
	return blocks
}

func testConfig(events int) Config {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	return Config{Events: events, From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Days: 3, Gateways: 2,
		Interval: 10 * time.Minute, Key: key, Prefix: "t-", BlockEvents: 1000}
}

// TestTemplatesMatchMapper: every seeded record passes the JSON Schema, and the rows written for it are
// exactly what the indexer's rows.Map makes of the record (ingested_us aside, which is the write time).
func TestTemplatesMatchMapper(t *testing.T) {
	blocks := generate(t, testConfig(5000))
	types := map[string]int{}
	for _, b := range blocks {
		evs := rowsOf(b, &auditstore.Events)
		want := map[string][][]any{} // table/event_id → rows
		for _, tbl := range rows.All {
			if tbl == &auditstore.Events {
				continue
			}
			for _, r := range rowsOf(b, tbl) {
				k := tbl.Name + "/" + r[0].(string)
				want[k] = append(want[k], r)
			}
		}
		for _, ev := range evs {
			rec := []byte(ev[12].(string))
			if err := schemas.Validate(rec); err != nil {
				t.Fatalf("record fails the JSON Schema: %v\n%s", err, rec)
			}
			ingested := ev[18].(uint64)
			m := &rows.Mapper{Validate: schemas.Validate, Now: func() time.Time { return time.UnixMicro(int64(ingested)) }}
			got := m.Map(rows.Record{Topic: ev[13].(string), Partition: ev[14].(int32), Offset: ev[15].(int64), Key: []byte(ev[16].(string)),
				Value: rec, Timestamp: time.UnixMicro(int64(ev[17].(uint64)))})
			if got[0].Table != &auditstore.Events {
				t.Fatalf("record maps to %s: %v\n%s", got[0].Table.Name, got[0].Values, rec)
			}
			if !reflect.DeepEqual(got[0].Values, ev) {
				t.Fatalf("events row differs:\nmapper %v\nseeded %v", got[0].Values, ev)
			}
			types[ev[4].(string)]++
			seen := map[string]int{}
			for _, r := range got[1:] {
				k := r.Table.Name + "/" + r.Values[0].(string)
				i := seen[k]
				seen[k]++
				if i >= len(want[k]) {
					t.Fatalf("%s: mapper makes a row the seeder did not write: %v", k, r.Values)
				}
				if !reflect.DeepEqual(r.Values, want[k][i]) {
					t.Fatalf("%s row differs:\nmapper %#v\nseeded %#v", k, r.Values, want[k][i])
				}
			}
			for k, n := range seen {
				if n != len(want[k]) {
					t.Fatalf("%s: seeder wrote %d rows, mapper makes %d", k, len(want[k]), n)
				}
			}
		}
	}
	for _, typ := range []string{schemas.TypeQueryExecuted, schemas.TypeQueryCompleted, schemas.TypeQueryBlocked, schemas.TypeApprovalRequested,
		schemas.TypeApprovalDecided, schemas.TypeApprovalExpired, schemas.TypeAuthFailed, schemas.TypeGatewayCheckpoint, schemas.TypeGatewayStopped} {
		if types[typ] == 0 {
			t.Errorf("no %s event in the mix %v", typ, types)
		}
	}
}

// TestIntegrityVerifies: the seeded events, fed to the reporter's integrity checker grouped by session in
// log order, verify with no failure.
func TestIntegrityVerifies(t *testing.T) {
	cfg := testConfig(20000)
	blocks := generate(t, cfg)
	var all, cps []schemas.Event
	order := map[string][2]int64{}
	for _, b := range blocks {
		for _, ev := range rowsOf(b, &auditstore.Events) {
			e, err := schemas.Parse([]byte(ev[12].(string)))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, e)
			order[e.ID] = [2]int64{int64(ev[14].(int32)), ev[15].(int64)}
			if e.Type == schemas.TypeGatewayCheckpoint {
				cps = append(cps, e)
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Session != all[j].Session {
			return all[i].Session < all[j].Session
		}
		return all[i].Seq < all[j].Seq
	})
	pub := cfg.Key.Public().(ed25519.PublicKey)
	c, err := integrity.New(integrity.Config{From: cfg.From, To: cfg.From.AddDate(0, 0, cfg.Days),
		Keys: map[string]ed25519.PublicKey{schemas.KeyID(pub): pub}, Now: func() time.Time { return cfg.From.AddDate(0, 0, 40) }}, cps)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if err := c.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	rep := c.Finish()
	if rep.Failures != 0 || rep.Events != int64(len(all)) {
		for _, f := range rep.Findings[:min(5, len(rep.Findings))] {
			t.Log(fmt.Sprintf("%+v", f))
		}
		t.Fatalf("integrity: %d failures, %d warnings over %d events (report counted %d)", rep.Failures, rep.Warnings, len(all), rep.Events)
	}
	if len(rep.Runs) != cfg.Gateways || !rep.Runs[0].Verified {
		t.Fatalf("runs %+v: want %d runs with verified signatures", rep.Runs, cfg.Gateways)
	}
	t.Logf("%d events, %d sessions, %d runs, %d warnings", rep.Events, rep.Sessions, len(rep.Runs), rep.Warnings)
}

func BenchmarkGenerate(b *testing.B) {
	cfg := testConfig(1000000)
	cfg.Days = 30
	cfg.Interval = time.Minute
	cfg.Gateways = 4
	cfg.BlockEvents = 50000
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Generate(context.Background(), cfg, 1, func(context.Context, *Block) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.Events)/res.Elapsed.Seconds(), "events/s")
	}
}
