package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/pangate/pangate/internal/cli"
	"github.com/pangate/pangate/reporter/build"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/progress"
	"github.com/pangate/pangate/reporter/schedule"
)

// Generate is `reporter generate`: one package (or daily review) for -from/-to or -period, its stages
// drawn as a progress bar on stderr and its summary printed to stdout. version is written in the manifest.
//
// -from and -to take RFC 3339 times, dates (YYYY-MM-DD) or a month (YYYY-MM, -to optional). -period names
// a period relative to now instead (UTC, the periods `reporter run` uses: reporter/schedule), so a
// Kubernetes CronJob without a shell can run generate; it excludes -from and -to.
func Generate(ctx context.Context, args []string, version string, stdout io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration (PANGATE_REPORTER_* variables override it)")
	fromS := fs.String("from", "", "start of the period (inclusive)")
	toS := fs.String("to", "", "end of the period (exclusive); default: one month after a month, one day after a date")
	kind := fs.String("kind", manifest.KindPackage, "package or daily_review")
	period := fs.String("period", "", "instead of -from/-to: "+periodPreviousDay+" or "+periodPreviousMonth+" (UTC, relative to now)")
	out := fs.String("out", "", "write the package under this local directory instead of the configured bucket")
	if _, err := cli.ParseInterleaved(fs, args); err != nil {
		return err
	}
	from, to, err := generatePeriod(*fromS, *toS, *period, time.Now())
	if err != nil {
		return err
	}
	// The progress bar tells the stages; the log says only what went wrong.
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	_, b, closeAll, err := setup(ctx, *path, quiet, *out, version)
	if err != nil {
		return err
	}
	defer closeAll()
	bar := progress.New(os.Stderr)
	b.Progress = bar
	res, err := b.Build(ctx, *kind, from, to)
	bar.Done()
	if res != nil {
		fmt.Fprintf(stdout, "package: %s\nmanifest sha256: %s\nevents: %d, exceptions: %d, integrity: %s (%d failures, %d warnings), %s\n",
			res.Location, res.ManifestHash, res.Events, res.Exceptions, verdict(res), res.Integrity.Failures, res.Integrity.Warnings, res.Elapsed.Round(time.Millisecond))
		if res.Manifest.Empty {
			fmt.Fprintln(stdout, "the period holds no events; the package records that")
		}
	}
	return err
}

// The relative periods of generate -period.
const (
	periodPreviousDay   = "previous-day"
	periodPreviousMonth = "previous-month"
)

// generatePeriod returns the [from, to) of generate: either -period relative to now, computed by
// reporter/schedule exactly as `reporter run` does (so a CronJob and the daemon cover the same periods), or
// -from with an optional -to. Every mistake is a cli.UsageError (exit 2).
func generatePeriod(fromS, toS, period string, now time.Time) (time.Time, time.Time, error) {
	if period != "" {
		if fromS != "" || toS != "" {
			return time.Time{}, time.Time{}, cli.Usage(errors.New("generate: -period excludes -from and -to: give either -period or -from [-to]"))
		}
		switch period {
		case periodPreviousDay:
			from, to := schedule.PreviousDay(now)
			return from, to, nil
		case periodPreviousMonth:
			from, to := schedule.PreviousMonth(now)
			return from, to, nil
		}
		return time.Time{}, time.Time{}, cli.Usagef("generate: -period %q: use %s or %s", period, periodPreviousDay, periodPreviousMonth)
	}
	if fromS == "" {
		return time.Time{}, time.Time{}, cli.Usage(errors.New("generate: -from (or -period " + periodPreviousDay + "|" + periodPreviousMonth + ") is required"))
	}
	from, month, err := parseTime(fromS)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	var to time.Time
	switch {
	case toS != "":
		if to, _, err = parseTime(toS); err != nil {
			return time.Time{}, time.Time{}, err
		}
	case month:
		to = from.AddDate(0, 1, 0)
	default:
		to = from.AddDate(0, 0, 1)
	}
	return from, to, nil
}

func verdict(r *build.Result) string {
	if r.Integrity.OK {
		return "verified"
	}
	return "FAILED"
}
