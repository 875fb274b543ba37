// Package config reads the indexer's configuration from a YAML file and PANGATE_INDEXER_* environment
// variables (which override the file), fills defaults and validates it.
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pangate/pangate/schemas"
)

// Config is the whole indexer configuration. Example (every key optional except the addresses):
//
//	instance: indexer-1
//	listen: 127.0.0.1:9464          # /metrics /healthz /readyz
//	log_level: info
//	kafka:
//	  brokers: [127.0.0.1:9092]
//	  topic_prefix: ""              # tests use their own topics: <prefix>pangate.audit
//	  group: pangate-indexer
//	clickhouse:
//	  addrs: [127.0.0.1:9000]
//	  database: pangate
//	  user: indexer                 # inserts and selects
//	  password: …
//	  migrate_user: operator        # migrations and retention (DDL)
//	  migrate_password: …
//	batch:
//	  size: 50000
//	  flush_interval: 500ms
//	retention:
//	  keep_months: 12               # never below 12 (PCI DSS 10.5.1)
//	  interval: 24h
type Config struct {
	Instance   string     `yaml:"instance"`
	Listen     string     `yaml:"listen"`
	LogLevel   string     `yaml:"log_level"`
	Kafka      Kafka      `yaml:"kafka"`
	ClickHouse ClickHouse `yaml:"clickhouse"`
	Batch      Batch      `yaml:"batch"`
	Retention  Retention  `yaml:"retention"`
}

// Kafka configures the consumer (and the producer of the indexer's own retention events).
type Kafka struct {
	Brokers        []string      `yaml:"brokers"`
	TopicPrefix    string        `yaml:"topic_prefix"`
	Group          string        `yaml:"group"`
	InstanceID     string        `yaml:"instance_id"` // static group membership; unique per replica (pod name); default indexer-<hostname>
	SessionTimeout time.Duration `yaml:"session_timeout"`
}

// ClickHouse configures the store.
type ClickHouse struct {
	Addrs           []string `yaml:"addrs"`
	Database        string   `yaml:"database"`
	User            string   `yaml:"user"`
	Password        string   `yaml:"password"`
	MigrateUser     string   `yaml:"migrate_user"`
	MigratePassword string   `yaml:"migrate_password"`
}

// Batch configures batching.
type Batch struct {
	Size          int           `yaml:"size"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	Workers       int           `yaml:"workers"`
}

// Retention configures the partition pruning job.
type Retention struct {
	KeepMonths int           `yaml:"keep_months"`
	Interval   time.Duration `yaml:"interval"`
	Disabled   bool          `yaml:"disabled"`
}

// MinKeepMonths is the shortest retention allowed (PCI DSS 10.5.1: 12 months).
const MinKeepMonths = 12

// ErrInvalid is matched by every Validate error.
var ErrInvalid = errors.New("config: invalid indexer configuration")

// Defaults returns a configuration with every default filled in.
func Defaults() Config {
	host, _ := os.Hostname()
	return Config{
		Instance:   "indexer-" + host,
		Listen:     "127.0.0.1:9464",
		LogLevel:   "info",
		Kafka:      Kafka{Group: "pangate-indexer", SessionTimeout: 10 * time.Second},
		ClickHouse: ClickHouse{Database: "pangate", User: "indexer", MigrateUser: "operator"},
		Batch:      Batch{Size: 50000, FlushInterval: 500 * time.Millisecond, Workers: 2},
		Retention:  Retention{KeepMonths: MinKeepMonths, Interval: 24 * time.Hour},
	}
}

// Load reads path (may be "" for defaults only), then applies the environment, then validates.
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
			return c, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if err := c.applyEnv(os.LookupEnv); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Env lists the environment variables Load reads, each overriding one key.
var Env = []string{
	"PANGATE_INDEXER_INSTANCE", "PANGATE_INDEXER_LISTEN", "PANGATE_INDEXER_LOG_LEVEL",
	"PANGATE_INDEXER_KAFKA_BROKERS", "PANGATE_INDEXER_TOPIC_PREFIX", "PANGATE_INDEXER_GROUP",
	"PANGATE_INDEXER_INSTANCE_ID", "PANGATE_INDEXER_CLICKHOUSE_ADDRS", "PANGATE_INDEXER_DATABASE",
	"PANGATE_INDEXER_CLICKHOUSE_USER", "PANGATE_INDEXER_CLICKHOUSE_PASSWORD", "PANGATE_INDEXER_MIGRATE_USER",
	"PANGATE_INDEXER_MIGRATE_PASSWORD", "PANGATE_INDEXER_BATCH_SIZE", "PANGATE_INDEXER_FLUSH_INTERVAL",
	"PANGATE_INDEXER_RETENTION_MONTHS", "PANGATE_INDEXER_RETENTION_INTERVAL", "PANGATE_INDEXER_RETENTION_DISABLED",
}

func (c *Config) applyEnv(lookup func(string) (string, bool)) error {
	var errs []string
	str := func(key string, dst *string) {
		if v, ok := lookup(key); ok {
			*dst = v
		}
	}
	list := func(key string, dst *[]string) {
		if v, ok := lookup(key); ok {
			*dst = nil
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					*dst = append(*dst, s)
				}
			}
		}
	}
	num := func(key string, dst *int) {
		if v, ok := lookup(key); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q is not a whole number", key, v))
				return
			}
			*dst = n
		}
	}
	dur := func(key string, dst *time.Duration) {
		if v, ok := lookup(key); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q is not a duration (use e.g. 500ms, 24h)", key, v))
				return
			}
			*dst = d
		}
	}
	str("PANGATE_INDEXER_INSTANCE", &c.Instance)
	str("PANGATE_INDEXER_LISTEN", &c.Listen)
	str("PANGATE_INDEXER_LOG_LEVEL", &c.LogLevel)
	list("PANGATE_INDEXER_KAFKA_BROKERS", &c.Kafka.Brokers)
	str("PANGATE_INDEXER_TOPIC_PREFIX", &c.Kafka.TopicPrefix)
	str("PANGATE_INDEXER_GROUP", &c.Kafka.Group)
	str("PANGATE_INDEXER_INSTANCE_ID", &c.Kafka.InstanceID)
	list("PANGATE_INDEXER_CLICKHOUSE_ADDRS", &c.ClickHouse.Addrs)
	str("PANGATE_INDEXER_DATABASE", &c.ClickHouse.Database)
	str("PANGATE_INDEXER_CLICKHOUSE_USER", &c.ClickHouse.User)
	str("PANGATE_INDEXER_CLICKHOUSE_PASSWORD", &c.ClickHouse.Password)
	str("PANGATE_INDEXER_MIGRATE_USER", &c.ClickHouse.MigrateUser)
	str("PANGATE_INDEXER_MIGRATE_PASSWORD", &c.ClickHouse.MigratePassword)
	num("PANGATE_INDEXER_BATCH_SIZE", &c.Batch.Size)
	dur("PANGATE_INDEXER_FLUSH_INTERVAL", &c.Batch.FlushInterval)
	num("PANGATE_INDEXER_RETENTION_MONTHS", &c.Retention.KeepMonths)
	dur("PANGATE_INDEXER_RETENTION_INTERVAL", &c.Retention.Interval)
	if v, ok := lookup("PANGATE_INDEXER_RETENTION_DISABLED"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("PANGATE_INDEXER_RETENTION_DISABLED=%q is not true or false", v))
		}
		c.Retention.Disabled = b
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

// Topics returns the topic names the indexer consumes, with the prefix applied.
func (c Config) Topics() []string {
	return []string{c.Kafka.TopicPrefix + schemas.TopicAudit, c.Kafka.TopicPrefix + schemas.TopicApprovals}
}

// AuditTopic is where the indexer writes its own events (retention.dropped).
func (c Config) AuditTopic() string { return c.Kafka.TopicPrefix + schemas.TopicAudit }

// Validate checks every key and reports all problems at once.
func (c Config) Validate() error {
	var errs []string
	if len(c.Kafka.Brokers) == 0 {
		errs = append(errs, "kafka.brokers is empty: list the Kafka bootstrap servers as host:port (or set PANGATE_INDEXER_KAFKA_BROKERS)")
	}
	if c.Kafka.Group == "" {
		errs = append(errs, "kafka.group is empty: name the consumer group, e.g. pangate-indexer")
	}
	if len(c.ClickHouse.Addrs) == 0 {
		errs = append(errs, "clickhouse.addrs is empty: list ClickHouse native-protocol servers as host:port (or set PANGATE_INDEXER_CLICKHOUSE_ADDRS)")
	}
	for _, a := range append(append([]string{}, c.Kafka.Brokers...), c.ClickHouse.Addrs...) {
		if !strings.Contains(a, ":") {
			errs = append(errs, fmt.Sprintf("address %q has no port: write host:port", a))
		}
	}
	if !validIdent(c.ClickHouse.Database) {
		errs = append(errs, fmt.Sprintf("clickhouse.database %q: use letters, digits and '_', starting with a letter", c.ClickHouse.Database))
	}
	if c.ClickHouse.User == "" || c.ClickHouse.MigrateUser == "" {
		errs = append(errs, "clickhouse.user and clickhouse.migrate_user must be set (indexer and operator)")
	}
	if c.Batch.Size < 1 || c.Batch.Size > 1_000_000 {
		errs = append(errs, fmt.Sprintf("batch.size %d: use 1 to 1000000", c.Batch.Size))
	}
	if c.Batch.FlushInterval <= 0 || c.Batch.FlushInterval > time.Minute {
		errs = append(errs, fmt.Sprintf("batch.flush_interval %s: use more than 0 and at most 1m", c.Batch.FlushInterval))
	}
	if c.Retention.KeepMonths < MinKeepMonths {
		errs = append(errs, fmt.Sprintf("retention.keep_months %d: PCI DSS 10.5.1 requires at least %d", c.Retention.KeepMonths, MinKeepMonths))
	}
	if !c.Retention.Disabled && c.Retention.Interval < time.Minute {
		errs = append(errs, fmt.Sprintf("retention.interval %s: use at least 1m (daily is enough)", c.Retention.Interval))
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Sprintf("log_level %q: use debug, info, warn or error", c.LogLevel))
	}
	if c.Listen == "" {
		errs = append(errs, "listen is empty: give host:port for /metrics, /healthz and /readyz")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

func validIdent(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
