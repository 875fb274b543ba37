package policy

import (
	"fmt"
	"io"
)

// RunCheck is the `policy check` command: it tests a statement and an identity against a policy file and
// prints the grant, each statement's classification and the decision with its rule.
//
//	-policy FILE -sql "…" -claims '{"iss":…,"sub":…,"repository":…}' -target T -role R -database D -cardholder -json
//
// Exit status: 0 allowed, 3 held, 4 denied (statement or grant), 2 usage or invalid policy.
func RunCheck(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "policy check: not implemented yet")
	return 2
}
