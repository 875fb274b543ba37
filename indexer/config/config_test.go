package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadFileAndEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "indexer.yaml")
	if err := os.WriteFile(p, []byte("kafka:\n  brokers: [a:1]\n  topic_prefix: t1.\nclickhouse:\n  addrs: [c:9000]\n  database: db1\nbatch:\n  flush_interval: 2s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PANGATE_INDEXER_DATABASE", "db2")
	t.Setenv("PANGATE_INDEXER_KAFKA_BROKERS", "x:1, y:2")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClickHouse.Database != "db2" || len(c.Kafka.Brokers) != 2 || c.Batch.FlushInterval != 2*time.Second || c.Kafka.TopicPrefix != "t1." {
		t.Fatalf("config %+v", c)
	}
	if got := c.Topics(); len(got) != 4 || got[0] != "t1.pangate.audit" || got[1] != "t1.pangate.approvals" || got[2] != "t1.pangate.decisions" || got[3] != "t1.pangate.operations" {
		t.Fatalf("topics %v", got)
	}
}

func TestValidate(t *testing.T) {
	ok := Defaults()
	ok.Kafka.Brokers, ok.ClickHouse.Addrs = []string{"k:9092"}, []string{"c:9000"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"retention below 12": func(c *Config) { c.Retention.KeepMonths = 11 },
		"no brokers":         func(c *Config) { c.Kafka.Brokers = nil },
		"bad database":       func(c *Config) { c.ClickHouse.Database = "x; DROP" },
		"no port":            func(c *Config) { c.ClickHouse.Addrs = []string{"c"} },
		"batch zero":         func(c *Config) { c.Batch.Size = 0 },
		"inflight zero":      func(c *Config) { c.Batch.Inflight = 0 },
		"inflight 9":         func(c *Config) { c.Batch.Inflight = 9 },
		"log level":          func(c *Config) { c.LogLevel = "loud" },
	} {
		c := ok
		mut(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
	c := ok
	c.Retention.KeepMonths = 3
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "10.5.1") {
		t.Errorf("retention error does not cite PCI DSS: %v", err)
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.yaml")
	_ = os.WriteFile(p, []byte("kafka:\n  brokerz: [a:1]\n"), 0o600)
	if _, err := Load(p); err == nil {
		t.Fatal("a misspelt key was accepted")
	}
}

// TestEnvNames: every setting is reachable as PANGATE_INDEXER_<YAML PATH>, and the shorter names that
// deploy/kubernetes, deploy/demo and the integration tests use still set the same settings.
func TestEnvNames(t *testing.T) {
	base := []string{"PANGATE_INDEXER_KAFKA_BROKERS=k:1", "PANGATE_INDEXER_CLICKHOUSE_ADDRS=c:9000"}
	for _, tc := range []struct {
		env   string
		check func(Config) bool
	}{
		{"PANGATE_INDEXER_TOPIC_PREFIX=p.", func(c Config) bool { return c.Kafka.TopicPrefix == "p." }},
		{"PANGATE_INDEXER_KAFKA_TOPIC_PREFIX=p.", func(c Config) bool { return c.Kafka.TopicPrefix == "p." }},
		{"PANGATE_INDEXER_GROUP=g", func(c Config) bool { return c.Kafka.Group == "g" }},
		{"PANGATE_INDEXER_KAFKA_GROUP=g", func(c Config) bool { return c.Kafka.Group == "g" }},
		{"PANGATE_INDEXER_INSTANCE_ID=i", func(c Config) bool { return c.Kafka.InstanceID == "i" }},
		{"PANGATE_INDEXER_DATABASE=d", func(c Config) bool { return c.ClickHouse.Database == "d" }},
		{"PANGATE_INDEXER_CLICKHOUSE_DATABASE=d", func(c Config) bool { return c.ClickHouse.Database == "d" }},
		{"PANGATE_INDEXER_MIGRATE_USER=op", func(c Config) bool { return c.ClickHouse.MigrateUser == "op" }},
		{"PANGATE_INDEXER_MIGRATE_PASSWORD=pw", func(c Config) bool { return c.ClickHouse.MigratePassword == "pw" }},
		{"PANGATE_INDEXER_CLICKHOUSE_PASSWORD=pw", func(c Config) bool { return c.ClickHouse.Password == "pw" }},
		{"PANGATE_INDEXER_FLUSH_INTERVAL=3s", func(c Config) bool { return c.Batch.FlushInterval == 3*time.Second }},
		{"PANGATE_INDEXER_BATCH_SIZE=7", func(c Config) bool { return c.Batch.Size == 7 }},
		{"PANGATE_INDEXER_BATCH_INFLIGHT=3", func(c Config) bool { return c.Batch.Inflight == 3 }},
		{"PANGATE_INDEXER_RETENTION_MONTHS=13", func(c Config) bool { return c.Retention.KeepMonths == 13 }},
		{"PANGATE_INDEXER_RETENTION_DISABLED=true", func(c Config) bool { return c.Retention.Disabled }},
		{"PANGATE_INDEXER_KAFKA_SASL_MECHANISM=PLAIN", nil}, // a SASL block without credentials is refused
	} {
		t.Run(tc.env, func(t *testing.T) {
			c, err := LoadEnv("", append([]string{tc.env}, base...))
			if tc.check == nil {
				if err == nil || !strings.Contains(err.Error(), "kafka.sasl") {
					t.Fatalf("want a kafka.sasl error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("not applied: %+v", c)
			}
		})
	}
	if _, err := LoadEnv("", append([]string{"PANGATE_INDEXER_BATCH=1"}, base...)); err == nil || !strings.Contains(err.Error(), "names no setting") {
		t.Fatalf("unknown variable: %v", err)
	}
	for _, name := range []string{"PANGATE_INDEXER_DATABASE", "PANGATE_INDEXER_CLICKHOUSE_DATABASE", "PANGATE_INDEXER_KAFKA_TLS_CA_FILE"} {
		if !strings.Contains(" "+strings.Join(Env, " ")+" ", " "+name+" ") {
			t.Errorf("Env does not list %s", name)
		}
	}
}
