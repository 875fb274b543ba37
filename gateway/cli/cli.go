// Package cli holds the gateway's subcommands, one file each: run (serve, through gateway/service),
// policy check (gateway/policy) and keygen (the checkpoint signing key). Each parses its own flags and
// returns an error that internal/cli maps to the exit status; gateway/main.go only picks the subcommand.
//
//	gateway run -config gateway.yaml     serve
//	gateway policy check [flags] FILE    check a policy file (see gateway/policy)
//	gateway keygen -out key.pem          create the Ed25519 checkpoint signing key (and key.pub.pem)
//	gateway version
package cli

// Usage is the gateway's command summary, printed by `gateway -h` and on a missing or unknown subcommand.
const Usage = "usage: gateway run -config FILE | gateway policy check FILE | gateway keygen -out FILE | gateway version"
