package stack

import (
	"context"
	"testing"
	"time"
)

// Topic creates a Kafka topic named UniqueName(t, prefix) with partitions
// partitions (replication 1, as the stack has one broker) and returns its name
// once the broker's metadata lists a leader for every partition, so the first
// produce does not race the topic's creation. The topic is deleted when the
// test ends. The test holds Kafka (see the package doc) until it ends.
func Topic(t testing.TB, prefix string, partitions int32) string {
	t.Helper()
	topic := UniqueName(t, prefix)
	adm := KafkaAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("stack: create topic %s: %v", topic, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, topic)
	})
	for {
		details, err := adm.ListTopics(ctx, topic)
		if err == nil {
			td, ok := details[topic]
			if ok && td.Err == nil && len(td.Partitions) == int(partitions) {
				ready := true
				for _, p := range td.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
					}
				}
				if ready {
					return topic
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stack: topic %s has no leader for every partition after a minute (last error: %v)", topic, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
