package schemas

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// TestDecisionsTopic: the decisions topic is listed with the approvals topic's partitions and retention
// (the approver rebuilds from both), and pairs with an approvals topic of any prefix (contract version 4).
func TestDecisionsTopic(t *testing.T) {
	for _, brokers := range []int{1, 3} {
		byName := map[string]TopicConfig{}
		for _, tc := range Topics(brokers) {
			byName[tc.Name] = tc
		}
		a, d := byName[TopicApprovals], byName[TopicDecisions]
		if d.Name == "" || d.Partitions != a.Partitions || d.ReplicationFactor != a.ReplicationFactor ||
			d.Configs["retention.ms"] != a.Configs["retention.ms"] {
			t.Errorf("brokers %d: decisions %+v, approvals %+v", brokers, d, a)
		}
	}
	for _, c := range []struct{ in, want string }{
		{TopicApprovals, TopicDecisions},
		{"t1." + TopicApprovals, "t1." + TopicDecisions},
		{"own", "own.decisions"},
	} {
		if got := DecisionsTopicFor(c.in); got != c.want {
			t.Errorf("DecisionsTopicFor(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, typ := range []string{TypeApprovalNotified} {
		if slices.Contains(ApprovalsTopicEvents, typ) || !slices.Contains(DecisionsTopicEvents, typ) {
			t.Errorf("%s is the approvers' alone: it goes on %s only", typ, TopicDecisions)
		}
	}
	for _, typ := range []string{TypeApprovalRequested, TypeApprovalRejected} {
		if !slices.Contains(ApprovalsTopicEvents, typ) || slices.Contains(DecisionsTopicEvents, typ) {
			t.Errorf("%s is the gateways' alone: it goes on %s only", typ, TopicApprovals)
		}
	}
}

// TestTopicsJSON: json/topics.json, the contract's topics for other implementations, is TopicContracts
// (go test ./schemas -run TopicsJSON -update rewrites it).
func TestTopicsJSON(t *testing.T) {
	want, err := json.MarshalIndent(struct {
		ContractVersion int             `json:"contract_version"`
		Topics          []TopicContract `json:"topics"`
	}{ContractVersion, TopicContracts()}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	const path = "json/topics.json"
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with TopicContracts (%v): go test ./schemas -run TopicsJSON -update", path, err)
	}
}
