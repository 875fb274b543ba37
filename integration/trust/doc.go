// Package trust tests pangate's trust boundaries against the real local stack, as an attacker with one
// service's credentials or plain network access would try them: the ClickHouse indexer user cannot rewrite
// the audit store whatever settings it sends, and the gateway's pre-authentication limits keep real clients
// logging in during floods of unauthenticated sockets and CancelRequests (docs/deploy.md). Run
// `go tool task up` first.
package trust
