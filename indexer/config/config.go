// Package config reads the indexer's configuration from a YAML file and PANGATE_INDEXER_* environment
// variables (which override the file), fills defaults and validates it.
package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/pangate/pangate/internal/configload"
	"github.com/pangate/pangate/internal/kafka"
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
//	  size: 10000
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

// Kafka configures the consumer (and the producer of the indexer's own retention events): the client
// block every pangate service shares (brokers, topic_prefix, tls, sasl; internal/kafka), plus the group.
type Kafka struct {
	kafka.Config   `yaml:",inline"`
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
	// Cluster names a ClickHouse cluster (remote_servers): the migrations are then the cluster DDL
	// (internal/auditstore/cluster: Replicated *_local tables and Distributed tables under the single-node
	// names, ON CLUSTER) and every write goes through the Distributed tables. Empty: one server.
	Cluster string `yaml:"cluster"`
}

// Batch configures batching. The defaults (size 10000, flush 500ms, workers 2, inflight 4) were chosen by
// measurement (indexer/BENCHMARKS.md, "Tuning" and "End-to-end lag"): a batch is one ClickHouse block per
// table, so a larger size lets a slow write pull in a larger next batch and the lag feeds on itself (size
// 50000: lag p99 7.7–26 s at 10k events/s in 15 s runs); 10000 kept p99 under 5 s in five of six such
// rounds without losing backlog throughput. Polling goes on while up to inflight batches are written
// (offsets are still committed batch after batch, only once written); memory holds about inflight + 2
// batches of records.
type Batch struct {
	Size          int           `yaml:"size"`           // records per batch (and per ClickHouse block)
	FlushInterval time.Duration `yaml:"flush_interval"` // write a partial batch once its oldest record waited this long
	Workers       int           `yaml:"workers"`        // goroutines mapping records to rows
	Inflight      int           `yaml:"inflight"`       // batches written at once (offsets still committed in order)
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
		Batch:      Batch{Size: 10000, FlushInterval: 500 * time.Millisecond, Workers: 2, Inflight: 4},
		Retention:  Retention{KeepMonths: MinKeepMonths, Interval: 24 * time.Hour},
	}
}

// EnvPrefix starts every environment override: PANGATE_INDEXER_<YAML PATH>, for example
// PANGATE_INDEXER_KAFKA_BROKERS (comma-separated) or PANGATE_INDEXER_CLICKHOUSE_PASSWORD.
const EnvPrefix = "PANGATE_INDEXER_"

// EnvAliases are the shorter names earlier versions documented (deploy/kubernetes, deploy/demo and the
// integration tests use them); each still sets the setting it names (without the prefix).
var EnvAliases = map[string]string{
	"TOPIC_PREFIX":     "KAFKA_TOPIC_PREFIX",
	"GROUP":            "KAFKA_GROUP",
	"INSTANCE_ID":      "KAFKA_INSTANCE_ID",
	"DATABASE":         "CLICKHOUSE_DATABASE",
	"MIGRATE_USER":     "CLICKHOUSE_MIGRATE_USER",
	"MIGRATE_PASSWORD": "CLICKHOUSE_MIGRATE_PASSWORD",
	"FLUSH_INTERVAL":   "BATCH_FLUSH_INTERVAL",
	"RETENTION_MONTHS": "RETENTION_KEEP_MONTHS",
}

// Load reads path (may be "" for defaults only), then applies the environment, then validates.
func Load(path string) (Config, error) { return LoadEnv(path, os.Environ()) }

// LoadEnv is Load with the environment given (os.Environ() form).
func LoadEnv(path string, environ []string) (Config, error) {
	c := Defaults()
	if err := configload.Load(path, &c, configload.Options{Prefix: EnvPrefix, Environ: environ, Aliases: EnvAliases, Err: ErrInvalid}); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Env lists the environment variables Load reads, each overriding one key: every setting's
// PANGATE_INDEXER_<YAML PATH> name and the aliases.
var Env = func() []string {
	env := configload.Vars(&Config{}, EnvPrefix)
	for old := range EnvAliases {
		env = append(env, EnvPrefix+old)
	}
	sort.Strings(env)
	return env
}()

// Topics returns the topic names the indexer consumes, with the prefix applied: the audit topic, both
// approval topics (the gateways' requests and the approvers' decisions, contract version 4) and the
// operations topic (the indexer's and the reporter's own records, contract version 5).
func (c Config) Topics() []string {
	return []string{c.Kafka.Topic(schemas.TopicAudit), c.Kafka.Topic(schemas.TopicApprovals), c.Kafka.Topic(schemas.TopicDecisions),
		c.Kafka.Topic(schemas.TopicOperations)}
}

// OperationsTopic is where the indexer writes its own events (retention.dropped): never the audit topic,
// which only gateways may write (deploy/kafkaacl).
func (c Config) OperationsTopic() string { return c.Kafka.Topic(schemas.TopicOperations) }

// Validate checks every key and reports all problems at once.
func (c Config) Validate() error {
	var errs []string
	errs = append(errs, c.Kafka.Problems(EnvPrefix)...)
	if c.Kafka.Group == "" {
		errs = append(errs, "kafka.group is empty: name the consumer group, e.g. pangate-indexer")
	}
	if len(c.ClickHouse.Addrs) == 0 {
		errs = append(errs, "clickhouse.addrs is empty: list ClickHouse native-protocol servers as host:port (or set PANGATE_INDEXER_CLICKHOUSE_ADDRS)")
	}
	for _, a := range c.ClickHouse.Addrs {
		if !strings.Contains(a, ":") {
			errs = append(errs, fmt.Sprintf("address %q has no port: write host:port", a))
		}
	}
	if !validIdent(c.ClickHouse.Database) {
		errs = append(errs, fmt.Sprintf("clickhouse.database %q: use letters, digits and '_', starting with a letter", c.ClickHouse.Database))
	}
	if c.ClickHouse.Cluster != "" && !validIdent(c.ClickHouse.Cluster) {
		errs = append(errs, fmt.Sprintf("clickhouse.cluster %q: use the cluster's name in the servers' remote_servers (letters, digits and '_', starting with a letter), or leave it empty for one server", c.ClickHouse.Cluster))
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
	if c.Batch.Inflight < 1 || c.Batch.Inflight > 8 {
		errs = append(errs, fmt.Sprintf("batch.inflight %d: use 1 to 8 (batches written to ClickHouse at once)", c.Batch.Inflight))
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
