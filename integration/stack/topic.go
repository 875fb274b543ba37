package stack

import (
	"context"
	"testing"
	"time"

	"github.com/pangate/pangate/schemas"
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

// ServiceTopics creates every topic of the pangate services (schemas.Topics for the stack's one broker,
// with the contract's partitions) under prefix, waits until each partition has a leader (so no process
// races their creation) and deletes them when the test ends. The test holds Kafka (see the package doc)
// until it ends.
func ServiceTopics(t testing.TB, prefix string) []schemas.TopicConfig {
	t.Helper()
	return ServiceTopicsPartitioned(t, prefix, 0)
}

// ServiceTopicsPartitioned is ServiceTopics with partitions partitions a topic (0: the contract's): fewer
// partitions make a consumer group's assignment quicker on the shared broker.
func ServiceTopicsPartitioned(t testing.TB, prefix string, partitions int32) []schemas.TopicConfig {
	t.Helper()
	adm := KafkaAdmin(t)
	topics := schemas.Rename(schemas.Topics(1), prefix)
	for i := range topics {
		if partitions > 0 {
			topics[i].Partitions = partitions
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := schemas.EnsureTopics(ctx, adm, topics); err != nil {
		t.Fatalf("stack: create the topics of prefix %s: %v", prefix, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var names []string
		for _, tc := range topics {
			names = append(names, tc.Name)
		}
		_, _ = adm.DeleteTopics(ctx, names...)
	})
	WaitTopics(t, adm, topics)
	return topics
}
