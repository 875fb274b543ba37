// Package policy decides, for each statement a session sends, whether the gateway allows it, denies it or
// holds it for human approval, and which database roles a session may be granted at login.
//
// A policy is one YAML file (see docs/policy.md and deploy/policy/pci.yaml) with three parts:
//
//	grants:   ordered rules mapping a verified OIDC identity to the DB roles its JIT login role may get
//	rules:    ordered statement rules; the first whose CEL `when` is true decides (allow, deny or hold)
//	default:  the action when no rule matches (the PCI policy denies)
//
// Expressions are CEL (github.com/google/cel-go), type-checked at load time, so a typo is refused with
// file:line before the gateway starts rather than discovered on the first statement. Evaluation fails
// closed: a rule that errors at run time denies.
package policy
