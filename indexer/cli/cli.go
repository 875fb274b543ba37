// Package cli is the indexer's command line: its flags, the two ClickHouse login checks and the run of
// indexer/service, returning an error that internal/cli maps to the exit status; indexer/main.go only
// calls Run.
//
//	indexer -config indexer.yaml      # PANGATE_INDEXER_* environment variables override the file
//	indexer -migrate-only             # apply the schema migrations and exit
package cli

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/indexer/service"
	chddl "github.com/pangate/pangate/internal/auditstore"
	"github.com/pangate/pangate/internal/chlogin"
	"github.com/pangate/pangate/internal/cli"
)

// ConfigErrors are the sentinels besides cli.UsageError that make an exit status 2: a ClickHouse login
// the server refuses never heals by retrying, so it is a setting to fix.
var ConfigErrors = []error{chlogin.ErrRefused}

// Run parses the indexer's flags (name is the program name the usage shows), loads the configuration and
// indexes until ctx ends, or with -migrate-only applies the migrations and returns. A runtime failure is
// logged as the JSON line "indexer failed" and comes back as cli.Reported.
func Run(ctx context.Context, name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration file (PANGATE_INDEXER_* variables override it)")
	migrateOnly := fs.Bool("migrate-only", false, "apply ClickHouse migrations and exit")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("unexpected argument %q (the indexer takes only flags; see -h)", fs.Arg(0))
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return cli.Usage(err)
	}
	log, _ := cli.Logger(os.Stderr, cfg.LogLevel)
	log = log.With("service", "indexer", "instance", cfg.Instance)

	if os.Getenv("GOGC") == "" {
		// Mapping allocates ~35 KB per record that dies within the batch; a larger GC target cuts the
		// indexer's CPU per event by about a fifth (measured, indexer/BENCHMARKS.md). GOGC overrides it.
		debug.SetGCPercent(400)
	}
	err = run(ctx, cfg, *migrateOnly, log)
	if err != nil && !errors.Is(err, chlogin.ErrRefused) {
		log.Error("indexer failed", "err", err)
		return cli.Reported{Err: err}
	}
	return err
}

// run checks the two ClickHouse logins (the migrate user's, then the indexer user's on the ingest database
// the migrations create) before it settles into the consumer loop, so that a refused login is a
// configuration error naming the setting instead of a retry loop on "read: EOF". A server that does not
// answer yet is left to the service, which waits for it.
func run(ctx context.Context, cfg config.Config, migrateOnly bool, log *slog.Logger) error {
	ch := cfg.ClickHouse
	migrateLogin := chlogin.Login{Addrs: ch.Addrs, Database: "default", User: ch.MigrateUser, Password: ch.MigratePassword,
		DatabaseSetting: "the migrate user's allowed databases (it connects to database default to create " + ch.Database + ")",
		UserSetting:     "clickhouse.migrate_user (PANGATE_INDEXER_MIGRATE_USER)",
		PasswordSetting: "clickhouse.migrate_password (PANGATE_INDEXER_MIGRATE_PASSWORD)"}
	if err := chlogin.Check(ctx, migrateLogin, 5*time.Second); errors.Is(err, chlogin.ErrRefused) {
		return err
	}
	if _, err := service.Migrate(ctx, cfg, log); err != nil || migrateOnly {
		return err
	}
	ingestLogin := chlogin.Login{Addrs: ch.Addrs, Database: chddl.IngestDatabase(ch.Database), User: ch.User, Password: ch.Password,
		DatabaseSetting: "clickhouse.database (PANGATE_INDEXER_DATABASE; the indexer user writes through " + chddl.IngestDatabase(ch.Database) + ", which must be among its allowed databases)",
		UserSetting:     "clickhouse.user (PANGATE_INDEXER_CLICKHOUSE_USER)",
		PasswordSetting: "clickhouse.password (PANGATE_INDEXER_CLICKHOUSE_PASSWORD)"}
	if err := chlogin.Check(ctx, ingestLogin, 5*time.Second); errors.Is(err, chlogin.ErrRefused) {
		return err
	}
	return service.Run(ctx, cfg, log)
}
