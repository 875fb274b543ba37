package indexer_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/pangate/pangate/indexer/retention"
	"github.com/pangate/pangate/indexer/service"
	"github.com/pangate/pangate/schemas"
)

// TestRetention: events older than the kept 12 months lose their monthly partitions in every table, newer
// ones stay, and each drop is recorded as a retention.dropped event (chained under the indexer's run) that
// the indexer itself ingests into lifecycle.
func TestRetention(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	now := time.Now().UTC()
	old := now.AddDate(0, -14, 0)
	oldEvs, newEvs := session(3, old), session(3, now)
	en.produce(schemas.TopicAudit, append(oldEvs, newEvs...)...)
	p := en.start()
	en.waitCount(30*time.Second, uint64(len(oldEvs)+len(newEvs)), "SELECT count() FROM events FINAL")
	en.waitCount(30*time.Second, 6, "SELECT count() FROM statement_tables FINAL") // written after events

	cfg := en.config()
	job, closeJob, err := service.NewRetention(cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer closeJob()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dropped, err := job.Once(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	oldPart := fmt.Sprintf("%04d%02d", old.Year(), int(old.Month()))
	tables := map[string]bool{}
	for _, e := range dropped {
		var d schemas.RetentionDropped
		if err := e.Decode(&d); err != nil {
			t.Fatal(err)
		}
		if len(d.Partitions) != 1 || d.Partitions[0] != oldPart || d.KeepMonths != 12 {
			t.Errorf("dropped %+v, want partition %s keeping 12 months", d, oldPart)
		}
		tables[d.Table] = true
	}
	for _, tbl := range []string{"events", "sessions", "session_ends", "statements", "statement_tables"} {
		if !tables[tbl] {
			t.Errorf("no retention.dropped for %s (got %v)", tbl, tables)
		}
	}
	if err := schemas.VerifySession(dropped); err != nil {
		t.Errorf("retention events do not form one chain: %v", err)
	}
	cutoff := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -12, 0)
	if n := en.count("SELECT count() FROM events FINAL WHERE time < ?", cutoff); n != 0 {
		t.Errorf("%d events older than %s remain", n, cutoff)
	}
	if n := en.count("SELECT count() FROM statements FINAL WHERE session = ?", newEvs[0].Session); n != 3 {
		t.Errorf("recent statements = %d, want 3", n)
	}
	// The drops are themselves audit events, indexed like any other.
	en.waitCount(30*time.Second, uint64(len(dropped)), "SELECT count() FROM lifecycle FINAL WHERE event_type = 'retention.dropped' AND has(partitions, ?)", oldPart)
	// Nothing newer than the cutoff is ever dropped, and a second run finds nothing to do.
	again, err := job.Once(ctx, now)
	if err != nil || len(again) != 0 {
		t.Errorf("second run dropped %v (%v)", again, err)
	}
	if _, err := retention.New(retention.Config{KeepMonths: 11, Tables: []string{"events"}, Topic: "x"}, nil, nil, nil); err == nil {
		t.Error("retention below 12 months accepted")
	}
	p.stop(t)
}
