package schemas

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Topic names. Audit records are keyed by session id, approval records by approval id, so all events of
// one session (or approval) share a partition and keep their order.
const (
	TopicAudit     = "pangate.audit"
	TopicApprovals = "pangate.approvals"
)

// TopicConfig is the configuration pangate expects of a topic.
type TopicConfig struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Configs           map[string]string
}

// retention: audit events are kept in Kafka long enough for the indexer to catch up after an outage and for
// a new approver to rebuild its state; the 12-month store is ClickHouse (PCI DSS 10.5.1).
const (
	auditRetentionMS     = 30 * 24 * 3600 * 1000
	approvalsRetentionMS = 30 * 24 * 3600 * 1000
	maxMessageBytes      = 1 << 20
)

// Topics returns the topic configurations for a cluster of the given size: replication 3 and
// min.insync.replicas 2 from three brokers up, 1 and 1 on a single broker (the local stack).
func Topics(brokers int) []TopicConfig {
	rf, isr := int16(3), "2"
	if brokers < 3 {
		rf, isr = 1, "1"
	}
	common := func(retention int64) map[string]string {
		return map[string]string{
			"cleanup.policy":                 "delete",
			"retention.ms":                   strconv.FormatInt(retention, 10),
			"min.insync.replicas":            isr,
			"max.message.bytes":              strconv.Itoa(maxMessageBytes),
			"unclean.leader.election.enable": "false",
			"message.timestamp.type":         "CreateTime",
		}
	}
	return []TopicConfig{
		{Name: TopicAudit, Partitions: 12, ReplicationFactor: rf, Configs: common(auditRetentionMS)},
		{Name: TopicApprovals, Partitions: 3, ReplicationFactor: rf, Configs: common(approvalsRetentionMS)},
	}
}

// Rename returns topics with every name prefixed, so tests can use their own topics on a shared broker.
func Rename(topics []TopicConfig, prefix string) []TopicConfig {
	out := make([]TopicConfig, len(topics))
	for i, t := range topics {
		t.Name = prefix + t.Name
		out[i] = t
	}
	return out
}

// EnsureTopics creates the topics that do not exist yet and leaves existing ones alone (idempotent), and
// reports an existing topic with fewer partitions than configured.
func EnsureTopics(ctx context.Context, adm *kadm.Client, topics []TopicConfig) error {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("schemas: list topics: %w", err)
	}
	for _, t := range topics {
		if d, ok := existing[t.Name]; ok && d.Err == nil {
			if got := int32(len(d.Partitions)); got < t.Partitions {
				return fmt.Errorf("schemas: topic %s has %d partitions, pangate expects %d: add partitions with kadm or kafka-topics", t.Name, got, t.Partitions)
			}
			continue
		}
		cfg := make(map[string]*string, len(t.Configs))
		for k, v := range t.Configs {
			v := v
			cfg[k] = &v
		}
		resp, err := adm.CreateTopic(ctx, t.Partitions, t.ReplicationFactor, cfg, t.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("schemas: create topic %s (%d partitions, replication %d): %w", t.Name, t.Partitions, t.ReplicationFactor, err)
		}
	}
	return nil
}
