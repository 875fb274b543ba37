package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ListFunc is kadm.Client.ListStartOffsets or ListEndOffsets.
type ListFunc func(ctx context.Context, topics ...string) (kadm.ListedOffsets, error)

// ListOffsets calls list for topic until it answers with at least one partition, retrying transient
// errors (a topic created a moment ago, a leader election) with backoff from 50ms to 1s for up to limit.
// An error the broker marks as not retriable (authentication, authorisation) ends it at once: waiting
// would not change the answer, and the operator should see it now.
// The approver's replay and the gateway's decision tail both position themselves this way before they
// consume.
func ListOffsets(ctx context.Context, list ListFunc, topic string, limit time.Duration) (kadm.ListedOffsets, error) {
	deadline := time.Now().Add(limit)
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, time.Second) {
		res, err := list(ctx, topic)
		if err == nil {
			err = res.Error()
		}
		if err == nil && len(res[topic]) > 0 {
			return res, nil
		}
		if err == nil {
			err = errors.New("no partitions")
		}
		var ke *kerr.Error
		if errors.As(err, &ke) && !ke.Retriable {
			return nil, err
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// At returns the offsets as kgo consume positions (kgo.ConsumePartitions), partition by partition.
func At(offsets kadm.ListedOffsets) map[int32]kgo.Offset {
	parts := map[int32]kgo.Offset{}
	offsets.Each(func(o kadm.ListedOffset) { parts[o.Partition] = kgo.NewOffset().At(o.Offset) })
	return parts
}
