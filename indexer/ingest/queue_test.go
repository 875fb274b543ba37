package ingest

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestQueueTakesAnEvenShare: a batch takes an even share of every partition that holds records, what a
// short partition leaves over goes to the others, and each partition's records stay in offset order.
func TestQueueTakesAnEvenShare(t *testing.T) {
	for _, tc := range []struct {
		name string
		held map[int32]int // partition → records held
		take int
		want map[int32]int // partition → records taken
	}{
		{"one partition", map[int32]int{0: 10}, 4, map[int32]int{0: 4}},
		{"backlog beside one new record", map[int32]int{0: 300, 1: 1}, 50, map[int32]int{0: 49, 1: 1}},
		{"even", map[int32]int{0: 30, 1: 30, 2: 30}, 30, map[int32]int{0: 10, 1: 10, 2: 10}},
		{"short partitions leave their share to the others", map[int32]int{0: 100, 1: 2, 2: 100}, 50, map[int32]int{0: 24, 1: 2, 2: 24}},
		{"everything", map[int32]int{0: 3, 1: 2}, 50, map[int32]int{0: 3, 1: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue()
			now := time.Now()
			total := 0
			for p := int32(0); p < int32(len(tc.held))+1; p++ {
				for o := 0; o < tc.held[p]; o++ {
					q.add(&kgo.Record{Topic: "t", Partition: p, Offset: int64(o), Timestamp: now.Add(-time.Second)}, now)
					total++
				}
			}
			got, lag := q.take(tc.take)
			per := map[int32]int{}
			next := map[int32]int64{}
			for _, r := range got {
				if r.Offset != next[r.Partition] {
					t.Fatalf("partition %d: offset %d taken where %d was next", r.Partition, r.Offset, next[r.Partition])
				}
				next[r.Partition]++
				per[r.Partition]++
			}
			if fmt.Sprint(per) != fmt.Sprint(tc.want) {
				t.Errorf("took %v, want %v", per, tc.want)
			}
			if q.len() != total-len(got) {
				t.Errorf("queue holds %d after taking %d of %d", q.len(), len(got), total)
			}
			if lag != time.Second {
				t.Errorf("poll lag %s, want 1s (polled now, produced a second ago)", lag)
			}
			// The rest comes out next, still in order.
			rest, _ := q.take(total)
			for _, r := range rest {
				if r.Offset != next[r.Partition] {
					t.Fatalf("second take: partition %d offset %d where %d was next", r.Partition, r.Offset, next[r.Partition])
				}
				next[r.Partition]++
			}
			if q.len() != 0 {
				t.Errorf("queue holds %d after taking everything", q.len())
			}
		})
	}
}

// TestQueueOverPausesTheBacklog: once the queue holds maxHeld records, the partitions holding at least
// their share stop being fetched, the others go on.
func TestQueueOverPausesTheBacklog(t *testing.T) {
	q := newQueue()
	now := time.Now()
	add := func(p int32, n int) {
		for i := 0; i < n; i++ {
			q.add(&kgo.Record{Topic: "t", Partition: p}, now)
		}
	}
	add(0, 90)
	if o := q.over(100); len(o) != 0 {
		t.Fatalf("below maxHeld: pause %v, want none", o)
	}
	add(1, 10)
	o := q.over(100)
	if !o[partition{"t", 0}] || o[partition{"t", 1}] || len(o) != 1 {
		t.Fatalf("pause %v, want only partition 0 (90 of 100 held, share 50)", o)
	}
}
