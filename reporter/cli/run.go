package cli

import (
	"context"
	"flag"
	"os"
	"time"

	"github.com/pangate/pangate/internal/cli"
	"github.com/pangate/pangate/reporter/progress"
	"github.com/pangate/pangate/reporter/schedule"
)

// Run is `reporter run`: the daemon that builds the daily review and the monthly package on the
// configured cron schedules (reporter/schedule) until ctx ends. version is written in every manifest.
func Run(ctx context.Context, args []string, version string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration")
	if _, err := cli.ParseInterleaved(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := logger(cfg.LogLevel)
	_, b, closeAll, err := setup(ctx, *path, log, "", version)
	if err != nil {
		return err
	}
	defer closeAll()
	b.Progress = progress.New(os.Stderr)
	s, err := schedule.New(schedule.Config{Daily: cfg.Schedule.Daily, Monthly: cfg.Schedule.Monthly}, func(ctx context.Context, kind string, from, to time.Time) error {
		_, err := b.Build(ctx, kind, from, to)
		return err
	}, log)
	if err != nil {
		return err
	}
	log.Info("reporter daemon started", "daily", cfg.Schedule.Daily, "monthly", cfg.Schedule.Monthly, "database", cfg.ClickHouse.Database)
	s.Run(ctx)
	return nil
}
