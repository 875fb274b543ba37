package retention

import (
	"errors"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

func TestCutoff(t *testing.T) {
	for _, tc := range []struct {
		now  time.Time
		keep int
		want int
	}{
		{time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), 12, 202511},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 12, 202501},
		{time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC), 14, 202501},
		{time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC), 24, 202412},
	} {
		if got := Cutoff(tc.now, tc.keep); got != tc.want {
			t.Errorf("Cutoff(%s, %d) = %d, want %d", tc.now, tc.keep, got, tc.want)
		}
	}
}

func TestValidateRefusesShortRetention(t *testing.T) {
	c := Config{KeepMonths: 11, Tables: []string{"events"}, Topic: "pangate.audit"}
	if err := c.Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("11 months accepted: %v", err)
	}
	c.KeepMonths = 12
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateCluster(t *testing.T) {
	c := Config{KeepMonths: 12, Tables: []string{"events"}, Topic: "pangate.operations", Cluster: "pangate"}
	if err := c.Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("a cluster without database and Open accepted: %v", err)
	}
	c.Database, c.Open = "pangate", func(string) (driver.Conn, error) { return nil, errors.New("unused") }
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
