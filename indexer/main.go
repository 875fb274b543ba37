// Command indexer consumes pangate's audit and approval topics and writes every event, exactly once as
// auditors query it, to ClickHouse. See docs/auditors.md for the queries and deploy/clickhouse for the schema.
//
//	indexer -config indexer.yaml      # PANGATE_INDEXER_* environment variables override the file
//	indexer -migrate-only             # apply the schema migrations and exit
//
// Exit status, as for every pangate binary: 0 success (and -h), 2 usage or configuration error (printed as
// text naming the setting, ClickHouse refusing a configured login included), 1 runtime failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	chddl "github.com/pangate/pangate/deploy/clickhouse"
	"github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/indexer/service"
	"github.com/pangate/pangate/internal/chlogin"
)

func main() {
	path := flag.String("config", "", "YAML configuration file (PANGATE_INDEXER_* variables override it)")
	migrateOnly := flag.Bool("migrate-only", false, "apply ClickHouse migrations and exit")
	flag.Parse() // -h exits 0, a bad flag 2 (flag.ExitOnError)
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "indexer: unexpected argument %q (the indexer takes only flags; see -h)\n", flag.Arg(0))
		os.Exit(2)
	}

	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "indexer:", err)
		os.Exit(2)
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("service", "indexer", "instance", cfg.Instance)

	if os.Getenv("GOGC") == "" {
		// Mapping allocates ~35 KB per record that dies within the batch; a larger GC target cuts the
		// indexer's CPU per event by about a fifth (measured, indexer/BENCHMARKS.md). GOGC overrides it.
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = run(ctx, cfg, *migrateOnly, log)
	if errors.Is(err, chlogin.ErrRefused) {
		// A wrong password or a forbidden database never heals by retrying: say which setting to fix.
		fmt.Fprintln(os.Stderr, "indexer:", err)
		os.Exit(2)
	}
	if err != nil {
		log.Error("indexer failed", "err", err)
		os.Exit(1)
	}
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
