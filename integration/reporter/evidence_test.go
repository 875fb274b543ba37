package reporter_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestRetentionPartitionsSpanningMonths: issue 15.4, first_day/last_day were 1970-01-01 for every
// partition (min(min_date) of system.parts over a DateTime partition key). A store with events in three
// months must report each month's first and last day.
func TestRetentionPartitionsSpanningMonths(t *testing.T) {
	t.Parallel()
	en := newEnvWith(t, false)
	batch, err := en.ch.PrepareBatch(context.Background(), "INSERT INTO events (event_id, time, time_us, event_type, session)")
	if err != nil {
		t.Fatal(err)
	}
	for i, ts := range []time.Time{
		time.Date(2026, 1, 3, 10, 0, 0, 0, time.UTC), time.Date(2026, 1, 29, 23, 0, 0, 0, time.UTC),
		time.Date(2026, 2, 14, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 1, 0, 0, 1, 0, time.UTC), time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC),
	} {
		if err := batch.Append(fmt.Sprintf("e%d", i), ts, uint64(ts.UnixMicro()), "gateway.checkpoint", "s"); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	ret, err := en.q.Retention(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, p := range ret.Partitions {
		got += fmt.Sprintf("%s:%s..%s/%s ", p.Partition, p.FirstDay, p.LastDay, p.Rows)
	}
	if want := "202601:2026-01-03..2026-01-29/2 202602:2026-02-14..2026-02-14/1 202603:2026-03-01..2026-03-31/2 "; got != want {
		t.Errorf("partitions %q, want %q", got, want)
	}
}
