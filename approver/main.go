// Command approver posts held statements to Slack, receives the Approve/Deny clicks and records decisions on
// the approvals topic; "approver decide" records a decision from the terminal. See docs/approvals.md.
// main only picks the subcommand; each lives in approver/cli.
//
//	approver [serve] -config approver.yaml
//	approver decide  -config approver.yaml -id APPROVAL_ID (-approve | -deny) [-reason TEXT] [-user NAME]
//	approver keygen  -out decision.pem     create the Ed25519 decision signing key (and decision.pub.pem)
//
// Exit status, as for every pangate binary (internal/cli): 0 success (and -h), 2 usage or configuration
// error (printed as text naming the setting), 1 runtime failure.
package main

import (
	"fmt"
	"os"
	"strings"

	approver "github.com/pangate/pangate/approver/cli"
	"github.com/pangate/pangate/internal/cli"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := cli.SignalContext()
	var err error
	switch cmd {
	case "serve":
		err = approver.Serve(ctx, args, version)
	case "decide":
		err = approver.Decide(ctx, args, version, os.Stdout)
	case "keygen":
		err = approver.Keygen(args, os.Stdout)
	case "help":
		fmt.Println(approver.Usage)
	default:
		err = approver.UnknownCommand(cmd)
	}
	stop()
	os.Exit(cli.Exit("approver", os.Stderr, err))
}
