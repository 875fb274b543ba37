package reporter_test

import (
	"context"
	"testing"
	"time"

	"github.com/pangate/pangate/indexer/seed"
	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/manifest"
)

// TestSeededStoreVerifies seeds 100k events straight into a fresh database with indexer/seed and builds the
// month's package: the reporter's integrity verification finds no failure, and the package counts every
// seeded event in the period.
func TestSeededStoreVerifies(t *testing.T) {
	en := newEnvWith(t, false)
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 30)
	res, err := seed.Run(context.Background(), en.ch, en.db, seed.Config{Events: 100000, From: from, Days: 30, Gateways: 2,
		Interval: 10 * time.Minute, Key: en.key, Prefix: en.db + "-", BlockEvents: 50000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d events (%d sessions) in %s: %.0f events/s", res.Events, res.Sessions, res.Elapsed.Round(time.Millisecond),
		float64(res.Events)/res.Elapsed.Seconds())
	var stored uint64
	if err := en.ch.QueryRow(context.Background(), "SELECT count() FROM events").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != uint64(res.Events) {
		t.Fatalf("events table holds %d rows, seeded %d", stored, res.Events)
	}
	out, err := en.builder(bucket.NewLocal(t.TempDir()), to.Add(time.Hour)).Build(context.Background(), manifest.KindPackage, from, to)
	if err != nil {
		t.Fatal(err)
	}
	rep := out.Integrity
	if !rep.OK || rep.Failures != 0 {
		t.Fatalf("integrity of a seeded store: %d failures: %s", rep.Failures, findingsText(rep))
	}
	if rep.Events != res.Events || len(rep.Runs) != 2 {
		t.Fatalf("integrity read %d events in %d runs, seeded %d in 2", rep.Events, len(rep.Runs), res.Events)
	}
	t.Logf("package: %d events, integrity ok (%d sessions, %d warnings), %d exceptions", out.Events, rep.Sessions, rep.Warnings, out.Exceptions)
}
