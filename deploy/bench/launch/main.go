// Command launch starts one gateway for deploy/bench/bench.sh through internal/launch, the launcher the
// integration tests and the demo use: the config is the gateway's own type, marshalled; the process is
// ready at its "gateway serving" line. It prints one line, "ready PID PORT OPS" (the gateway's own process
// id, so the script measures the gateway and not this command), then runs until SIGTERM or SIGINT, which
// stop the gateway. The stack's endpoints come from the PANGATE_* variables of .stack/env, which the
// script exports; the gateway itself gets none of them.
//
//	launch -name strict -reads strict -db pangate_bench -issuer URL -key checkpoint.pem -dir DIR
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pangate/pangate/gateway/auth"
	gatewayconfig "github.com/pangate/pangate/gateway/config"
	"github.com/pangate/pangate/internal/launch"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "launch:", err)
		os.Exit(1)
	}
}

func run() error {
	name := flag.String("name", "", "the gateway's name: instance bench-NAME, its own topics (required)")
	reads := flag.String("reads", gatewayconfig.ReadsStrict, "audit.reads: strict or pipelined")
	db := flag.String("db", "", "the target's database (required)")
	issuer := flag.String("issuer", "", "the dev issuer's URL (required)")
	audience := flag.String("audience", "pangate-bench", "the token audience")
	key := flag.String("key", "", "the checkpoint signing key, from gateway keygen (required)")
	dir := flag.String("dir", "", "where the config (gateway-NAME/gateway.yaml) and log (gateway-NAME.log) go (required)")
	bin := flag.String("bin", "", "the gateway binary (required)")
	prefix := flag.String("prefix", "", "the topic prefix (default bench.PID.NAME.)")
	linger := flag.Duration("linger", 0, "kafka.linger")
	flag.Parse()
	for f, v := range map[string]string{"name": *name, "db": *db, "issuer": *issuer, "key": *key, "dir": *dir, "bin": *bin} {
		if v == "" {
			return fmt.Errorf("-%s is required (see -h)", f)
		}
	}
	port, err := strconv.Atoi(os.Getenv("PANGATE_PG_PORT"))
	if err != nil {
		return fmt.Errorf("PANGATE_PG_PORT %q is not a port number: export .stack/env first", os.Getenv("PANGATE_PG_PORT"))
	}
	if *prefix == "" {
		*prefix = fmt.Sprintf("bench.%d.%s.", os.Getppid(), *name)
	}
	cfg := gatewayconfig.Config{
		Instance:               "bench-" + *name,
		Listen:                 "127.0.0.1:0",
		AllowPlaintextLoopback: true,
		Limits:                 gatewayconfig.Limits{MaxConnections: 2000},
		Targets: []gatewayconfig.Target{{Name: "pg", Host: os.Getenv("PANGATE_PG_HOST"), Port: port, Database: *db,
			SSLMode: "disable", AdminDSN: os.Getenv("PANGATE_PG_ADMIN_DSN"), SourceAddress: "127.0.0.2"}},
		Checkpoint: gatewayconfig.Checkpt{Interval: 60 * time.Second, KeyFile: *key},
		Audit:      gatewayconfig.Audit{Reads: *reads},
		Auth:       auth.Config{Issuers: []auth.IssuerConfig{{URL: *issuer, Audiences: []string{*audience}}}},
		Ops:        gatewayconfig.Ops{Listen: "127.0.0.1:0"},
	}
	cfg.Kafka.Brokers = strings.Split(os.Getenv("PANGATE_KAFKA_BROKERS"), ",")
	cfg.Kafka.TopicPrefix = *prefix
	cfg.Kafka.AckTimeout = 5 * time.Second
	cfg.Kafka.Linger = *linger

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	g, err := launch.StartGateway(launch.GatewaySpec{Config: cfg, Common: launch.Common{
		Dir: filepath.Join(*dir, "gateway-"+*name), Bin: *bin, LogFile: filepath.Join(*dir, "gateway-"+*name+".log")}})
	if err != nil {
		if g != nil {
			g.Kill()
		}
		return err
	}
	fmt.Printf("ready %d %s %s\n", g.Cmd.Process.Pid, g.Port, g.Ops)
	select {
	case <-sigs:
		g.Stop(30 * time.Second)
		return nil
	case <-g.Done():
		return fmt.Errorf("the gateway %s exited (%v); last lines:\n%s", cfg.Instance, g.ExitErr(), g.Tail(20))
	}
}
