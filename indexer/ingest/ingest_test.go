package ingest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/indexer/rows"
	"github.com/pangate/pangate/schemas"
)

// fakeWriter fails the first failures writes, then records every events row it is given.
type fakeWriter struct {
	mu       sync.Mutex
	failures int
	attempts int
	ids      map[string]int
	block    chan struct{} // if non-nil, Write waits for it (or ctx)
}

func (w *fakeWriter) Write(ctx context.Context, rs []rows.Row) error {
	if w.block != nil {
		select {
		case <-w.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attempts++
	if w.attempts <= w.failures {
		return errors.New("clickhouse: connection refused")
	}
	for _, r := range rs {
		if r.Table == &rows.Events {
			w.ids[r.Values[0].(string)]++
		}
	}
	return nil
}

func (w *fakeWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ids)
}

func setup(t *testing.T, n int) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "t.audit"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ch := schemas.NewChain("s1", schemas.Source{Instance: "gw", Version: "1"})
	for i := 0; i < n; i++ {
		e, err := ch.Next(schemas.TypeSessionEnded, schemas.SessionEnded{Reason: "client_terminate"})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := schemas.Marshal(e)
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "t.audit", Key: []byte(e.Session), Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return c, c.ListenAddrs()
}

func committed(t *testing.T, brokers []string, group string) int64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	return sum
}

func cfg(brokers []string) Config {
	return Config{Brokers: brokers, Topics: []string{"t.audit"}, Group: "g", InstanceID: "i1", BatchSize: 50,
		FlushInterval: 50 * time.Millisecond, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, LagInterval: 50 * time.Millisecond}
}

// TestRetriesUntilWritten: write failures are retried, every record arrives, offsets are committed after.
func TestRetriesUntilWritten(t *testing.T) {
	_, brokers := setup(t, 120)
	w := &fakeWriter{failures: 3, ids: map[string]int{}}
	m := NewMetrics(nil)
	in, err := New(cfg(brokers), w, &rows.Mapper{Now: time.Now}, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- in.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for w.count() < 120 {
		if time.Now().After(deadline) {
			t.Fatalf("written %d of 120", w.count())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for committed(t, brokers, "g") != 120 {
		if time.Now().After(deadline) {
			t.Fatalf("committed %d of 120", committed(t, brokers, "g"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.attempts < 4 {
		t.Errorf("attempts %d: the failures were not retried", w.attempts)
	}
}

// TestNoCommitBeforeWrite: while the store does not answer, nothing is committed.
func TestNoCommitBeforeWrite(t *testing.T) {
	_, brokers := setup(t, 30)
	w := &fakeWriter{ids: map[string]int{}, block: make(chan struct{})}
	m := NewMetrics(nil)
	in, err := New(cfg(brokers), w, &rows.Mapper{Now: time.Now}, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- in.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for in.polled.Load() < 30 { // polled everything, now stuck in Write
		if time.Now().After(deadline) {
			t.Fatal("records never consumed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a commit, if the code wrongly made one, would land now
	if n := committed(t, brokers, "g"); n != 0 {
		t.Fatalf("committed %d offsets before any write succeeded", n)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel while the writer was stuck")
	}
	if n := committed(t, brokers, "g"); n != 0 {
		t.Fatalf("committed %d offsets although nothing was written", n)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("empty config: %v", err)
	}
	if err := cfg([]string{"k:1"}).Validate(); err != nil {
		t.Fatal(err)
	}
}
