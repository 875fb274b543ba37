package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
claim_lease: 30s
terminal_users: {alice: alice@acme.example}
`), 0o600)
	t.Setenv("PANGATE_SLACK_SIGNING_SECRET", "from-env-from-env-from-env")
	t.Setenv("PANGATE_SLACK_TOKEN", "xoxb-1")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Slack.SigningSecret != "from-env-from-env-from-env" || c.ClaimLease != 30*time.Second || c.Kafka.Topic != "pangate.approvals" || c.Listen == "" {
		t.Fatalf("%+v", c)
	}
	if err := c.ValidateServe(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateErrors(t *testing.T) {
	for name, c := range map[string]Config{
		"no brokers":   {},
		"bad path":     {Kafka: Kafka{Brokers: []string{"x"}}, CallbackPath: "slack"},
		"bad url":      {Kafka: Kafka{Brokers: []string{"x"}}, Slack: Slack{APIURL: "ftp://x"}},
		"bad terminal": {Kafka: Kafka{Brokers: []string{"x"}}, TerminalUsers: map[string]string{"bob": "bob"}},
		"bad level":    {Kafka: Kafka{Brokers: []string{"x"}}, LogLevel: "loud"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := Config{Kafka: Kafka{Brokers: []string{"x"}}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateServe(); err == nil || !strings.Contains(err.Error(), "PANGATE_SLACK_TOKEN") {
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
