package config

import (
	"strings"
	"testing"
)

// TestCluster: clickhouse.cluster is read from PANGATE_INDEXER_CLICKHOUSE_CLUSTER, must be a ClickHouse
// identifier, and requires the retention job off (it would drop partitions of Distributed tables).
func TestCluster(t *testing.T) {
	base := []string{"PANGATE_INDEXER_KAFKA_BROKERS=k:1", "PANGATE_INDEXER_CLICKHOUSE_ADDRS=c:9000,d:9000"}
	for _, tc := range []struct {
		name    string
		env     []string
		cluster string // want, when errText is empty
		errText string // want in the error
	}{
		{"single server", nil, "", ""},
		{"cluster", []string{"PANGATE_INDEXER_CLICKHOUSE_CLUSTER=pangate"}, "pangate", ""}, // retention on: it drops *_local ON CLUSTER
		{"cluster, retention off", []string{"PANGATE_INDEXER_CLICKHOUSE_CLUSTER=pangate", "PANGATE_INDEXER_RETENTION_DISABLED=true"}, "pangate", ""},
		{"bad name", []string{"PANGATE_INDEXER_CLICKHOUSE_CLUSTER=a-b"}, "", "clickhouse.cluster \"a-b\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadEnv("", append(append([]string{}, tc.env...), base...))
			if tc.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("want an error naming %s, got %v", tc.errText, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ClickHouse.Cluster != tc.cluster {
				t.Fatalf("clickhouse.cluster %q, want %q", c.ClickHouse.Cluster, tc.cluster)
			}
		})
	}
}
