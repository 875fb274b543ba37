package kubernetes

import (
	"crypto/ed25519"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	approverconfig "github.com/pangate/pangate/approver/config"
	"github.com/pangate/pangate/deploy/kafkaacl"
	"github.com/pangate/pangate/gateway/audit"
	gatewayconfig "github.com/pangate/pangate/gateway/config"
	indexerconfig "github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/internal/kafka"
	"github.com/pangate/pangate/schemas"
)

// loaded is what the cross-service checks need from one service's configuration.
type loaded struct {
	brokers    []string          // Kafka bootstrap servers
	topics     []string          // Kafka topics it reads or writes
	clickhouse []string          // ClickHouse addresses (indexer, reporter)
	database   string            // ClickHouse database (indexer, reporter)
	cluster    string            // ClickHouse cluster (indexer: clickhouse.cluster)
	groups     map[string]string // approver: policy group name -> Slack user group
	kafka      kafka.Config      // the Kafka client block; local paths (the rebuilt pod's files)
}

// loaders load and validate one workload's embedded configuration with the service's own config package,
// as its main does, and check the listen addresses against the container ports.
var loaders = map[string]func(t *testing.T, p *pod) loaded{
	"gateway":  loadGateway,
	"approver": loadApprover,
	"indexer":  loadIndexer,
	"reporter": loadReporter,
}

func loadGateway(t *testing.T, p *pod) loaded {
	_, path := p.configFile(t)
	// gateway/main.go: config.Load(path, os.Environ()) then Validate.
	c, err := gatewayconfig.Load(path, p.Env)
	if err != nil {
		t.Fatalf("gateway config.Load: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("gateway config.Validate:\n%v", err)
	}
	p.listensOn(t, "listen", c.Listen, "pgwire")
	if c.Ops.Listen == "off" {
		t.Errorf("gateway ops.listen is off: the probes need /healthz and /readyz")
	} else {
		p.listensOn(t, "ops.listen", c.Ops.Listen, "ops")
	}
	// gateway/main.go gives its sessions 30s to end (revoking their roles), then writes a last checkpoint
	// and gateway.stopped: Kubernetes must not kill it before.
	if g := p.w.Pod.Spec.TerminationGracePeriodSeconds; g == nil || *g < 40 {
		t.Errorf("gateway terminationGracePeriodSeconds %v: use at least 40 (30s for sessions to end, then the last checkpoint)", g)
	}
	if c.Instance != p.Name {
		t.Errorf("gateway instance %q, want the pod name %q (PANGATE_GATEWAY_INSTANCE): checkpoints and events name the instance", c.Instance, p.Name)
	}
	// Several replicas behind one load balancer (design invariant 7) need the shared secrets.
	if c.CancelKeyFile == "" {
		t.Error("gateway cancel_key_file is empty: with several replicas a CancelRequest reaches the wrong instance")
	}
	if c.Mask.FingerprintKeyFile == "" {
		t.Error("gateway mask.fingerprint_key_file is empty: each replica would fingerprint PANs with its own random key")
	}
	if c.TLS.CertFile == "" || c.AllowPlaintextLoopback {
		t.Error("gateway: TLS is required in the cluster and allow_plaintext_loopback must be off")
	}
	if c.PolicyFile == "" {
		t.Error("gateway policy_file is empty: allow-all is for development only")
	}
	if !c.Approvals.Enabled {
		t.Error("gateway approvals.enabled is false: held statements would be refused although the approver runs")
	}
	if key, err := audit.LoadKey(c.Checkpoint.KeyFile); err != nil {
		t.Errorf("gateway checkpoint.key_file: %v", err)
	} else if !key.Equal(secretKey("pangate-gateway-checkpoint-key")) {
		t.Error("gateway checkpoint.key_file is not the private key of Secret pangate-gateway-checkpoint-key")
	}
	if keys, err := schemas.LoadDecisionKeys(c.Approvals.DecisionKeys); err != nil {
		t.Errorf("gateway approvals.decision_keys: %v", err)
	} else if _, ok := keys[schemas.KeyID(secretKey("pangate-approver-decision-key").Public().(ed25519.PublicKey))]; !ok {
		t.Error("gateway approvals.decision_keys does not hold the public key of Secret pangate-approver-decision-key")
	}
	if *c.Kafka.EnsureTopics {
		t.Error("gateway kafka.ensure_topics is true: the topics are KafkaTopic resources (kafka-topics.yaml)")
	}
	// It writes the audit and approvals topics and tails the decisions topic (gateway/hold).
	return loaded{brokers: c.Kafka.Brokers, kafka: c.Kafka.Config,
		topics: []string{c.Kafka.Topic(schemas.TopicAudit), c.Kafka.Topic(schemas.TopicApprovals), c.Kafka.Topic(schemas.TopicDecisions)}}
}

func loadApprover(t *testing.T, p *pod) loaded {
	_, path := p.configFile(t)
	// approver/main.go serve: config.Load(path) (file, then os.Getenv, then Validate) then ValidateServe.
	p.setenv(t)
	c, err := approverconfig.Load(path)
	if err != nil {
		t.Fatalf("approver config.Load: %v", err)
	}
	if err := c.ValidateServe(); err != nil {
		t.Fatalf("approver config.ValidateServe: %v", err)
	}
	p.listensOn(t, "listen", c.Listen, "http")
	if c.Instance != p.Name {
		t.Errorf("approver instance %q, want the pod name %q", c.Instance, p.Name)
	}
	if c.Slack.Token != secretValue("pangate-approver-slack", "token") || c.Slack.SigningSecret != secretValue("pangate-approver-slack", "signing-secret") {
		t.Error("approver: the Slack token and signing secret must come from the Secret through the environment")
	}
	if c.ClaimLease <= 0 {
		t.Error("approver claim_lease must be set explicitly: every replica has to use the same value")
	}
	if key, _, err := c.DecisionKeys(); err != nil {
		t.Errorf("approver decision_key_file: %v", err)
	} else if !key.Equal(secretKey("pangate-approver-decision-key")) {
		t.Error("approver decision_key_file is not the private key of Secret pangate-approver-decision-key")
	}
	return loaded{brokers: c.Kafka.Brokers, topics: []string{c.Kafka.ApprovalsTopic(), c.Kafka.Topic(schemas.TopicDecisions)}, groups: c.Groups, kafka: c.Kafka.Config}
}

func loadIndexer(t *testing.T, p *pod) loaded {
	_, path := p.configFile(t)
	// indexer/main.go: config.Load(path) (file, then os.LookupEnv, then Validate).
	p.setenv(t)
	c, err := indexerconfig.Load(path)
	if err != nil {
		t.Fatalf("indexer config.Load: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("indexer config.Validate: %v", err)
	}
	p.listensOn(t, "listen", c.Listen, "ops")
	if c.Instance != p.Name {
		t.Errorf("indexer instance %q, want the pod name %q", c.Instance, p.Name)
	}
	if c.ClickHouse.Password == "" || c.ClickHouse.MigratePassword == "" {
		t.Error("indexer: both ClickHouse passwords must come from the Secret")
	}
	return loaded{brokers: c.Kafka.Brokers, topics: c.Topics(), clickhouse: c.ClickHouse.Addrs, database: c.ClickHouse.Database, cluster: c.ClickHouse.Cluster, kafka: c.Kafka.Config}
}

// TestServiceConfigs loads every workload's embedded configuration with its service's config package, in
// a rebuilt copy of the pod's filesystem and environment, and checks what the services must agree on.
func TestServiceConfigs(t *testing.T) {
	m := loadManifests(t)
	topicNames := map[string]bool{}
	for _, kt := range m.ofKind("KafkaTopic") {
		topicNames[kt.Spec.TopicName] = true
	}
	var brokers [][]string
	var names []string
	byService := map[string]loaded{}
	for _, w := range m.workloads() {
		svc := w.Owner.Metadata.Labels["app.kubernetes.io/name"]
		t.Run(w.Owner.Kind+"/"+w.Owner.Metadata.Name, func(t *testing.T) {
			load, ok := loaders[svc]
			if !ok {
				t.Fatalf("no loader for service %q", svc)
			}
			got := load(t, newPod(t, m, w))
			byService[svc] = got
			kafkaSecured(t, svc, got.kafka)
			for _, tp := range got.topics {
				if !topicNames[tp] {
					t.Errorf("%s uses topic %q, which kafka-topics.yaml does not create", svc, tp)
				}
			}
			if got.brokers != nil {
				b := slices.Clone(got.brokers)
				sort.Strings(b)
				brokers = append(brokers, b)
				names = append(names, w.Owner.Metadata.Name)
			}
		})
	}
	for i := 1; i < len(brokers); i++ {
		if !slices.Equal(brokers[i], brokers[0]) {
			t.Errorf("%s uses Kafka brokers %v, %s uses %v: one cluster for all", names[i], brokers[i], names[0], brokers[0])
		}
	}
	// The reporter reads what the indexer writes: same ClickHouse, same database, and the one the cluster
	// DDL creates (internal/auditstore/cluster uses database pangate).
	idx, rep := byService["indexer"], byService["reporter"]
	if idx.database != clusterDatabase || rep.database != idx.database {
		t.Errorf("ClickHouse database: indexer %q, reporter %q, cluster DDL %q: all must be the same", idx.database, rep.database, clusterDatabase)
	}
	// On the cluster (clickhouse-cluster/) the indexer lists every replica and the reporter reads through the
	// Service in front of them (TestClickHouseClusterMatchesLocalProfile).
	if len(rep.clickhouse) != 1 || !slices.Contains(idx.clickhouse, rep.clickhouse[0]) && (idx.cluster == "" || rep.clickhouse[0] != clusterService) {
		t.Errorf("the reporter reads ClickHouse at %v, the indexer writes %v", rep.clickhouse, idx.clickhouse)
	}
	// Every approver group the policy names is mapped to a Slack group by the approver; an unmapped one
	// would fall back to the approver's catch-all approver_group.
	for _, g := range policyApproverGroups(t, m) {
		if _, ok := byService["approver"].groups[g]; !ok {
			t.Errorf("the policy holds statements for approver group %q, which the approver's groups do not map to a Slack user group", g)
		}
	}
}

// clusterDatabase is the database internal/auditstore/cluster creates.
const clusterDatabase = "pangate"

// policyApproverGroups returns every "approvers:" value of the policy in the gateway-policy ConfigMap.
func policyApproverGroups(t *testing.T, m manifests) []string {
	t.Helper()
	cm, ok := m.find("ConfigMap", namespace, policyConfigName)
	if !ok {
		t.Fatalf("no ConfigMap %s", policyConfigName)
	}
	var doc any
	if err := yaml.Unmarshal([]byte(cm.Data[policyKey]), &doc); err != nil {
		t.Fatalf("policy: %v", err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "approvers" && !slices.Contains(out, s) {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if len(out) == 0 {
		t.Error("the policy names no approver group (approvals.approvers)")
	}
	return out
}

// kafkaSecured checks a service's Kafka client block against the cluster kafka-users.yaml describes: TLS
// verified with Strimzi's cluster CA (Secret pangate-cluster-ca-cert, key ca.crt) and SCRAM-SHA-512 as the
// service's own KafkaUser, whose password Strimzi keeps in the Secret named after the user (key password).
// Another service's principal would get another service's ACLs (deploy/kafkaacl).
func kafkaSecured(t *testing.T, svc string, k kafka.Config) {
	t.Helper()
	user := "pangate-" + svc
	if !slices.Contains(kafkaacl.Services, user) {
		t.Fatalf("%s: no KafkaUser %s in deploy/kafkaacl", svc, user)
	}
	if k.TLS.CAFile == "" {
		t.Errorf("%s kafka.tls.ca_file is empty: the brokers' TLS listener is verified with Strimzi's cluster CA", svc)
	} else if b, err := os.ReadFile(k.TLS.CAFile); err != nil || string(b) != secretValue("pangate-cluster-ca-cert", "ca.crt") {
		t.Errorf("%s kafka.tls.ca_file %s is not key ca.crt of Secret pangate-cluster-ca-cert (%v)", svc, k.TLS.CAFile, err)
	}
	if k.SASL.Mechanism != kafkaacl.Mechanism || k.SASL.Username != user {
		t.Errorf("%s kafka.sasl: mechanism %q user %q, want %s as %s", svc, k.SASL.Mechanism, k.SASL.Username, kafkaacl.Mechanism, user)
	}
	if k.SASL.Password != "" {
		t.Errorf("%s kafka.sasl.password is set in the ConfigMap: use password_file from Secret %s", svc, user)
	}
	if b, err := os.ReadFile(k.SASL.PasswordFile); err != nil || string(b) != secretValue(user, "password") {
		t.Errorf("%s kafka.sasl.password_file %q is not key password of Secret %s (%v)", svc, k.SASL.PasswordFile, user, err)
	}
	for _, b := range k.Brokers {
		if strings.HasSuffix(b, ":9092") {
			t.Errorf("%s kafka broker %s: 9092 is Strimzi's plain listener; the TLS+SCRAM listener is 9093", svc, b)
		}
	}
}
