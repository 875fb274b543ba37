// Command local runs the local stack of real services that pangate's
// integration tests and demo use: PostgreSQL 15 (Debian), an Apache Kafka 4.x
// broker in KRaft mode (Maven Central jars on Java 17), ClickHouse 18.16
// (Debian) and versitygw (S3 API over a directory), all on loopback ports,
// with their state under .stack/ at the module root.
//
//	go run ./deploy/local up     [service...]  install what is missing, start what is stopped, wait until ready
//	go run ./deploy/local down   [service...]  stop what this tool started (by pid file)
//	go run ./deploy/local status [service...]  print each service healthy/unhealthy; exit 1 if any is not healthy
//	go run ./deploy/local env                  print the endpoints (also written to .stack/env)
//	go run ./deploy/local kafkacluster up|down|status|env  the optional three-broker Kafka profile (kafkacluster.go)
//
// Services: postgres, kafka, clickhouse, s3 (default: all), and the optional
// profile chcluster (replicated ClickHouse with ZooKeeper, chcluster.go), started
// only when named. `up` is
// idempotent and safe to run concurrently (a lock file serialises runs), and
// prints the endpoints as KEY=value lines on stdout; progress goes to stderr.
// Logs are in .stack/logs/.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := newStack()
	if err != nil {
		fatal(err)
	}
	names := os.Args[2:]
	switch os.Args[1] {
	case "up", "start":
		err = s.up(ctx, names)
	case "down", "stop":
		err = s.down(ctx, names)
	case "status":
		err = s.status(ctx, names)
	case "env":
		err = s.printEnv(os.Stdout)
	case "kafkacluster":
		err = (&kafkaCluster{s: s}).run(ctx, names)
	default:
		usage()
	}
	if err != nil {
		fatal(err)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: go run ./deploy/local up|down|status|env [postgres|kafka|clickhouse|s3 ...]")
	os.Exit(2)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "stack:", err)
	os.Exit(1)
}
