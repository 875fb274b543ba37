// Command gateway is pangate's PostgreSQL-wire gateway. main only picks the subcommand; each lives in
// gateway/cli, and `run` loads the configuration (gateway/config) and calls gateway/service.Run, which
// builds the parts and serves; the logic lives in the child packages (service, proxy, audit, auth, jit,
// classify, policy, catalog).
//
//	gateway run -config gateway.yaml     serve
//	gateway policy check [flags] FILE    check a policy file (see gateway/policy)
//	gateway keygen -out key.pem          create the Ed25519 checkpoint signing key (and key.pub.pem)
//
// Exit status, as for every pangate binary (internal/cli): 0 success (and -h), 2 usage or configuration
// error (printed as text naming the setting), 1 runtime failure.
package main

import (
	"fmt"
	"os"

	gateway "github.com/pangate/pangate/gateway/cli"
	"github.com/pangate/pangate/internal/cli"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, gateway.Usage)
		os.Exit(2)
	}
	ctx, stop := cli.SignalContext()
	name, err := "gateway", error(nil)
	switch args := os.Args[2:]; os.Args[1] {
	case "-h", "-help", "--help", "help":
		fmt.Println(gateway.Usage)
	case "run":
		err = gateway.Run(ctx, args, version)
	case "policy":
		err = gateway.Policy(args, os.Stdout, os.Stderr)
	case "keygen":
		name, err = "gateway keygen", gateway.Keygen(args, os.Stdout)
	case "version":
		fmt.Println(version)
	default:
		fmt.Fprintln(os.Stderr, gateway.Usage)
		err = cli.Reported{Status: 2}
	}
	stop()
	os.Exit(cli.Exit(name, os.Stderr, err))
}
