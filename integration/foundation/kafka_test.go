package foundation

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// session builds the events of one chained session: started, n queries, ended.
func session(t *testing.T, id string, queries int) []schemas.Event {
	t.Helper()
	chain := schemas.NewChain(id, schemas.Source{Instance: "foundation-test", Version: "test"})
	types := []string{schemas.TypeSessionStarted}
	for range queries {
		types = append(types, schemas.TypeQueryExecuted)
	}
	types = append(types, schemas.TypeSessionEnded)
	var events []schemas.Event
	for _, typ := range types {
		data, err := schemas.Example(typ)
		if err != nil {
			t.Fatalf("schemas.Example(%s): %v", typ, err)
		}
		e, err := chain.Next(typ, data)
		if err != nil {
			t.Fatalf("chain.Next(%s): %v", typ, err)
		}
		events = append(events, e)
	}
	return events
}

func createTopic(t *testing.T, partitions int32) string {
	t.Helper()
	return stack.Topic(t, "audit", partitions)
}

// consume reads n records from topic with a consumer group (so the group
// coordinator is exercised too), failing the test if they do not all arrive.
func consume(t *testing.T, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup(stack.UniqueName(t, "group")),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, opts...)
	cl := stack.Kafka(t, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records from %s before the deadline", len(recs), n, topic)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s[%d]: %v", topic, p, err)
		})
		recs = append(recs, fetches.Records()...)
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit offsets: %v", err)
	}
	return recs
}

// TestChainedSessionsThroughKafka produces two interleaved sessions with the
// idempotent, acks=all producer the gateway uses, reads them back through a
// consumer group and checks every record against its schema and every session's
// hash chain; then checks that verification notices an edited and a dropped
// event.
func TestChainedSessionsThroughKafka(t *testing.T) {
	topic := createTopic(t, 3)
	sessions := map[string][]schemas.Event{
		schemas.NewID(): nil,
		schemas.NewID(): nil,
	}
	for id := range sessions {
		sessions[id] = session(t, id, 5)
	}

	producer := stack.Kafka(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	var recs []*kgo.Record
	for i := 0; i < 7; i++ { // interleave the sessions record by record
		for id, events := range sessions {
			b, err := schemas.Marshal(events[i])
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			recs = append(recs, &kgo.Record{Key: []byte(id), Value: b})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	got := map[string][]schemas.Event{}
	partition := map[string]int32{}
	for _, r := range consume(t, topic, len(recs)) {
		if err := schemas.Validate(r.Value); err != nil {
			t.Errorf("record at %d/%d does not validate: %v", r.Partition, r.Offset, err)
		}
		e, err := schemas.Parse(r.Value)
		if err != nil {
			t.Fatalf("parse record at %d/%d: %v", r.Partition, r.Offset, err)
		}
		if string(r.Key) != e.Session {
			t.Errorf("record key %q, event session %q", r.Key, e.Session)
		}
		if p, ok := partition[e.Session]; ok && p != r.Partition {
			t.Errorf("session %s spans partitions %d and %d", e.Session, p, r.Partition)
		}
		partition[e.Session] = r.Partition
		got[e.Session] = append(got[e.Session], e)
	}
	if len(got) != len(sessions) {
		t.Fatalf("read %d sessions, want %d", len(got), len(sessions))
	}
	for id, events := range got {
		if len(events) != 7 {
			t.Errorf("session %s: read %d events, want 7", id, len(events))
		}
		if err := schemas.VerifySession(events); err != nil {
			t.Errorf("session %s as read from Kafka: %v", id, err)
		}

		edited := append([]schemas.Event(nil), events...)
		edited[3].Data = []byte(`{"edited":true}`)
		if err := schemas.VerifySession(edited); !errors.Is(err, schemas.ErrChain) {
			t.Errorf("session %s with an edited event: VerifySession = %v, want ErrChain", id, err)
		}
		dropped := append(append([]schemas.Event(nil), events[:2]...), events[3:]...)
		if err := schemas.VerifySession(dropped); !errors.Is(err, schemas.ErrChain) {
			t.Errorf("session %s with a dropped event: VerifySession = %v, want ErrChain", id, err)
		}
	}
}

// TestTransactions checks that the broker's transaction coordinator works:
// read_committed consumers see committed records and never aborted ones.
func TestTransactions(t *testing.T) {
	topic := createTopic(t, 1)
	producer := stack.Kafka(t, kgo.DefaultProduceTopic(topic), kgo.TransactionalID(stack.UniqueName(t, "txn")))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, commit := range []bool{false, true} {
		if err := producer.BeginTransaction(); err != nil {
			t.Fatalf("begin transaction: %v", err)
		}
		for i := range 3 {
			v := fmt.Sprintf("committed=%v i=%d", commit, i)
			if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce in transaction: %v", err)
			}
		}
		if err := producer.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction (commit=%v): %v", commit, err)
		}
	}
	recs := consume(t, topic, 3, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for i, r := range recs {
		if want := fmt.Sprintf("committed=true i=%d", i); string(r.Value) != want {
			t.Errorf("record %d = %q, want %q", i, r.Value, want)
		}
	}
}
