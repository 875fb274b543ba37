// Package config reads the reporter's configuration from a YAML file and PANGATE_REPORTER_* environment
// variables (which override the file), fills defaults and validates it.
//
//	clickhouse:
//	  addr: 127.0.0.1:9000
//	  database: pangate
//	  user: reporter                    # read-only
//	  password: …                       # or PANGATE_REPORTER_CLICKHOUSE_PASSWORD
//	signing_key: /etc/pangate/reporter.key     # Ed25519 PKCS #8 PEM (reporter keygen)
//	gateway_keys: [/etc/pangate/gateway.pub]    # checkpoint public keys, PEM
//	bucket:
//	  dir: ./evidence                   # default store
//	  s3: {endpoint: s3.example:443, bucket: evidence, access_key: …, secret_key: …, secure: true}
//	kafka:                              # record runs as report.generated (PCI DSS 10.2.1.3)
//	  brokers: [127.0.0.1:9092]
//	  topic_prefix: ""                  # the gateway's: events go to <prefix>pangate.audit
//	  tls: {ca_file: …}                 # and sasl: the client block every service shares (internal/kafka)
//	schedule:
//	  daily: "15 0 * * *"               # daily review of the previous day (UTC)
//	  monthly: "30 1 1 * *"             # package of the previous month
package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/pangate/pangate/internal/configload"
	"github.com/pangate/pangate/internal/kafka"
	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/schemas"
)

// ErrInvalid is matched by every Validate error.
var ErrInvalid = errors.New("config: invalid reporter configuration")

// Config is the whole reporter configuration.
type Config struct {
	Instance    string        `yaml:"instance"`
	LogLevel    string        `yaml:"log_level"`
	ClickHouse  query.Config  `yaml:"clickhouse"`
	SigningKey  string        `yaml:"signing_key"`
	GatewayKeys []string      `yaml:"gateway_keys"`
	Bucket      bucket.Config `yaml:"bucket"`
	Kafka       Kafka         `yaml:"kafka"`
	Schedule    Schedule      `yaml:"schedule"`
	// Margin past the period for checkpoints; Tolerance over a checkpoint interval before a gap.
	Margin    time.Duration `yaml:"margin"`
	Tolerance time.Duration `yaml:"tolerance"`
}

// Kafka is where the reporter records its own runs: the client block every pangate service shares
// (brokers, topic_prefix, tls, sasl; internal/kafka). The events go to topic_prefix + pangate.audit.
type Kafka struct {
	kafka.Config `yaml:",inline"`
	// RemovedTopic is the full topic name earlier versions read (kafka.topic); Validate refuses it and says
	// which topic_prefix names the same topic.
	RemovedTopic string `yaml:"topic,omitempty"`
}

// OperationsTopic is the topic report.generated events go to: the prefix followed by pangate.operations
// (never the audit topic, which only gateways may write: deploy/kafkaacl).
func (k Kafka) OperationsTopic() string { return k.Topic(schemas.TopicOperations) }

// Schedule holds cron expressions (five fields, UTC).
type Schedule struct {
	Daily   string `yaml:"daily"`
	Monthly string `yaml:"monthly"`
}

// Defaults returns the defaults.
func Defaults() Config {
	return Config{
		Instance: hostname(), LogLevel: "info",
		ClickHouse: query.Config{Addr: "127.0.0.1:9000", Database: "pangate", User: "reporter"},
		Bucket:     bucket.Config{Dir: "evidence"},
		Schedule:   Schedule{Daily: "15 0 * * *", Monthly: "30 1 1 * *"},
		Margin:     15 * time.Minute,
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "reporter"
	}
	return "reporter-" + h
}

// EnvPrefix starts every environment override: PANGATE_REPORTER_<YAML PATH>, for example
// PANGATE_REPORTER_CLICKHOUSE_PASSWORD or PANGATE_REPORTER_BUCKET_S3_SECRET_KEY.
const EnvPrefix = "PANGATE_REPORTER_"

// EnvAliases are the shorter names earlier versions documented (deploy/kubernetes uses the S3 ones);
// each still sets the setting it names (without the prefix).
var EnvAliases = map[string]string{
	"DATABASE":      "CLICKHOUSE_DATABASE",
	"S3_ENDPOINT":   "BUCKET_S3_ENDPOINT",
	"S3_BUCKET":     "BUCKET_S3_BUCKET",
	"S3_ACCESS_KEY": "BUCKET_S3_ACCESS_KEY",
	"S3_SECRET_KEY": "BUCKET_S3_SECRET_KEY",
	"S3_REGION":     "BUCKET_S3_REGION",
	"S3_SECURE":     "BUCKET_S3_SECURE",
	"DAILY":         "SCHEDULE_DAILY",
	"MONTHLY":       "SCHEDULE_MONTHLY",
}

// Env lists the environment variables Load reads: every setting's PANGATE_REPORTER_<YAML PATH> name
// and the aliases.
var Env = func() []string {
	env := configload.Vars(&Config{}, EnvPrefix)
	for old := range EnvAliases {
		env = append(env, EnvPrefix+old)
	}
	sort.Strings(env)
	return env
}()

// Load reads path ("" for defaults only), applies the environment and validates.
func Load(path string) (Config, error) { return LoadEnv(path, os.Environ()) }

// LoadEnv is Load with the environment given (os.Environ() form).
func LoadEnv(path string, environ []string) (Config, error) {
	c := Defaults()
	if err := configload.Load(path, &c, configload.Options{Prefix: EnvPrefix, Environ: environ, Aliases: EnvAliases, Err: ErrInvalid}); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate reports every problem at once. The signing key is checked by the commands that sign.
func (c Config) Validate() error {
	var errs []string
	if err := c.ClickHouse.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if err := c.Bucket.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	for name, spec := range map[string]string{"schedule.daily": c.Schedule.Daily, "schedule.monthly": c.Schedule.Monthly} {
		if spec == "" {
			continue
		}
		if _, err := cron.ParseStandard(spec); err != nil {
			errs = append(errs, fmt.Sprintf("%s %q is not a cron expression (minute hour day month weekday): %v", name, spec, err))
		}
	}
	if c.Kafka.RemovedTopic != "" {
		hint := ""
		if p, ok := strings.CutSuffix(c.Kafka.RemovedTopic, schemas.TopicAudit); ok {
			hint = fmt.Sprintf(" (for %q: topic_prefix: %q)", c.Kafka.RemovedTopic, p)
		}
		errs = append(errs, fmt.Sprintf("kafka.topic (or PANGATE_REPORTER_KAFKA_TOPIC) is no longer read: set kafka.topic_prefix (PANGATE_REPORTER_KAFKA_TOPIC_PREFIX) instead, the same prefix as the gateway's; the events go to the prefix followed by %s%s", schemas.TopicAudit, hint))
	}
	if len(c.Kafka.Brokers) > 0 {
		// Kafka is optional here; the commands that sign packages require it (reporter/main.go).
		errs = append(errs, c.Kafka.Problems(EnvPrefix)...)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Sprintf("log_level %q: use debug, info, warn or error", c.LogLevel))
	}
	if c.Margin < 0 || c.Tolerance < 0 {
		errs = append(errs, "margin and tolerance must not be negative")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrInvalid, strings.Join(errs, "\n  "))
	}
	return nil
}
