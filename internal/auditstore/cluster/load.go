package cluster

import (
	"fmt"
	"regexp"

	"github.com/pangate/pangate/internal/auditstore/migrate"
)

// The DDL is written for cluster "pangate" and database "pangate" (the names a reader of the files expects);
// Load rewrites exactly these four forms, and refuses a statement that still names pangate afterwards, so a
// new form in a regenerated file fails loudly instead of creating tables in the wrong database.
var (
	reOnCluster   = regexp.MustCompile(`\bON CLUSTER pangate\b`)
	reDistributed = regexp.MustCompile(`\bDistributed\(pangate, pangate, `)
	reZkPath      = regexp.MustCompile(`'/clickhouse/tables/\{shard\}/pangate/`)
	reDatabase    = regexp.MustCompile(`\bDATABASE IF NOT EXISTS pangate\b`)
	reQualified   = regexp.MustCompile(`\bpangate\.`)
	reLeftover    = regexp.MustCompile(`\bpangate\b`)
)

// Load returns the cluster DDL as migrations for indexer/migrate-style application (migrate.Apply), with the
// cluster named clusterName in remote_servers and the audit tables in database db. Versions, names and
// checksums are those of the files, so a cluster database records the same schema versions as a single
// node. Replicas of a shard share the ZooKeeper path /clickhouse/tables/{shard}/<db>/<table>_local.
func Load(clusterName, db string) ([]migrate.Migration, error) {
	if !migrate.ValidIdent(clusterName) {
		return nil, fmt.Errorf("cluster: cluster name %q: use letters, digits and '_' only, starting with a letter (the name in the servers' remote_servers)", clusterName)
	}
	if !migrate.ValidIdent(db) {
		return nil, fmt.Errorf("cluster: database name %q: use letters, digits and '_' only, starting with a letter", db)
	}
	ms, err := migrate.Load(DDL, ".")
	if err != nil {
		return nil, err
	}
	for i := range ms {
		for j, stmt := range ms[i].Statements {
			s := reOnCluster.ReplaceAllLiteralString(stmt, "ON CLUSTER "+clusterName)
			s = reDistributed.ReplaceAllLiteralString(s, "Distributed("+clusterName+", "+db+", ")
			s = reZkPath.ReplaceAllLiteralString(s, "'/clickhouse/tables/{shard}/"+db+"/")
			s = reDatabase.ReplaceAllLiteralString(s, "DATABASE IF NOT EXISTS "+db)
			s = reQualified.ReplaceAllLiteralString(s, db+".")
			if clusterName != "pangate" && db != "pangate" && reLeftover.MatchString(s) {
				return nil, fmt.Errorf("cluster: %s statement %d still names pangate after renaming to cluster %s, database %s: teach cluster.Load the new form:\n%s",
					ms[i].Name, j+1, clusterName, db, s)
			}
			ms[i].Statements[j] = s
		}
	}
	return ms, nil
}
