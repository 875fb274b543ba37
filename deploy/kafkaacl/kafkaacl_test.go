package kafkaacl

import (
	"slices"
	"testing"

	"github.com/pangate/pangate/schemas"
)

// TestWhoWritesWhat states the table's promises outright, so a change to ACLs that breaks one is noticed
// here as well as on the brokers (integration/kafkacluster).
func TestWhoWritesWhat(t *testing.T) {
	for _, prefix := range []string{"", "t1."} {
		acls := ACLs(prefix)
		for _, c := range []struct {
			topic string
			want  []string
		}{
			// Only approvers may write decisions (issue 18.2); requests are the gateways' alone.
			{prefix + schemas.TopicDecisions, []string{Approver}},
			{prefix + schemas.TopicApprovals, []string{Gateway}},
			// Only gateways may write the audit topic (contract version 5): the services that read the
			// evidence write their own records to the operations topic.
			{prefix + schemas.TopicAudit, []string{Gateway}},
			{prefix + schemas.TopicOperations, []string{Indexer, Reporter}},
		} {
			if got := Writers(acls, c.topic); !slices.Equal(got, c.want) {
				t.Errorf("prefix %q: writers of %s %v, want %v", prefix, c.topic, got, c.want)
			}
		}
		// Who reads what: the gateway tails decisions, the approver rebuilds from both approval topics,
		// the indexer consumes all four.
		for _, r := range []ACL{
			{Gateway, Topic, prefix + schemas.TopicDecisions, Read},
			{Approver, Topic, prefix + schemas.TopicApprovals, Read},
			{Approver, Topic, prefix + schemas.TopicDecisions, Read},
			{Indexer, Topic, prefix + schemas.TopicAudit, Read},
			{Indexer, Topic, prefix + schemas.TopicApprovals, Read},
			{Indexer, Topic, prefix + schemas.TopicDecisions, Read},
			{Indexer, Topic, prefix + schemas.TopicOperations, Read},
		} {
			if !slices.Contains(acls, r) {
				t.Errorf("prefix %q: missing %s", prefix, r)
			}
		}
		for _, a := range acls {
			if a.Operation != Read && a.Operation != Write && a.Operation != Describe {
				t.Errorf("%s: operation outside Read/Write/Describe", a)
			}
			if a.ResourceType == Topic && a.Operation != Describe &&
				!slices.Contains(acls, ACL{Principal: a.Principal, ResourceType: Topic, Name: a.Name, Operation: Describe}) {
				t.Errorf("%s without Describe on the topic: the client cannot find its partitions", a)
			}
			if !slices.Contains(Services, a.Principal) {
				t.Errorf("%s: principal is not a service", a)
			}
		}
	}
}

func TestACLsSorted(t *testing.T) {
	acls := ACLs("")
	c := slices.Clone(acls)
	Sort(c)
	if !slices.Equal(acls, c) {
		t.Error("ACLs is not sorted; tables compared with == would differ by order")
	}
}

// TestWritersMatchTheContract: the table lets exactly the writers the event contract names
// (schemas.TopicContracts, json/topics.json) write each topic.
func TestWritersMatchTheContract(t *testing.T) {
	acls := ACLs("")
	for _, tc := range schemas.TopicContracts() {
		var want []string
		for _, w := range tc.Writers {
			want = append(want, "pangate-"+w)
		}
		slices.Sort(want)
		if got := Writers(acls, tc.Name); !slices.Equal(got, want) {
			t.Errorf("writers of %s: table %v, contract %v", tc.Name, got, want)
		}
	}
}
