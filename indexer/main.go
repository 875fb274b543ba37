// Command indexer consumes pangate's audit and approval topics and writes every event, exactly once as
// auditors query it, to ClickHouse. See docs/auditors.md for the queries and internal/auditstore for the
// schema. main only calls indexer/cli.
//
//	indexer -config indexer.yaml      # PANGATE_INDEXER_* environment variables override the file
//	indexer -migrate-only             # apply the schema migrations and exit
//
// Exit status, as for every pangate binary (internal/cli): 0 success (and -h), 2 usage or configuration
// error (printed as text naming the setting, ClickHouse refusing a configured login included), 1 runtime
// failure.
package main

import (
	"os"

	indexer "github.com/pangate/pangate/indexer/cli"
	"github.com/pangate/pangate/internal/cli"
)

func main() {
	ctx, stop := cli.SignalContext()
	err := indexer.Run(ctx, os.Args[0], os.Args[1:])
	stop()
	os.Exit(cli.Exit("indexer", os.Stderr, err, indexer.ConfigErrors...))
}
