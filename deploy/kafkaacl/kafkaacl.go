// Package kafkaacl is the one table of who may do what on pangate's Kafka topics: the service principals,
// the ACLs each gets, and the super users. The local cluster profile (deploy/local, `go tool task
// up:cluster`) applies it to real brokers, integration/kafkacluster checks the brokers enforce it, and
// deploy/kubernetes/kafka-users.yaml (Strimzi KafkaUsers) is generated from it, so the three cannot drift
// (docs/scaling.md, "Kafka principals and ACLs").
//
// Only approvers may write decisions: approval events are split by writer (contract version 4,
// docs/approvals.md "Topics"). Gateways write approval.requested, their own approval.expired, their client's
// withdrawal and approval.rejected alerts to pangate.approvals; approvers write claims, messages, decisions
// and their expiries to pangate.decisions, which only the approver principal may write and gateways only
// read. The approver's Ed25519 signature on a decision, which gateways verify, stays a second, independent
// guard (docs/invariants.md, invariant 5).
package kafkaacl

import (
	"fmt"
	"sort"

	"github.com/pangate/pangate/schemas"
)

// Principals: SCRAM user names, so the Kafka principal of each is "User:<name>".
const (
	Gateway  = "pangate-gateway"
	Approver = "pangate-approver"
	Indexer  = "pangate-indexer"
	Reporter = "pangate-reporter"
	// Admin creates topics, users and ACLs (a super user; no service runs as it).
	Admin = "pangate-admin"
)

// IndexerGroup is the indexer's consumer group (indexer/config's default group).
const IndexerGroup = "pangate-indexer"

// Mechanism is the SASL mechanism of every client listener.
const Mechanism = "SCRAM-SHA-512"

// Services are the principals the services run as, in a fixed order.
var Services = []string{Gateway, Approver, Indexer, Reporter}

// Resource types and operations, spelled as Strimzi's KafkaUser spells them (Kafka's own names,
// title case).
const (
	Topic = "topic"
	Group = "group"

	Read     = "Read"
	Write    = "Write"
	Describe = "Describe"
)

// ACL allows Principal the Operation on the resource of ResourceType named Name (a literal name; no
// prefixes or wildcards, so a new topic is nobody's until it is added here).
type ACL struct {
	Principal    string
	ResourceType string
	Name         string
	Operation    string
}

func (a ACL) String() string {
	return fmt.Sprintf("User:%s %s %s:%s", a.Principal, a.Operation, a.ResourceType, a.Name)
}

// ACLs returns every ACL of every service principal for topics and groups named with prefix (""
// in production and in the local profile). Idempotent writes need no cluster ACL: since Kafka 2.8, Write on
// a topic implies IdempotentWrite.
//
//	gateway   audit: Write, Describe   approvals: Write, Describe (requests, expiries, withdrawals, alerts)
//	          decisions: Read, Describe (the hold tail)
//	approver  approvals: Read, Describe   decisions: Read, Write, Describe (claims, messages, decisions, expiries)
//	indexer   audit, approvals, decisions, operations: Read, Describe; operations: Write (its retention.dropped
//	          events); group: Read
//	reporter  operations: Write, Describe (its report.generated events; it reads ClickHouse, not Kafka)
//
// Only gateways write pangate.audit and only approvers pangate.decisions (contract version 5): the indexer and
// the reporter, which read evidence, cannot add to it. The gateway no longer reads pangate.approvals: it
// reads back nothing it wrote there.
func ACLs(prefix string) []ACL {
	audit, approvals, decisions := prefix+schemas.TopicAudit, prefix+schemas.TopicApprovals, prefix+schemas.TopicDecisions
	operations := prefix + schemas.TopicOperations
	var out []ACL
	add := func(p, typ, name string, ops ...string) {
		for _, op := range ops {
			out = append(out, ACL{Principal: p, ResourceType: typ, Name: name, Operation: op})
		}
	}
	add(Gateway, Topic, audit, Write, Describe)
	add(Gateway, Topic, approvals, Write, Describe)
	add(Gateway, Topic, decisions, Read, Describe)
	add(Approver, Topic, approvals, Read, Describe)
	add(Approver, Topic, decisions, Read, Write, Describe)
	add(Indexer, Topic, audit, Read, Describe)
	add(Indexer, Topic, approvals, Read, Describe)
	add(Indexer, Topic, decisions, Read, Describe)
	add(Indexer, Topic, operations, Read, Write, Describe)
	add(Indexer, Group, prefix+IndexerGroup, Read)
	add(Reporter, Topic, operations, Write, Describe)
	Sort(out)
	return out
}

// Sort orders ACLs by principal, resource, name and operation, so two tables compare with ==.
func Sort(acls []ACL) {
	sort.Slice(acls, func(i, j int) bool {
		a, b := acls[i], acls[j]
		if a.Principal != b.Principal {
			return a.Principal < b.Principal
		}
		if a.ResourceType != b.ResourceType {
			return a.ResourceType < b.ResourceType
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Operation < b.Operation
	})
}

// Writers returns the principals allowed to write topic (super users aside).
func Writers(acls []ACL, topic string) []string {
	var out []string
	for _, a := range acls {
		if a.ResourceType == Topic && a.Name == topic && a.Operation == Write {
			out = append(out, a.Principal)
		}
	}
	sort.Strings(out)
	return out
}
