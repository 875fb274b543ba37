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
//	kafka:                              # optional: record runs as report.generated (PCI DSS 10.2.1.3)
//	  brokers: [127.0.0.1:9092]
//	  topic: pangate.audit
//	schedule:
//	  daily: "15 0 * * *"               # daily review of the previous day (UTC)
//	  monthly: "30 1 1 * *"             # package of the previous month
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

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

// Kafka is where the reporter records its own runs.
type Kafka struct {
	Brokers []string `yaml:"brokers"`
	Topic   string   `yaml:"topic"`
}

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
		Kafka:      Kafka{Topic: schemas.TopicAudit},
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

// Env lists the environment variables Load reads.
var Env = []string{
	"PANGATE_REPORTER_INSTANCE", "PANGATE_REPORTER_LOG_LEVEL", "PANGATE_REPORTER_CLICKHOUSE_ADDR", "PANGATE_REPORTER_DATABASE",
	"PANGATE_REPORTER_CLICKHOUSE_USER", "PANGATE_REPORTER_CLICKHOUSE_PASSWORD", "PANGATE_REPORTER_SIGNING_KEY",
	"PANGATE_REPORTER_GATEWAY_KEYS", "PANGATE_REPORTER_BUCKET_DIR", "PANGATE_REPORTER_S3_ENDPOINT", "PANGATE_REPORTER_S3_BUCKET",
	"PANGATE_REPORTER_S3_ACCESS_KEY", "PANGATE_REPORTER_S3_SECRET_KEY", "PANGATE_REPORTER_S3_REGION", "PANGATE_REPORTER_S3_SECURE",
	"PANGATE_REPORTER_KAFKA_BROKERS", "PANGATE_REPORTER_KAFKA_TOPIC", "PANGATE_REPORTER_DAILY", "PANGATE_REPORTER_MONTHLY",
}

// Load reads path ("" for defaults only), applies the environment and validates.
func Load(path string) (Config, error) {
	c := Defaults()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: read %s: %w", path, err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
		}
	}
	if err := c.applyEnv(os.LookupEnv); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func (c *Config) applyEnv(get func(string) (string, bool)) error {
	set := func(key string, dst *string) {
		if v, ok := get(key); ok {
			*dst = v
		}
	}
	list := func(key string, dst *[]string) {
		if v, ok := get(key); ok {
			*dst = nil
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					*dst = append(*dst, s)
				}
			}
		}
	}
	set("PANGATE_REPORTER_INSTANCE", &c.Instance)
	set("PANGATE_REPORTER_LOG_LEVEL", &c.LogLevel)
	set("PANGATE_REPORTER_CLICKHOUSE_ADDR", &c.ClickHouse.Addr)
	set("PANGATE_REPORTER_DATABASE", &c.ClickHouse.Database)
	set("PANGATE_REPORTER_CLICKHOUSE_USER", &c.ClickHouse.User)
	set("PANGATE_REPORTER_CLICKHOUSE_PASSWORD", &c.ClickHouse.Password)
	set("PANGATE_REPORTER_SIGNING_KEY", &c.SigningKey)
	list("PANGATE_REPORTER_GATEWAY_KEYS", &c.GatewayKeys)
	set("PANGATE_REPORTER_BUCKET_DIR", &c.Bucket.Dir)
	set("PANGATE_REPORTER_S3_ENDPOINT", &c.Bucket.S3.Endpoint)
	set("PANGATE_REPORTER_S3_BUCKET", &c.Bucket.S3.Bucket)
	set("PANGATE_REPORTER_S3_ACCESS_KEY", &c.Bucket.S3.AccessKey)
	set("PANGATE_REPORTER_S3_SECRET_KEY", &c.Bucket.S3.SecretKey)
	set("PANGATE_REPORTER_S3_REGION", &c.Bucket.S3.Region)
	if v, ok := get("PANGATE_REPORTER_S3_SECURE"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%w: PANGATE_REPORTER_S3_SECURE=%q: use true or false", ErrInvalid, v)
		}
		c.Bucket.S3.Secure = b
	}
	list("PANGATE_REPORTER_KAFKA_BROKERS", &c.Kafka.Brokers)
	set("PANGATE_REPORTER_KAFKA_TOPIC", &c.Kafka.Topic)
	set("PANGATE_REPORTER_DAILY", &c.Schedule.Daily)
	set("PANGATE_REPORTER_MONTHLY", &c.Schedule.Monthly)
	return nil
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
	if len(c.Kafka.Brokers) > 0 && c.Kafka.Topic == "" {
		errs = append(errs, "kafka.topic is empty: set the audit topic (pangate.audit) to record report.generated events")
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
