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
	if got := c.Topics(); got[0] != "t1.pangate.audit" || got[1] != "t1.pangate.approvals" {
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
