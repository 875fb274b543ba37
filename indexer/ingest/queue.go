package ingest

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// queue holds polled records that are not in a batch yet, per partition in offset order, so that a batch
// takes an even share of every partition that has records instead of whatever franz-go buffered first.
//
// Why: franz-go hands records out in the order of its buffered fetch response, partition after partition,
// and fetches again only once that response is drained. A batch cut at batch.size from the front of a fetch
// leaves the last partitions of the response for a later batch, behind records that arrived after them:
// those stragglers set the lag's p99 (indexer/BENCHMARKS.md, "End-to-end lag"). Taking a share per
// partition keeps every partition's oldest record in the next batch, and a backlog on one partition (a
// replay, a hot session) no longer delays the live records of the others.
//
// Offsets stay in order per partition: a batch takes a prefix of each partition's records, so committing a
// batch's records (the highest offset per partition) never skips a record that is still held.
type queue struct {
	parts map[partition][]held
	keys  []partition // partitions in first-seen order; take rotates its start over them
	next  int         // where take starts (rotates, so no partition always gets the remainder)
	n     int         // records held
}

type partition struct {
	topic string
	id    int32
}

// held is a record and when it was polled (the flush interval counts from there).
type held struct {
	r  *kgo.Record
	at time.Time
}

func newQueue() *queue { return &queue{parts: map[partition][]held{}} }

func (q *queue) len() int { return q.n }

func (q *queue) add(r *kgo.Record, at time.Time) {
	k := partition{r.Topic, r.Partition}
	s, ok := q.parts[k]
	if !ok {
		q.keys = append(q.keys, k)
	}
	q.parts[k] = append(s, held{r, at})
	q.n++
}

// over returns the partitions to stop fetching: none while fewer than maxHeld records are held, else
// those holding at least an even share of maxHeld among the partitions that hold records.
func (q *queue) over(maxHeld int) map[partition]bool {
	if q.n < maxHeld {
		return nil
	}
	active := 0
	for _, s := range q.parts {
		if len(s) > 0 {
			active++
		}
	}
	share := max(maxHeld/max(active, 1), 1)
	out := map[partition]bool{}
	for k, s := range q.parts {
		if len(s) >= share {
			out[k] = true
		}
	}
	return out
}

// oldest is when the longest-held record was polled (zero if the queue is empty).
func (q *queue) oldest() time.Time {
	var t time.Time
	for _, s := range q.parts {
		if len(s) > 0 && (t.IsZero() || s[0].at.Before(t)) {
			t = s[0].at
		}
	}
	return t
}

// take removes and returns up to n records: an equal share of n from every partition that has records,
// what a short partition leaves over shared again among the others, each partition's records in offset
// order. The second result is the largest wait between a taken record's Kafka timestamp and its poll.
func (q *queue) take(n int) ([]*kgo.Record, time.Duration) {
	out := make([]*kgo.Record, 0, min(n, q.n))
	var pollLag time.Duration
	active := make([]partition, 0, len(q.keys))
	for i := range q.keys {
		k := q.keys[(q.next+i)%len(q.keys)]
		if len(q.parts[k]) > 0 {
			active = append(active, k)
		}
	}
	if len(q.keys) > 0 {
		q.next = (q.next + 1) % len(q.keys)
	}
	for n > 0 && len(active) > 0 {
		share := max(n/len(active), 1)
		still := active[:0]
		for _, k := range active {
			s := q.parts[k]
			m := min(share, len(s), n)
			for i := range s[:m] {
				out = append(out, s[i].r)
				pollLag = max(pollLag, s[i].at.Sub(s[i].r.Timestamp))
				s[i] = held{} // let the record go once written, although the array lives on
			}
			n -= m
			q.n -= m
			if m == len(s) {
				q.parts[k] = nil
			} else {
				q.parts[k] = s[m:]
				still = append(still, k)
			}
		}
		active = still
	}
	return out, pollLag
}
