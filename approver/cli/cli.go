// Package cli holds the approver's subcommands, one file each: serve (post held statements to Slack,
// receive the clicks, record decisions), decide (record a decision from the terminal) and keygen (create
// the decision signing key). Each parses its own flags and returns an error that internal/cli maps to the
// exit status; approver/main.go only picks the subcommand. See docs/approvals.md.
//
//	approver [serve] -config approver.yaml
//	approver decide  -config approver.yaml -id APPROVAL_ID (-approve | -deny) [-reason TEXT] [-user NAME]
//	approver keygen  -out decision.pem
package cli

import "github.com/pangate/pangate/internal/cli"

// Usage is the approver's command summary, printed by `approver help`.
const Usage = `usage:
  approver [serve] -config approver.yaml
  approver decide  -config approver.yaml -id APPROVAL_ID (-approve | -deny) [-reason TEXT] [-user NAME]
  approver keygen  -out decision.pem`

// UnknownCommand is the usage error for a subcommand the approver does not have.
func UnknownCommand(name string) error {
	return cli.Usagef("unknown command %q: use serve, decide or keygen", name)
}

// configEnv names the variable that gives -config its default.
const configEnv = "PANGATE_APPROVER_CONFIG"
