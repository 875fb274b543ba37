// Command demo runs pangate's scenario end to end on one machine: a nightly "Tree of Thoughts" job reads a
// payments database through the gateway, its risky exports are held for approval in (a fake) Slack, every
// event lands in ClickHouse, and a signed evidence package is generated and verified.
//
//	go tool task demo                  embedded defaults: Kafka = franz-go's kfake (in this process, with a
//	                                   data directory), bucket = a local directory, Slack = slacktest with
//	                                   signed clicks; PostgreSQL and ClickHouse from the local stack
//	go tool task demo -- --real        the same against the stack's Apache Kafka broker and S3 server
//	go tool task demo -- --ci          non-interactive: assert the printed figures against ClickHouse
//
// Everything the demo starts (gateway, approver, indexer, OIDC issuer) runs as its own process from binaries
// built into .stack/demo/bin, logging to .stack/demo/logs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.BoolVar(&o.real, "real", false, "use the local stack's Apache Kafka broker and S3 server instead of kfake and a directory")
	flag.BoolVar(&o.ci, "ci", os.Getenv("CI") != "", "non-interactive: check the printed figures against ClickHouse and fail on any mismatch")
	flag.StringVar(&o.dir, "dir", "", "working directory (default .stack/demo at the module root)")
	flag.BoolVar(&o.noStackUp, "no-stack-up", false, "do not run the stack's `up`: use the endpoints in .stack/env as they are (tests that already hold the services)")
	flag.IntVar(&o.transactions, "transactions", 100000, "transactions to seed")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed after %s: %v\n", time.Since(start).Round(time.Second), err)
		os.Exit(1)
	}
	fmt.Printf("\ndemo finished in %s\n", time.Since(start).Round(time.Second))
}
