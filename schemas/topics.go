package schemas

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Topic names. Audit records are keyed by session id, approval and decision records by approval id, so all
// events of one session (or of one approval on one topic) share a partition and keep their order.
//
// Approval events are split by writer (contract version 4, docs/approvals.md "Topics"), so that a topic ACL
// can say who may decide: gateways write pangate.approvals, approvers write pangate.decisions, and only the
// approver principal may write the latter (deploy/kafkaacl). Records of one approval on the two topics have
// no order between them; readers (approver/state) do not depend on one.
//
// The back-office services' own records (the indexer's retention.dropped, the reporter's report.generated)
// go to pangate.operations (contract version 5, docs/scaling.md "Kafka principals and ACLs"), so that only gateways may write
// pangate.audit: a compromised indexer or reporter cannot add to the session evidence.
const (
	TopicAudit      = "pangate.audit"
	TopicApprovals  = "pangate.approvals"
	TopicDecisions  = "pangate.decisions"
	TopicOperations = "pangate.operations"
)

// Approval events by the topic they go on (contract version 4). An event type listed under both is written
// by both sides: a gateway writes approval.expired when its own timer fires and approval.decided only as its
// client's withdrawal (by "client"); an approver writes approval.expired after the grace period and every
// signed decision. Logs written before version 4 hold every approval event on pangate.approvals; readers
// apply what they find there the same way, so old logs stay readable.
var (
	// ApprovalsTopicEvents are the types gateways write to TopicApprovals.
	ApprovalsTopicEvents = []string{TypeApprovalRequested, TypeApprovalDecided, TypeApprovalExpired, TypeApprovalRejected}
	// DecisionsTopicEvents are the types approvers write to TopicDecisions.
	DecisionsTopicEvents = []string{TypeApprovalNotified, TypeApprovalDecided, TypeApprovalExpired}
	// OperationsTopicEvents are the types the indexer and the reporter write to TopicOperations (before
	// contract version 5 they went to TopicAudit, where old logs keep them; readers take them from either).
	OperationsTopicEvents = []string{TypeRetentionDropped, TypeReportGenerated}
)

// ContractVersion is the version of the event contract these topics describe: 4 split the approval events
// by writer into TopicApprovals and TopicDecisions; 5 moved the back-office services' records from
// TopicAudit to TopicOperations.
const ContractVersion = 5

// TopicContract describes one topic of the contract: json/topics.json is rendered from TopicContracts so
// implementations in other languages can read who writes what where.
type TopicContract struct {
	Name        string   `json:"name"`
	Key         string   `json:"key"`
	Writers     []string `json:"writers"`
	Events      []string `json:"events,omitempty"` // omitted: every event type may occur (session chains)
	Partitions  int32    `json:"partitions"`
	RetentionMS string   `json:"retention_ms"`
	Note        string   `json:"note"`
}

// TopicContracts returns the contract's topics with their production settings (Topics(3)).
func TopicContracts() []TopicContract {
	cfg := map[string]TopicConfig{}
	for _, t := range Topics(3) {
		cfg[t.Name] = t
	}
	mk := func(name, key string, writers, events []string, note string) TopicContract {
		return TopicContract{Name: name, Key: key, Writers: writers, Events: events, Partitions: cfg[name].Partitions,
			RetentionMS: cfg[name].Configs["retention.ms"], Note: note}
	}
	return []TopicContract{
		mk(TopicAudit, "session id", []string{"gateway"}, nil,
			"hash-chained session and gateway-run events; only gateways may write it (before contract version 5 the indexer's retention.dropped and the reporter's report.generated were here too)"),
		mk(TopicApprovals, "approval id", []string{"gateway"}, ApprovalsTopicEvents,
			"approval.expired is the gateway's own, approval.decided only its client's withdrawal (by client); before contract version 4 the approvers' events were here too"),
		mk(TopicDecisions, "approval id", []string{"approver"}, DecisionsTopicEvents,
			"only the approver principal may write it; nothing orders it against pangate.approvals"),
		mk(TopicOperations, "indexer run id / report id", []string{"indexer", "reporter"}, OperationsTopicEvents,
			"the back-office services' own records: the indexer's retention.dropped (chained under its run) and the reporter's report.generated"),
	}
}

// DecisionsTopicFor returns the decisions topic that goes with an approvals topic name: the same prefix
// followed by pangate.decisions ("t1.pangate.approvals" → "t1.pangate.decisions"). A name that does not
// end in pangate.approvals gets ".decisions" appended, so the two never coincide.
func DecisionsTopicFor(approvalsTopic string) string {
	if p, ok := strings.CutSuffix(approvalsTopic, TopicApprovals); ok {
		return p + TopicDecisions
	}
	return approvalsTopic + ".decisions"
}

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
	// decisions are kept as long as the requests they close: an approver rebuilding its state needs both.
	decisionsRetentionMS = approvalsRetentionMS
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
		{Name: TopicDecisions, Partitions: 3, ReplicationFactor: rf, Configs: common(decisionsRetentionMS)},
		{Name: TopicOperations, Partitions: 1, ReplicationFactor: rf, Configs: common(auditRetentionMS)},
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
