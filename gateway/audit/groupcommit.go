package audit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// groupCommit is the group committer (Config.Batching "group"): events of all sessions share produce
// requests. Callers queue records; one goroutine hands everything queued to franz-go (which buffers it,
// manual flushing) and flushes: franz-go cuts one produce request per broker holding every pending batch,
// and the flush returns once those requests were answered (acks=all). What queued during that round trip
// goes out next. So the broker sees one request per round trip instead of one per statement, and a lone
// session waits one round trip plus two goroutine hand-offs (figures in BENCHMARKS.md).
//
// Ordering: a session has at most one event queued or in flight at a time (Session serialises), and the
// committer keeps queue order, so a session's records reach their partition in seq order; franz-go keeps a
// partition's batches in order and, being idempotent, never duplicates or reorders them on retry.
type groupCommit struct {
	cl      *kgo.Client
	timeout time.Duration // bound of one flush; unresolved records are flushed again on the next pass

	mu     sync.Mutex
	queue  []*pendingRecord
	spare  []*pendingRecord
	closed bool

	wake chan struct{} // cap 1: something was queued
	quit chan struct{}
	done chan struct{}

	outstanding atomic.Int64 // records handed to franz-go whose promise has not run yet

	onBatch func(n int) // metrics hook: records per flush
}

// pendingRecord is one queued record and where its fate goes.
type pendingRecord struct {
	rec  *kgo.Record
	done chan error // cap 1
	g    *groupCommit
}

func (pr *pendingRecord) promise(_ *kgo.Record, err error) {
	if pr.g != nil {
		pr.g.outstanding.Add(-1)
	}
	pr.done <- err
}

func newGroupCommit(cl *kgo.Client, timeout time.Duration) *groupCommit {
	return &groupCommit{cl: cl, timeout: timeout, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

// enqueue queues rec; its fate arrives on the returned channel. It fails with ErrClosed after stop.
func (g *groupCommit) enqueue(rec *kgo.Record) (chan error, error) {
	pr := &pendingRecord{rec: rec, done: make(chan error, 1), g: g}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, ErrClosed
	}
	g.queue = append(g.queue, pr)
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	return pr.done, nil
}

func (g *groupCommit) take() []*pendingRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.queue
	g.queue = g.spare[:0]
	g.spare = nil
	return b
}

func (g *groupCommit) recycle(b []*pendingRecord) {
	clear(b)
	g.mu.Lock()
	if g.spare == nil {
		g.spare = b[:0]
	}
	g.mu.Unlock()
}

// retryEvery is how often records still unresolved after a flush (a broker away) are flushed again while
// nothing new is queued; franz-go fails them once RecordDeliveryTimeout passes and that is safe.
const retryEvery = 100 * time.Millisecond

func (g *groupCommit) run() {
	defer close(g.done)
	for {
		b := g.take()
		if len(b) == 0 {
			if g.outstanding.Load() > 0 {
				t := time.NewTimer(retryEvery)
				select {
				case <-g.wake:
				case <-t.C:
				case <-g.quit:
					t.Stop()
					return
				}
				t.Stop()
				g.flush()
				continue
			}
			select {
			case <-g.wake:
				continue
			case <-g.quit:
				return
			}
		}
		for _, pr := range b {
			g.outstanding.Add(1)
			// Never cancelled by the caller: franz-go fails a record only when that is safe for the
			// idempotent sequence, and the caller must learn the record's fate.
			g.cl.Produce(context.Background(), pr.rec, pr.promise)
		}
		if g.onBatch != nil {
			g.onBatch(len(b))
		}
		g.recycle(b)
		g.flush()
	}
}

func (g *groupCommit) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	_ = g.cl.Flush(ctx)
	cancel()
}

// stop refuses new records, hands what is queued to franz-go and ends the committer (Producer.Close then
// flushes the client).
func (g *groupCommit) stop(ctx context.Context) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	g.mu.Unlock()
	close(g.quit)
	select {
	case <-g.done:
	case <-ctx.Done():
		return
	}
	for _, pr := range g.take() {
		g.outstanding.Add(1)
		g.cl.Produce(context.Background(), pr.rec, pr.promise)
	}
}
