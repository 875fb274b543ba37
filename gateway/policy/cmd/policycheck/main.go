// Command policycheck tests a statement and an identity against a pangate policy file; it is the same
// code as `go run ./gateway policy check` (see policy.RunCheck), runnable on its own:
//
//	go run ./gateway/policy/cmd/policycheck -policy deploy/policy/pci.yaml -sql 'DELETE FROM cards'
package main

import (
	"os"

	"github.com/pangate/pangate/gateway/policy"
)

func main() {
	os.Exit(policy.RunCheck(os.Args[1:], os.Stdout, os.Stderr))
}
