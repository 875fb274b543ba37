package cluster

import (
	"regexp"
	"strings"
	"testing"
)

// TestLoadRenames: every statement of the cluster DDL is rewritten to the configured cluster and database,
// no statement names pangate afterwards, and versions and checksums stay those of the files.
func TestLoadRenames(t *testing.T) {
	orig, err := Load("pangate", "pangate")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cluster, db string }{
		{"c1", "audit_x"},
		{"pangate", "chcluster_db"}, // only the database differs
		{"prod_cluster", "pangate"}, // only the cluster differs
	} {
		t.Run(tc.cluster+"/"+tc.db, func(t *testing.T) {
			ms, err := Load(tc.cluster, tc.db)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != len(orig) {
				t.Fatalf("%d migrations, want %d", len(ms), len(orig))
			}
			onCluster := regexp.MustCompile(`\bON CLUSTER (\w+)`)
			for i, m := range ms {
				if m.Version != orig[i].Version || m.Checksum != orig[i].Checksum || len(m.Statements) != len(orig[i].Statements) {
					t.Fatalf("%s: version/checksum/statements changed by renaming", m.Name)
				}
				for j, s := range m.Statements {
					for _, c := range onCluster.FindAllStringSubmatch(s, -1) {
						if c[1] != tc.cluster {
							t.Errorf("%s statement %d: ON CLUSTER %s, want %s", m.Name, j+1, c[1], tc.cluster)
						}
					}
					if !onCluster.MatchString(s) {
						t.Errorf("%s statement %d has no ON CLUSTER: %.80s", m.Name, j+1, s)
					}
					if tc.cluster != "pangate" && tc.db != "pangate" && regexp.MustCompile(`\bpangate\b`).MatchString(s) {
						t.Errorf("%s statement %d still names pangate: %s", m.Name, j+1, s)
					}
					if strings.Contains(s, "ENGINE = Distributed(") && !strings.Contains(s, "Distributed("+tc.cluster+", "+tc.db+", ") {
						t.Errorf("%s statement %d: Distributed engine not over cluster %s, database %s: %s", m.Name, j+1, tc.cluster, tc.db, s)
					}
					if strings.Contains(s, "/clickhouse/tables/") && !strings.Contains(s, "/clickhouse/tables/{shard}/"+tc.db+"/") {
						t.Errorf("%s statement %d: ZooKeeper path not under database %s: %s", m.Name, j+1, tc.db, s)
					}
				}
			}
		})
	}
}

func TestLoadRefusesBadNames(t *testing.T) {
	for _, tc := range []struct{ cluster, db string }{
		{"", "pangate"}, {"pangate", ""}, {"a-b", "pangate"}, {"pangate", "x; DROP"}, {"1c", "pangate"},
	} {
		if _, err := Load(tc.cluster, tc.db); err == nil {
			t.Errorf("Load(%q, %q) accepted", tc.cluster, tc.db)
		}
	}
}
