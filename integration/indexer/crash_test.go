package indexer_test

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pangate/pangate/schemas"
)

// TestCrashExactlyOnce kills the indexer with SIGKILL at random points (mid-poll, mid-insert, between the
// ClickHouse writes and the offset commit) at least 20 times while events stream in, then lets a last
// indexer catch up: every acknowledged event must be in ClickHouse exactly once as the documented queries
// (FINAL) count it, in every table, with every session's chain complete (design invariant 6).
func TestCrashExactlyOnce(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	const kills = 20
	var produced, statements atomic.Int64
	var prodErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var evs []schemas.Event
			for i := 0; i < 10; i++ {
				evs = append(evs, session(8, time.Now())...)
			}
			if err := en.tryProduce(en.encode(schemas.TopicAudit, evs...)...); err != nil {
				prodErr.Store(err)
				return
			}
			produced.Add(int64(len(evs)))
			statements.Add(80)
			time.Sleep(100 * time.Millisecond) // about 1000 events/s: the final catch-up stays short on a busy CI machine
		}
	}()
	// Small batches and a short flush interval make many write/commit cycles, so the kills land in every phase.
	extra := []string{"PANGATE_INDEXER_FLUSH_INTERVAL=50ms", "PANGATE_INDEXER_BATCH_SIZE=700"}
	for i := 0; i < kills; i++ {
		p := en.start(extra...)
		if i%2 == 0 {
			// At a random moment: while joining, polling, mapping or inserting.
			time.Sleep(time.Duration(150+rand.IntN(650)) * time.Millisecond)
		} else {
			// Right after a batch reached ClickHouse, before (or while) its offsets are committed: the replay
			// window that deduplication must cover.
			select {
			case <-p.written:
			case <-time.After(5 * time.Second):
			}
		}
		p.kill()
	}
	close(stop)
	wg.Wait()
	if err := prodErr.Load(); err != nil {
		t.Fatalf("producer: %v", err)
	}
	want := uint64(produced.Load())
	t.Logf("%d kills; %d events produced; raw rows before the final run: %d", kills, want, en.count("SELECT count() FROM events"))

	final := en.start()
	en.waitCount(60*time.Second, want, "SELECT count() FROM events FINAL")
	final.stop(t)

	raw := en.count("SELECT count() FROM events")
	t.Logf("events: %d raw rows (replays included), %d with FINAL", raw, want)
	if raw < want {
		t.Fatalf("raw rows %d < produced %d", raw, want)
	}
	if n := en.count("SELECT uniqExact(event_id) FROM events FINAL"); n != want {
		t.Errorf("distinct event ids %d, want %d", n, want)
	}
	if n := en.count("SELECT count() FROM statements FINAL"); n != uint64(statements.Load()) {
		t.Errorf("statements FINAL = %d, want %d", n, statements.Load())
	}
	sessions := want / 10
	if n := en.count("SELECT count() FROM sessions FINAL"); n != sessions {
		t.Errorf("sessions FINAL = %d, want %d", n, sessions)
	}
	if n := en.count("SELECT count() FROM session_ends FINAL"); n != sessions {
		t.Errorf("session_ends FINAL = %d, want %d", n, sessions)
	}
	if n := en.count("SELECT count() FROM statement_tables FINAL"); n != uint64(statements.Load()) {
		t.Errorf("statement_tables FINAL = %d, want %d", n, statements.Load())
	}
	// Every session's chain is whole: seq 0..n without gaps or repeats.
	if n := en.count(`SELECT count() FROM (SELECT session, count() AS c, uniqExact(seq) AS u, max(seq) AS m
		FROM events FINAL GROUP BY session HAVING c != m + 1 OR u != c)`); n != 0 {
		t.Errorf("%d sessions with gaps or duplicates", n)
	}
	if n := en.count("SELECT count() FROM dead_letters FINAL"); n != 0 {
		t.Errorf("dead letters %d, want 0", n)
	}
}
