package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/internal/kafka"
)

func TestLoadFileAndEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "approver.yaml")
	os.WriteFile(p, []byte(`
instance: ap-1
kafka:
  brokers: [127.0.0.1:9092]
slack:
  channel: C1
  signing_secret: from-file-from-file
approvers: [U1]
decision_key_file: /run/secrets/decision.pem
claim_lease: 30s
terminal_users: {alice: alice@acme.example}
`), 0o600)
	t.Setenv("PANGATE_APPROVER_SLACK_SIGNING_SECRET", "from-env-from-env-from-env")
	t.Setenv("PANGATE_APPROVER_SLACK_TOKEN", "xoxb-1")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Slack.SigningSecret != "from-env-from-env-from-env" || c.ClaimLease != 30*time.Second || c.Kafka.ApprovalsTopic() != "pangate.approvals" || c.Listen == "" {
		t.Fatalf("%+v", c)
	}
	if err := c.ValidateServe(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateErrors(t *testing.T) {
	for name, c := range map[string]Config{
		"no brokers":      {},
		"no decision key": {Kafka: Kafka{Config: kafka.Config{Brokers: []string{"x:1"}}}},
		"bad path":        {Kafka: Kafka{Config: kafka.Config{Brokers: []string{"x:1"}}}, DecisionKeyFile: "k", CallbackPath: "slack"},
		"bad url":         {Kafka: Kafka{Config: kafka.Config{Brokers: []string{"x:1"}}}, DecisionKeyFile: "k", Slack: Slack{APIURL: "ftp://x"}},
		"bad terminal":    {Kafka: Kafka{Config: kafka.Config{Brokers: []string{"x:1"}}}, DecisionKeyFile: "k", TerminalUsers: map[string]string{"bob": "bob"}},
		"bad level":       {Kafka: Kafka{Config: kafka.Config{Brokers: []string{"x:1"}}}, DecisionKeyFile: "k", LogLevel: "loud"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := Config{Kafka: Kafka{Config: kafka.Config{Brokers: []string{"x:1"}}}, DecisionKeyFile: "k"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateServe(); err == nil || !strings.Contains(err.Error(), "PANGATE_APPROVER_SLACK_TOKEN") {
		t.Fatalf("serve without token: %v", err)
	}
}

func TestUnknownFieldRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.yaml")
	os.WriteFile(p, []byte("kafka: {brokers: [x]}\napprover: [U1]\n"), 0o600)
	if _, err := Load(p); err == nil {
		t.Fatal("typo'd field accepted")
	}
}

func TestSocketMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "approver.yaml")
	os.WriteFile(p, []byte(`
kafka: {brokers: [127.0.0.1:9092]}
slack: {channel: C1, token: xoxb-1, socket_mode: true}
approvers: [U1]
decision_key_file: /run/secrets/decision.pem
`), 0o600)
	t.Setenv("PANGATE_APPROVER_SLACK_SIGNING_SECRET", "")
	// socket_mode without an app token: Validate names what is missing and where to get it.
	t.Setenv("PANGATE_APPROVER_SLACK_APP_TOKEN", "")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "PANGATE_APPROVER_SLACK_APP_TOKEN") || !strings.Contains(err.Error(), "xapp-") {
		t.Fatalf("socket mode without app token: %v", err)
	}
	// A bot token in the app token's place is refused without being echoed.
	t.Setenv("PANGATE_APPROVER_SLACK_APP_TOKEN", "xoxb-secret-bot-token")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), `"xapp-"`) || strings.Contains(err.Error(), "secret-bot") {
		t.Fatalf("wrong token kind: %v", err)
	}
	t.Setenv("PANGATE_APPROVER_SLACK_APP_TOKEN", "xapp-1-A1-2-abc")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Slack.SocketMode || c.Slack.AppToken != "xapp-1-A1-2-abc" {
		t.Fatalf("%+v", c.Slack)
	}
	// No signing secret is needed in socket mode (the HTTP endpoint then refuses everything) ...
	if err := c.ValidateServe(); err != nil {
		t.Fatalf("socket mode without signing secret: %v", err)
	}
	// ... but it still is for the HTTP endpoint alone.
	c.Slack.SocketMode = false
	if err := c.ValidateServe(); err == nil || !strings.Contains(err.Error(), "signing_secret") {
		t.Fatalf("http mode without signing secret: %v", err)
	}
}

// TestIgnoresUnprefixedEnv: the approver read the unprefixed PANGATE_KAFKA_BROKERS, so a shell with the
// local stack's .stack/env exported pointed the demo's approver at the stack's Kafka (issue 15). Only
// PANGATE_APPROVER_ variables count.
func TestIgnoresUnprefixedEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "approver.yaml")
	os.WriteFile(p, []byte("kafka: {brokers: [\"demo:1\"], topic_prefix: demo.}\nslack: {token: xoxb-file, channel: C1}\ndecision_key_file: k\n"), 0o600)
	for k, v := range map[string]string{
		"PANGATE_KAFKA_BROKERS": "stack:19092", "PANGATE_APPROVALS_TOPIC": "pangate.approvals",
		"PANGATE_SLACK_TOKEN": "xoxb-ambient", "PANGATE_SLACK_CHANNEL": "CAMBIENT", "PANGATE_APPROVERS": "UAMBIENT",
	} {
		t.Setenv(k, v)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Kafka.Brokers, ",") != "demo:1" || c.Kafka.ApprovalsTopic() != "demo.pangate.approvals" || c.Slack.Token != "xoxb-file" ||
		c.Slack.Channel != "C1" || len(c.Approvers) != 0 {
		t.Fatalf("unprefixed variables were read: %+v", c)
	}
	t.Setenv("PANGATE_APPROVER_KAFKA_BROKERS", "own:1,own:2")
	t.Setenv("PANGATE_APPROVER_KAFKA_TOPIC_PREFIX", "own.")
	if c, err = Load(p); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Kafka.Brokers, ",") != "own:1,own:2" || c.Kafka.ApprovalsTopic() != "own.pangate.approvals" {
		t.Fatalf("PANGATE_APPROVER_ variables not read: %+v", c)
	}
}

// TestKafkaTopicRemoved: kafka.topic named the whole approvals topic; the approver now takes the prefix
// the gateway uses. An old configuration must fail saying what to write instead, not run on a default.
func TestKafkaTopicRemoved(t *testing.T) {
	p := filepath.Join(t.TempDir(), "approver.yaml")
	os.WriteFile(p, []byte("kafka: {brokers: [\"k:1\"], topic: t1-pangate.approvals}\ndecision_key_file: k\n"), 0o600)
	_, err := LoadEnv(p, nil)
	if err == nil || !strings.Contains(err.Error(), "kafka.topic_prefix") || !strings.Contains(err.Error(), `topic_prefix: "t1-"`) {
		t.Fatalf("kafka.topic in the file: %v, want a message naming topic_prefix \"t1-\"", err)
	}
	q := filepath.Join(t.TempDir(), "approver.yaml")
	os.WriteFile(q, []byte("kafka: {brokers: [\"k:1\"]}\ndecision_key_file: k\n"), 0o600)
	_, err = LoadEnv(q, []string{"PANGATE_APPROVER_KAFKA_TOPIC=own.approvals"})
	if err == nil || !strings.Contains(err.Error(), "PANGATE_APPROVER_KAFKA_TOPIC_PREFIX") {
		t.Fatalf("PANGATE_APPROVER_KAFKA_TOPIC: %v, want a message naming the prefix variable", err)
	}
}

// TestKafkaSecurityFromEnv: the shared client block's TLS and SASL settings are reachable through the
// approver's own variables, and checked.
func TestKafkaSecurityFromEnv(t *testing.T) {
	c, err := LoadEnv("", []string{"PANGATE_APPROVER_KAFKA_BROKERS=k:1", "PANGATE_APPROVER_DECISION_KEY_FILE=k",
		"PANGATE_APPROVER_KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "PANGATE_APPROVER_KAFKA_SASL_USERNAME=approver",
		"PANGATE_APPROVER_KAFKA_SASL_PASSWORD=pw", "PANGATE_APPROVER_KAFKA_TLS_ENABLED=true"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.SASL.Mechanism != "SCRAM-SHA-512" || c.Kafka.SASL.Password != "pw" || !c.Kafka.TLS.Enabled {
		t.Fatalf("kafka block from the environment: %+v", c.Kafka)
	}
	_, err = LoadEnv("", []string{"PANGATE_APPROVER_KAFKA_BROKERS=k:1", "PANGATE_APPROVER_DECISION_KEY_FILE=k",
		"PANGATE_APPROVER_KAFKA_SASL_MECHANISM=GSSAPI"})
	if err == nil || !strings.Contains(err.Error(), "kafka.sasl.mechanism") {
		t.Fatalf("unknown mechanism: %v", err)
	}
}
