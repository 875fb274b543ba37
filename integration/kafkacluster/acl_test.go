package kafkacluster_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/pangate/pangate/deploy/kafkaacl"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// probeEvent is a well-formed report.generated event (so consumers of any topic can parse it) that
// names the test as its source.
func probeEvent(t *testing.T, who string) *kgo.Record {
	t.Helper()
	e, err := schemas.NewUnchained("kafkacluster-acl-"+schemas.NewID(), schemas.Source{Instance: "kafkacluster-acl-" + who, Version: "test"},
		schemas.TypeReportGenerated, schemas.ReportGenerated{Kind: "package", From: "2026-01-01T00:00:00Z", To: "2026-01-02T00:00:00Z", Location: "test", ManifestHash: "0"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := schemas.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Key: []byte(e.Session), Value: b}
}

// produce sends one record to topic and returns the broker's answer; a refused client gets its error
// within a few seconds (no retrying until the default 2-minute delivery timeout).
func produce(t *testing.T, cl *kgo.Client, topic, who string) error {
	t.Helper()
	r := probeEvent(t, who)
	r.Topic = topic
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, r).FirstErr()
}

// quick are client options that make a refusal surface fast.
func quick() []kgo.Opt {
	return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(10 * time.Second),
		kgo.RequestRetries(2), kgo.DialTimeout(3 * time.Second)}
}

// TestACLs checks, against the real brokers, that only the principals of deploy/kafkaacl may produce
// where the table says: a client without credentials, with a wrong password, or over plaintext is refused;
// only the approver may write the decisions topic — the gateway, the indexer, the reporter and an
// authenticated principal without ACLs get TOPIC_AUTHORIZATION_FAILED there (issue 18.2) — and only the
// gateway the approvals topic and the audit topic (the indexer and the reporter, which read the evidence,
// cannot add to it: their own records go to the operations topic); each can write where it must. It also
// reads the brokers' ACLs back: exactly the table.
func TestACLs(t *testing.T) {
	c := clusterEnv(t)
	audit, approvals, decisions, operations := schemas.TopicAudit, schemas.TopicApprovals, schemas.TopicDecisions, schemas.TopicOperations

	// The refusals each wait out the delivery timeout: run them side by side.
	t.Run("Refused", func(t *testing.T) { refusedClients(t, c, audit) })
	adm := kadm.NewClient(c.client(t, kafkaacl.Admin))
	tableChecks(t, c, adm, audit, approvals, decisions, operations)
}

func refusedClients(t *testing.T, c *cluster, audit string) {
	t.Run("NoCredentials", func(t *testing.T) {
		t.Parallel()
		cl := c.clientWith(t, append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.DialTLSConfig(c.tlsConfig(t))}, quick()...)...)
		if err := produce(t, cl, audit, "anonymous"); err == nil {
			t.Fatalf("a producer with TLS and no SASL credentials wrote to %s", audit)
		} else {
			t.Logf("no credentials: refused: %v", err)
		}
	})
	t.Run("Plaintext", func(t *testing.T) {
		t.Parallel()
		cl := c.clientWith(t, append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...),
			kgo.SASL(scram.Auth{User: kafkaacl.Gateway, Pass: c.password(t, kafkaacl.Gateway)}.AsSha512Mechanism())}, quick()...)...)
		if err := produce(t, cl, audit, "plaintext"); err == nil {
			t.Fatalf("a producer without TLS wrote to %s", audit)
		}
	})
	t.Run("WrongPassword", func(t *testing.T) {
		t.Parallel()
		cl := c.clientWith(t, append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.DialTLSConfig(c.tlsConfig(t)),
			kgo.SASL(scram.Auth{User: kafkaacl.Gateway, Pass: "not-the-password"}.AsSha512Mechanism())}, quick()...)...)
		err := produce(t, cl, audit, "wrong-password")
		if err == nil {
			t.Fatalf("a producer with a wrong password wrote to %s", audit)
		}
		t.Logf("wrong password: refused: %v", err)
	})
}

func tableChecks(t *testing.T, c *cluster, adm *kadm.Client, audit, approvals, decisions, operations string) {
	// An authenticated user the table does not know: created here with the admin API, removed after.
	intruder := stack.UniqueName(t, "kafkacluster-intruder")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: intruder, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "intruder-password"}}); err != nil {
		t.Fatalf("create SCRAM user %s: %v", intruder, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: intruder, Mechanism: kadm.ScramSha512}}, nil)
	})

	for _, tc := range []struct {
		user, topic string
		allowed     bool
	}{
		{kafkaacl.Gateway, audit, true},
		{kafkaacl.Gateway, approvals, true},  // approval.requested / expired / withdrawn by the client
		{kafkaacl.Gateway, decisions, false}, // only approvers may write decisions
		{kafkaacl.Approver, decisions, true}, // claims, messages, decisions, expiries
		{kafkaacl.Approver, approvals, false},
		{kafkaacl.Reporter, operations, true}, // report.generated
		{kafkaacl.Indexer, operations, true},  // retention.dropped
		{kafkaacl.Reporter, audit, false},     // only gateways add to the session evidence
		{kafkaacl.Indexer, audit, false},
		{kafkaacl.Gateway, operations, false},
		{kafkaacl.Approver, operations, false},
		{intruder, operations, false},
		{kafkaacl.Indexer, approvals, false},
		{kafkaacl.Indexer, decisions, false},
		{kafkaacl.Reporter, approvals, false},
		{kafkaacl.Reporter, decisions, false},
		{kafkaacl.Approver, audit, false},
		{intruder, audit, false},
		{intruder, approvals, false},
		{intruder, decisions, false},
	} {
		t.Run(fmt.Sprintf("%s-writes-%s", tc.user, tc.topic), func(t *testing.T) {
			var cl *kgo.Client
			if tc.user == intruder {
				cl = c.clientWith(t, append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.DialTLSConfig(c.tlsConfig(t)),
					kgo.SASL(scram.Auth{User: intruder, Pass: "intruder-password"}.AsSha512Mechanism())}, quick()...)...)
			} else {
				cl = c.client(t, tc.user, quick()...)
			}
			err := produce(t, cl, tc.topic, tc.user)
			switch {
			case tc.allowed && err != nil:
				t.Fatalf("%s may write %s (deploy/kafkaacl) but the brokers refused: %v", tc.user, tc.topic, err)
			case !tc.allowed && err == nil:
				t.Fatalf("%s wrote to %s; the table allows it only to %v", tc.user, tc.topic, kafkaacl.Writers(kafkaacl.ACLs(""), tc.topic))
			case !tc.allowed && !errors.Is(err, kerr.TopicAuthorizationFailed):
				t.Fatalf("%s writing %s: refused with %v; want TOPIC_AUTHORIZATION_FAILED", tc.user, tc.topic, err)
			}
		})
	}

	t.Run("BrokersHoldTheTable", func(t *testing.T) {
		res, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().Deny().AllowHosts().DenyHosts().
			Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
		if err == nil {
			err = res[0].Err
		}
		if err != nil {
			t.Fatalf("describe ACLs: %v", err)
		}
		want := map[string]bool{}
		for _, a := range kafkaacl.ACLs("") {
			want[a.String()] = true
		}
		services := map[string]bool{}
		for _, s := range kafkaacl.Services {
			services["User:"+s] = true
		}
		got := map[string]bool{}
		for _, d := range res[0].Described {
			if !services[d.Principal] {
				continue // ACLs of others (none expected; super users need none)
			}
			a := kafkaacl.ACL{Principal: d.Principal[len("User:"):], Name: d.Name}
			switch d.Type.String() {
			case "TOPIC":
				a.ResourceType = kafkaacl.Topic
			case "GROUP":
				a.ResourceType = kafkaacl.Group
			default:
				a.ResourceType = d.Type.String()
			}
			a.Operation = map[string]string{"READ": kafkaacl.Read, "WRITE": kafkaacl.Write, "DESCRIBE": kafkaacl.Describe}[d.Operation.String()]
			if a.Operation == "" {
				a.Operation = d.Operation.String()
			}
			if d.Permission.String() != "ALLOW" || d.Pattern.String() != "LITERAL" || d.Host != "*" {
				t.Errorf("ACL %s: %s %s host %s; the table has only literal allow ACLs for any host", a, d.Permission, d.Pattern, d.Host)
			}
			got[a.String()] = true
			if !want[a.String()] {
				t.Errorf("the brokers hold ACL %s, which deploy/kafkaacl does not", a)
			}
		}
		for w := range want {
			if !got[w] {
				t.Errorf("deploy/kafkaacl has ACL %s, which the brokers do not hold", w)
			}
		}
	})
}
