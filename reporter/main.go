// Command reporter makes signed PCI DSS evidence packages from pangate's audit store and verifies them
// offline. main only picks the subcommand; each lives in reporter/cli.
//
//	reporter generate -config reporter.yaml -from 2026-10-01 -to 2026-11-01 [-kind package|daily_review] [-out DIR]
//	reporter generate -config reporter.yaml -period previous-day|previous-month [-kind …] [-out DIR]
//	reporter run -config reporter.yaml                  # daemon: daily review + monthly package on cron schedules
//	reporter verify -key reporter.pub [-fingerprint sha256:…] [-config reporter.yaml] PACKAGE [-previous PREVIOUS_PACKAGE]
//	reporter transcript -config reporter.yaml -session ID [-json]
//	reporter review -package DIR -key REVIEWER.key -reviewer "Name <email>" -decision no_action|followed_up|escalated [-notes TEXT] [-ticket ID]
//	reporter keygen -out reporter                       # writes reporter.key (private) and reporter.pub
//
// -from and -to take RFC 3339 times, dates (YYYY-MM-DD) or a month (YYYY-MM, -to optional). -period names a
// period relative to now instead (UTC, the periods `reporter run` uses: reporter/schedule), so a Kubernetes
// CronJob without a shell can run generate; it excludes -from and -to. Exit status, as for every pangate
// binary (internal/cli): 0 success (and -h), 1 failure (verify: any check failed), 2 usage or configuration
// error (a missing or invalid configuration file, a key file that does not load, ClickHouse refusing the
// configured credentials or database).
package main

import (
	"fmt"
	"os"

	"github.com/pangate/pangate/internal/cli"
	reporter "github.com/pangate/pangate/reporter/cli"
)

// Version is the generator version written in every manifest (-ldflags "-X main.Version=…").
var Version = "0.1.0"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, reporter.Usage)
		os.Exit(2)
	}
	ctx, stop := cli.SignalContext()
	var err error
	switch args := os.Args[2:]; os.Args[1] {
	case "generate":
		err = reporter.Generate(ctx, args, Version, os.Stdout)
	case "run":
		err = reporter.Run(ctx, args, Version)
	case "verify":
		err = reporter.Verify(ctx, args, os.Stdout)
	case "transcript":
		err = reporter.Transcript(ctx, args, os.Stdout)
	case "keygen":
		err = reporter.Keygen(args, os.Stdout)
	case "review":
		err = reporter.Review(args, os.Stdout)
	case "-h", "-help", "--help", "help":
		fmt.Println(reporter.Usage)
	default:
		fmt.Fprintln(os.Stderr, reporter.Usage)
		err = cli.Reported{Status: 2}
	}
	stop()
	os.Exit(cli.Exit("reporter", os.Stderr, err, reporter.ConfigErrors...))
}
