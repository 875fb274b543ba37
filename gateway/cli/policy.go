package cli

import (
	"fmt"
	"io"

	"github.com/pangate/pangate/gateway/policy"
	"github.com/pangate/pangate/internal/cli"
)

// Policy is `gateway policy check`: args are what follows "policy". policy.RunCheck prints its own
// report and picks the exit status, which comes back as a cli.Reported error.
func Policy(args []string, stdout, stderr io.Writer) error {
	if len(args) < 1 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: gateway policy check [flags] FILE")
		return cli.Reported{Status: 2}
	}
	if code := policy.RunCheck(args[1:], stdout, stderr); code != 0 {
		return cli.Reported{Status: code}
	}
	return nil
}
