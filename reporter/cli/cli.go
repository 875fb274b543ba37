// Package cli holds the reporter's subcommands, one file each: generate (one evidence package), run (the
// daemon that generates them on schedule), verify (check a package offline), transcript (one session's
// statements), review (sign off a package) and keygen. Each parses its own flags and returns an error
// that internal/cli maps to the exit status; reporter/main.go only picks the subcommand. See
// docs/evidence.md.
//
// Errors: a usage mistake, a configuration file that does not load, a key file that does not load and
// ClickHouse refusing the configured credentials or database are configuration errors (exit 2, see
// ConfigErrors); anything else is a runtime failure (exit 1), verify's failed checks included.
package cli

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/pangate/pangate/internal/chlogin"
	"github.com/pangate/pangate/internal/cli"
	"github.com/pangate/pangate/reporter/config"
	"github.com/pangate/pangate/reporter/query"
)

// Usage is the reporter's command summary, printed by `reporter -h` and on a missing or unknown subcommand.
const Usage = `usage:
  reporter generate -config FILE -from TIME [-to TIME] [-kind package|daily_review] [-out DIR]
  reporter generate -config FILE -period previous-day|previous-month [-kind package|daily_review] [-out DIR]
  reporter run -config FILE
  reporter verify -key PUBLIC.pem [-fingerprint sha256:…] [-config FILE] PACKAGE_DIR [-previous PREVIOUS_PACKAGE_DIR]
  reporter transcript -config FILE -session ID [-json]
  reporter review -package DIR -key REVIEWER.key -reviewer NAME -decision no_action|followed_up|escalated [-notes TEXT] [-ticket ID]
  reporter keygen -out PREFIX`

// ConfigErrors are the sentinels besides cli.UsageError that make an exit status 2 (cli.Exit's configErrs):
// an invalid configuration and a ClickHouse login the server refuses.
var ConfigErrors = []error{config.ErrInvalid, chlogin.ErrRefused}

// loadConfig is config.Load whose every error is a configuration error (exit 2).
func loadConfig(path string) (config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, cli.Usage(err)
	}
	return cfg, nil
}

// openStore opens the audit store. When that fails, a login check tells a refusal (wrong password, no
// such user, a database the user may not use: configuration, naming the setting) from a server that does
// not answer.
func openStore(ctx context.Context, cfg config.Config) (*query.DB, error) {
	db, err := query.Open(ctx, cfg.ClickHouse)
	if err == nil {
		return db, nil
	}
	if errors.Is(err, query.ErrConfig) {
		return nil, cli.Usage(err)
	}
	login := chlogin.Login{Addrs: []string{cfg.ClickHouse.Addr}, Database: cfg.ClickHouse.Database, User: cfg.ClickHouse.User,
		Password: cfg.ClickHouse.Password, DatabaseSetting: "clickhouse.database (PANGATE_REPORTER_DATABASE)",
		UserSetting: "clickhouse.user (PANGATE_REPORTER_CLICKHOUSE_USER)", PasswordSetting: "clickhouse.password (PANGATE_REPORTER_CLICKHOUSE_PASSWORD)"}
	if x := chlogin.Check(ctx, login, 5*time.Second); errors.Is(x, chlogin.ErrRefused) {
		return nil, cli.Usage(x)
	}
	return nil, err
}

// logger is the daemon's JSON log on stderr.
func logger(level string) *slog.Logger {
	l, _ := cli.Logger(os.Stderr, level)
	return l.With("service", "reporter")
}

// parseTime reads RFC 3339, a date, or a month; month reports whether it was a month.
func parseTime(s string) (t time.Time, month bool, err error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), false, nil
		}
	}
	if t, err := time.ParseInLocation("2006-01", s, time.UTC); err == nil {
		return t, true, nil
	}
	return time.Time{}, false, cli.Usagef("time %q: use RFC 3339 (2026-10-01T00:00:00Z), a date (2026-10-01) or a month (2026-10)", s)
}
