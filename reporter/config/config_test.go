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
