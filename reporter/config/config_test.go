package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadFileAndEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.yaml")
	os.WriteFile(p, []byte("clickhouse:\n  addr: ch:9000\n  database: audit\n  user: reporter\nbucket:\n  dir: /tmp/ev\nschedule:\n  daily: \"0 1 * * *\"\n"), 0o644)
	t.Setenv("PANGATE_REPORTER_CLICKHOUSE_PASSWORD", "pw")
	t.Setenv("PANGATE_REPORTER_KAFKA_BROKERS", "k1:9092, k2:9092")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClickHouse.Addr != "ch:9000" || c.ClickHouse.Password != "pw" || len(c.Kafka.Brokers) != 2 || c.Schedule.Daily != "0 1 * * *" || c.Schedule.Monthly == "" {
		t.Fatalf("loaded %+v", c)
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	c := Defaults()
	c.ClickHouse.Addr = "nohost"
	c.Schedule.Daily = "every day"
	c.LogLevel = "loud"
	c.Bucket.Dir = ""
	err := c.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"clickhouse.addr", "schedule.daily", "log_level", "bucket.dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.yaml")
	os.WriteFile(p, []byte("clikhouse:\n  addr: x:1\n"), 0o644)
	if _, err := Load(p); err == nil {
		t.Fatal("misspelt key accepted")
	}
}

// TestEnvNames: settings are reachable as PANGATE_REPORTER_<YAML PATH>, and the shorter names that
// deploy/kubernetes and earlier versions use still set the same settings.
func TestEnvNames(t *testing.T) {
	for _, tc := range []struct {
		env   string
		check func(Config) bool
	}{
		{"PANGATE_REPORTER_DATABASE=d", func(c Config) bool { return c.ClickHouse.Database == "d" }},
		{"PANGATE_REPORTER_CLICKHOUSE_DATABASE=d", func(c Config) bool { return c.ClickHouse.Database == "d" }},
		{"PANGATE_REPORTER_S3_ACCESS_KEY=ak", func(c Config) bool { return c.Bucket.S3.AccessKey == "ak" }},
		{"PANGATE_REPORTER_BUCKET_S3_SECRET_KEY=sk", func(c Config) bool { return c.Bucket.S3.SecretKey == "sk" }},
		{"PANGATE_REPORTER_S3_SECURE=true", func(c Config) bool { return c.Bucket.S3.Secure }},
		{"PANGATE_REPORTER_DAILY=0 2 * * *", func(c Config) bool { return c.Schedule.Daily == "0 2 * * *" }},
		{"PANGATE_REPORTER_SCHEDULE_MONTHLY=0 3 1 * *", func(c Config) bool { return c.Schedule.Monthly == "0 3 1 * *" }},
		{"PANGATE_REPORTER_GATEWAY_KEYS=a.pem,b.pem", func(c Config) bool { return len(c.GatewayKeys) == 2 }},
		{"PANGATE_REPORTER_KAFKA_TOPIC_PREFIX=t1-", func(c Config) bool { return c.Kafka.OperationsTopic() == "t1-pangate.operations" }},
	} {
		t.Run(tc.env, func(t *testing.T) {
			c, err := LoadEnv("", []string{tc.env})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("not applied: %+v", c)
			}
		})
	}
	if _, err := LoadEnv("", []string{"PANGATE_REPORTER_S3=x"}); err == nil || !strings.Contains(err.Error(), "names no setting") {
		t.Fatalf("unknown variable: %v", err)
	}
}

// TestKafkaTopicRemoved: kafka.topic named the whole audit topic; the reporter now takes the gateway's
// prefix. An old configuration must fail saying what to write instead.
func TestKafkaTopicRemoved(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.yaml")
	os.WriteFile(p, []byte("kafka: {brokers: [k:1], topic: demo.pangate.audit}\n"), 0o644)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), `topic_prefix: "demo."`) {
		t.Fatalf("kafka.topic: %v, want a message naming topic_prefix \"demo.\"", err)
	}
	if _, err := LoadEnv("", []string{"PANGATE_REPORTER_KAFKA_TOPIC=pangate.audit"}); err == nil || !strings.Contains(err.Error(), "PANGATE_REPORTER_KAFKA_TOPIC_PREFIX") {
		t.Fatalf("PANGATE_REPORTER_KAFKA_TOPIC: %v", err)
	}
	if _, err := LoadEnv("", []string{"PANGATE_REPORTER_KAFKA_BROKERS=k:1", "PANGATE_REPORTER_KAFKA_SASL_MECHANISM=PLAIN"}); err == nil || !strings.Contains(err.Error(), "kafka.sasl.username") {
		t.Fatalf("SASL without a user: %v", err)
	}
}
