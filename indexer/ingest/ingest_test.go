package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/indexer/rows"
	"github.com/pangate/pangate/internal/auditstore"
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
		if r.Table == &auditstore.Events {
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

// batchWriter records, per batch, the event ids written to the events table (one Write per table and batch),
// and blocks every Write whose rows include an offset below holdBelow of partition holdPartition until
// release is closed.
type batchWriter struct {
	mu            sync.Mutex
	batches       [][]string // event ids per events Write, in the order the writes completed
	holdPartition int32
	holdBelow     int64
	release       chan struct{}
}

func (w *batchWriter) Write(ctx context.Context, rs []rows.Row) error {
	for _, r := range rs {
		if r.Table != &auditstore.Events {
			continue
		}
		p, off := r.Values[kafkaCol(&auditstore.Events, "kafka_partition")], r.Values[kafkaCol(&auditstore.Events, "kafka_offset")]
		if toInt(p) == int64(w.holdPartition) && toInt(off) < w.holdBelow {
			select {
			case <-w.release:
			case <-ctx.Done():
				return ctx.Err()
			}
			break
		}
	}
	var ids []string
	for _, r := range rs {
		if r.Table == &auditstore.Events {
			ids = append(ids, r.Values[0].(string))
		}
	}
	if len(ids) > 0 {
		w.mu.Lock()
		w.batches = append(w.batches, ids)
		w.mu.Unlock()
	}
	return nil
}

func (w *batchWriter) written() [][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]string(nil), w.batches...)
}

func kafkaCol(t *rows.Table, name string) int {
	for i, c := range t.Columns {
		if c == name {
			return i
		}
	}
	panic("no column " + name + " in " + t.Name)
}

func toInt(v any) int64 {
	n, _ := strconv.ParseInt(fmt.Sprint(v), 10, 64)
	return n
}

// produceTo writes n events of session s to partition p of t.audit and returns their ids.
func produceTo(t *testing.T, brokers []string, p int32, s string, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ch := schemas.NewChain(s, schemas.Source{Instance: "gw", Version: "1"})
	var ids []string
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		e, err := ch.Next(schemas.TypeSessionEnded, schemas.SessionEnded{Reason: "client_terminate"})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := schemas.Marshal(e)
		ids = append(ids, e.ID)
		recs = append(recs, &kgo.Record{Topic: "t.audit", Partition: p, Key: []byte(s), Value: b})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// waitPolled waits until the ingester's polled count stops moving for 300 ms and returns it.
func waitPolled(t *testing.T, in *Ingester, atLeast int64) int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last, since := int64(-1), time.Now()
	for time.Now().Before(deadline) {
		n := in.polled.Load()
		if n != last {
			last, since = n, time.Now()
		} else if n >= atLeast && time.Since(since) > 300*time.Millisecond {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("polled %d records, want at least %d and no more coming", last, atLeast)
	return 0
}

// TestNewRecordBesideABacklogIsInTheNextBatch is the regression test for the stragglers of
// indexer/BENCHMARKS.md ("End-to-end lag"): a batch used to be the first batch.size records of franz-go's
// buffered fetch, and nothing was polled while a batch was written, so a record that arrived on a quiet
// partition behind another partition's backlog waited until the whole backlog ahead of it was written. Now
// polling goes on during the write, the backlog partition stops being fetched once the queue is full, and
// the next batch takes an even share of every partition: the new record is in the very next batch.
func TestNewRecordBesideABacklogIsInTheNextBatch(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "t.audit"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	produceTo(t, brokers, 0, "backlog", 400)
	w := &batchWriter{holdPartition: 0, holdBelow: 50, release: make(chan struct{})}
	conf := cfg(brokers)
	conf.Inflight = 1
	in, err := New(conf, w, &rows.Mapper{Now: time.Now}, NewMetrics(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- in.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	// The first batch (50 records of the backlog) is held in its write; the consumer fills its queue.
	before := waitPolled(t, in, 50)
	fresh := produceTo(t, brokers, 1, "fresh", 1)[0]
	deadline := time.Now().Add(10 * time.Second)
	for in.polled.Load() == before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(w.release)

	deadline = time.Now().Add(20 * time.Second)
	for {
		bs := w.written()
		for i, b := range bs {
			if slices.Contains(b, fresh) {
				if i > 1 {
					t.Fatalf("the new record of partition 1 was written in batch %d (batch sizes %v), want batch 2: it waited behind partition 0's backlog", i+1, sizes(bs))
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new record of partition 1 was never written (batches %v, polled %d; before it was produced %d)", sizes(bs), in.polled.Load(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sizes(bs [][]string) []int {
	out := make([]int, len(bs))
	for i, b := range bs {
		out[i] = len(b)
	}
	return out
}

// TestCommitsInOrderAcrossBatchesInFlight: with two batches written at once, a later batch that is
// written first is not committed before the earlier one: no offset ever moves past a record whose rows
// are not in ClickHouse.
func TestCommitsInOrderAcrossBatchesInFlight(t *testing.T) {
	_, brokers := setup(t, 120) // one session: one partition, offsets 0..119
	w := &batchWriter{holdPartition: -1, release: make(chan struct{})}
	// Hold the writes of the first batch (offsets below 50 of whichever partition the session went to).
	w.holdPartition = partitionOf(t, brokers)
	w.holdBelow = 50
	conf := cfg(brokers)
	conf.Inflight = 2
	in, err := New(conf, w, &rows.Mapper{Now: time.Now}, NewMetrics(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- in.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.Now().Add(20 * time.Second)
	for len(w.written()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the second batch was never written while the first was held")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a commit, if the code wrongly made one, would land now
	if n := committed(t, brokers, "g"); n != 0 {
		t.Fatalf("committed offsets summing to %d while the first batch was not written (later batches written: %v)", n, sizes(w.written()))
	}
	close(w.release)
	for committed(t, brokers, "g") != 120 {
		if time.Now().After(deadline) {
			t.Fatalf("committed %d of 120 after the first batch was released", committed(t, brokers, "g"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// partitionOf is the partition setup's single session landed on.
func partitionOf(t *testing.T, brokers []string) int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), "t.audit")
	if err != nil {
		t.Fatal(err)
	}
	p := int32(-1)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			p = o.Partition
		}
	})
	if p < 0 {
		t.Fatal("no partition of t.audit holds records")
	}
	return p
}
