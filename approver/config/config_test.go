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
decision_key_file: /run/secrets/decision.pem
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
		"no brokers":      {},
		"no decision key": {Kafka: Kafka{Brokers: []string{"x"}}},
		"bad path":        {Kafka: Kafka{Brokers: []string{"x"}}, DecisionKeyFile: "k", CallbackPath: "slack"},
		"bad url":         {Kafka: Kafka{Brokers: []string{"x"}}, DecisionKeyFile: "k", Slack: Slack{APIURL: "ftp://x"}},
		"bad terminal":    {Kafka: Kafka{Brokers: []string{"x"}}, DecisionKeyFile: "k", TerminalUsers: map[string]string{"bob": "bob"}},
		"bad level":       {Kafka: Kafka{Brokers: []string{"x"}}, DecisionKeyFile: "k", LogLevel: "loud"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := Config{Kafka: Kafka{Brokers: []string{"x"}}, DecisionKeyFile: "k"}
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

func TestSocketMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "approver.yaml")
	os.WriteFile(p, []byte(`
kafka: {brokers: [127.0.0.1:9092]}
slack: {channel: C1, token: xoxb-1, socket_mode: true}
approvers: [U1]
decision_key_file: /run/secrets/decision.pem
`), 0o600)
	t.Setenv("PANGATE_SLACK_SIGNING_SECRET", "")
	// socket_mode without an app token: Validate names what is missing and where to get it.
	t.Setenv("PANGATE_SLACK_APP_TOKEN", "")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "PANGATE_SLACK_APP_TOKEN") || !strings.Contains(err.Error(), "xapp-") {
		t.Fatalf("socket mode without app token: %v", err)
	}
	// A bot token in the app token's place is refused without being echoed.
	t.Setenv("PANGATE_SLACK_APP_TOKEN", "xoxb-secret-bot-token")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), `"xapp-"`) || strings.Contains(err.Error(), "secret-bot") {
		t.Fatalf("wrong token kind: %v", err)
	}
	t.Setenv("PANGATE_SLACK_APP_TOKEN", "xapp-1-A1-2-abc")
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
