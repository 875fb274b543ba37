package foundation

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/integration/stack"
)

// TestStopStartClickHouse checks the harness's outage helpers: while stopped,
// the server refuses work; after StartClickHouse, data written before is back.
func TestStopStartClickHouse(t *testing.T) {
	op := stack.ClickHouse(t)
	table := chTable(t, op)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := insert(ctx, op, table, 1, 2); err != nil {
		t.Fatalf("insert: %v", err)
	}
	stack.StopClickHouse(t)
	if err := op.Ping(ctx); err == nil {
		t.Fatal("ClickHouse answers a ping after StopClickHouse")
	}
	stack.StartClickHouse(t)
	again := stack.ClickHouse(t)
	if n := count(t, again, table); n != 2 {
		t.Errorf("after a restart the table has %d rows, want 2", n)
	}
}

// TestStopStartKafka checks the harness's outage helpers for Kafka: produce
// fails while the broker is stopped and works again after StartKafka, with the
// earlier records still there.
func TestStopStartKafka(t *testing.T) {
	topic := createTopic(t, 1)
	// Not idempotent: franz-go keeps retrying an idempotent record it may have
	// sent until the broker answers, while a plain record fails with its context.
	producer := stack.Kafka(t, kgo.DefaultProduceTopic(topic), kgo.DisableIdempotentWrite(),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(5*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatalf("produce before the outage: %v", err)
	}
	stack.StopKafka(t)
	// The producer keeps retrying a broker that is down; the record fails when
	// its context ends.
	during, cancelDuring := context.WithTimeout(ctx, 5*time.Second)
	err := producer.ProduceSync(during, &kgo.Record{Value: []byte("during")}).FirstErr()
	cancelDuring()
	if err == nil {
		t.Fatal("produce succeeded while Kafka was stopped")
	}
	stack.StartKafka(t)
	fresh := stack.Kafka(t, kgo.DefaultProduceTopic(topic))
	if err := fresh.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after the restart: %v", err)
	}
	recs := consume(t, topic, 2)
	if string(recs[0].Value) != "before" || string(recs[1].Value) != "after" {
		t.Errorf("after the restart the topic holds %q, %q; want before, after", recs[0].Value, recs[1].Value)
	}
}
