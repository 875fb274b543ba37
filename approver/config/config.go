// Package config reads the approver's configuration: a YAML file, then PANGATE_APPROVER_* environment
// variables that override it (secrets belong in the environment; internal/configload), then Validate with
// messages that say what to fix.
package config

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pangate/pangate/approver/callback"
	"github.com/pangate/pangate/internal/configload"
	"github.com/pangate/pangate/internal/kafka"
	"github.com/pangate/pangate/schemas"
)

// Config is the approver's whole configuration.
type Config struct {
	// Instance names this approver in events (a per-run suffix is added). Default: the host name.
	Instance string `yaml:"instance"`
	// Listen is the HTTP address of the interactions endpoint, /healthz, /readyz and /metrics.
	Listen string `yaml:"listen"`
	// CallbackPath is the interactions endpoint path configured in the Slack app.
	CallbackPath string `yaml:"callback_path"`
	Kafka        Kafka  `yaml:"kafka"`
	Slack        Slack  `yaml:"slack"`
	// Approvers are Slack user ids allowed to decide any approval.
	Approvers []string `yaml:"approvers"`
	// ApproverGroup is a Slack user group id whose members may decide any approval.
	ApproverGroup string `yaml:"approver_group"`
	// Groups maps a policy's approver_group name to a Slack user group id.
	Groups map[string]string `yaml:"groups"`
	// TerminalUsers maps a local user name allowed to decide from the terminal to their email (for the
	// evidence and the self-approval check).
	TerminalUsers map[string]string `yaml:"terminal_users"`
	// WorkloadOwners name the owners of workloads (by OIDC subject or repository claim): they may not
	// approve their own workload's statements, although a workload identity carries no email to compare
	// theirs with. See docs/approvals.md "Self-approval".
	WorkloadOwners []callback.WorkloadOwner `yaml:"workload_owners"`
	// ClaimLease: see service.Config.Lease. Every instance must use the same value.
	ClaimLease time.Duration `yaml:"claim_lease"`
	// ExpiryGrace: see service.Config.ExpiryGrace.
	ExpiryGrace time.Duration `yaml:"expiry_grace"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// DecisionKeyFile is the Ed25519 private key (PKCS #8 PEM, `approver keygen`) every decision is signed
	// with; gateways trust its public key (approvals.decision_keys). Prefer a mounted secret file.
	DecisionKeyFile string `yaml:"decision_key_file"`
	// DecisionPublicKeys are public key files of earlier decision keys of this deployment, so that a
	// rotated approver still counts decisions its predecessor signed when it rebuilds state from the log.
	DecisionPublicKeys []string `yaml:"decision_public_keys"`
}

// Kafka is the client block every pangate service shares (brokers, topic_prefix, tls, sasl; see
// internal/kafka). The approvals topic is topic_prefix + pangate.approvals, as the gateway names it.
type Kafka struct {
	kafka.Config `yaml:",inline"`
	// RemovedTopic is the full topic name earlier versions read (kafka.topic); Validate refuses it and says
	// which topic_prefix names the same topic.
	RemovedTopic string `yaml:"topic,omitempty"`
}

// ApprovalsTopic is the approvals topic: the prefix followed by pangate.approvals.
func (k Kafka) ApprovalsTopic() string { return k.Topic(schemas.TopicApprovals) }

// Slack holds the Slack app's settings.
type Slack struct {
	// Token is the bot token (xoxb-…); prefer PANGATE_APPROVER_SLACK_TOKEN.
	Token string `yaml:"token"`
	// SigningSecret verifies interaction callbacks; prefer PANGATE_APPROVER_SLACK_SIGNING_SECRET.
	SigningSecret string `yaml:"signing_secret"`
	// Channel is the channel id requests are posted to.
	Channel string `yaml:"channel"`
	// APIURL overrides the Web API base URL (tests point it at a fake Slack); must end with "/".
	APIURL string `yaml:"api_url"`
	// SocketMode receives clicks over a Socket Mode connection the approver opens, instead of Slack posting
	// them to the public interactions endpoint. Needs AppToken.
	SocketMode bool `yaml:"socket_mode"`
	// AppToken is the app-level token (xapp-…, scope connections:write) Socket Mode connects with; prefer
	// PANGATE_APPROVER_SLACK_APP_TOKEN.
	AppToken string `yaml:"app_token"`
}

// EnvPrefix starts every environment override: PANGATE_APPROVER_<YAML PATH>, for example
// PANGATE_APPROVER_SLACK_TOKEN or PANGATE_APPROVER_KAFKA_BROKERS (comma-separated).
const EnvPrefix = "PANGATE_APPROVER_"

// Load reads path (empty: no file), applies the PANGATE_APPROVER_* environment and defaults, and validates.
func Load(path string) (Config, error) { return LoadEnv(path, os.Environ()) }

// LoadEnv is Load with the environment given (os.Environ() form).
func LoadEnv(path string, environ []string) (Config, error) {
	var c Config
	if err := configload.Load(path, &c, configload.Options{Prefix: EnvPrefix, Environ: environ,
		Ignore: []string{"CONFIG"}}); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate fills defaults and reports the first problem in words a user can act on.
func (c *Config) Validate() error {
	if c.Instance == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "approver"
		}
		c.Instance = h
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8090"
	}
	if c.CallbackPath == "" {
		c.CallbackPath = "/slack/interactions"
	}
	if !strings.HasPrefix(c.CallbackPath, "/") {
		return fmt.Errorf("config: callback_path %q must start with /", c.CallbackPath)
	}
	if c.Kafka.RemovedTopic != "" {
		hint := ""
		if p, ok := strings.CutSuffix(c.Kafka.RemovedTopic, schemas.TopicApprovals); ok {
			hint = fmt.Sprintf(" (for %q: topic_prefix: %q)", c.Kafka.RemovedTopic, p)
		}
		return fmt.Errorf("config: kafka.topic (or PANGATE_APPROVER_KAFKA_TOPIC) is no longer read: set kafka.topic_prefix (PANGATE_APPROVER_KAFKA_TOPIC_PREFIX) instead, the same prefix as the gateway's; the approvals topic is the prefix followed by %s%s", schemas.TopicApprovals, hint)
	}
	var bs []string
	for _, b := range c.Kafka.Brokers {
		if b = strings.TrimSpace(b); b != "" {
			bs = append(bs, b)
		}
	}
	c.Kafka.Brokers = bs
	if p := c.Kafka.Problems(EnvPrefix); len(p) > 0 {
		return errors.New("config: " + strings.Join(p, "; "))
	}
	if c.Slack.APIURL != "" {
		u, err := url.Parse(c.Slack.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("config: slack.api_url %q is not an http(s) URL", c.Slack.APIURL)
		}
		if !strings.HasSuffix(c.Slack.APIURL, "/") {
			c.Slack.APIURL += "/"
		}
	}
	if c.Slack.SocketMode && c.Slack.AppToken == "" {
		return errors.New("config: slack.socket_mode is on but slack.app_token is empty: set PANGATE_APPROVER_SLACK_APP_TOKEN to an app-level token (xapp-…) with the connections:write scope, from the Slack app's Basic Information page")
	}
	if c.Slack.AppToken != "" && !strings.HasPrefix(c.Slack.AppToken, "xapp-") {
		// Never echo the token: it may be a bot or user token pasted in the wrong place.
		return errors.New("config: slack.app_token does not start with \"xapp-\": use the app-level token (Basic Information → App-Level Tokens), not the bot token")
	}
	if c.ClaimLease < 0 || c.ExpiryGrace < 0 {
		return errors.New("config: claim_lease and expiry_grace must not be negative")
	}
	for u, email := range c.TerminalUsers {
		if u == "" || !strings.Contains(email, "@") {
			return fmt.Errorf("config: terminal_users entry %q: %q must map a user name to an email", u, email)
		}
	}
	for _, o := range c.WorkloadOwners {
		if err := o.Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	if c.DecisionKeyFile == "" {
		return errors.New("config: decision_key_file is empty: create a decision signing key with `approver keygen -out decision.pem` and set decision_key_file (or PANGATE_APPROVER_DECISION_KEY_FILE); gateways need its .pub.pem in approvals.decision_keys")
	}
	switch strings.ToLower(c.LogLevel) {
	case "", "info", "debug", "warn", "error":
	default:
		return fmt.Errorf("config: log_level %q: use debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// ValidateServe checks what the Slack-facing service needs beyond Validate.
func (c *Config) ValidateServe() error {
	if c.Slack.Token == "" {
		return errors.New("config: slack.token is empty: set PANGATE_APPROVER_SLACK_TOKEN to the bot token (xoxb-…)")
	}
	if c.Slack.Channel == "" {
		return errors.New("config: slack.channel is empty: set it to the id of the approvals channel (C…)")
	}
	// In socket mode the signing secret is optional: without it the HTTP interactions endpoint refuses all.
	if len(c.Slack.SigningSecret) < 16 && !(c.Slack.SocketMode && c.Slack.SigningSecret == "") {
		return errors.New("config: slack.signing_secret missing or too short: set PANGATE_APPROVER_SLACK_SIGNING_SECRET from the Slack app's Basic Information page")
	}
	if len(c.Approvers) == 0 && c.ApproverGroup == "" && len(c.Groups) == 0 {
		return errors.New("config: nobody may approve: set approvers (Slack user ids) or approver_group (a Slack user group id)")
	}
	return nil
}

// DecisionKeys loads the signing key and the trusted earlier public keys.
func (c *Config) DecisionKeys() (ed25519.PrivateKey, schemas.DecisionKeys, error) {
	key, err := schemas.LoadPrivateKey(c.DecisionKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("config: decision_key_file: %w", err)
	}
	keys, err := schemas.LoadDecisionKeys(c.DecisionPublicKeys)
	if err != nil {
		return nil, nil, fmt.Errorf("config: decision_public_keys: %w", err)
	}
	return key, keys, nil
}
