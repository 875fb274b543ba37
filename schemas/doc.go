// Package schemas is pangate's event contract: the envelope every service writes to Kafka, the data of each
// event type, the canonical encoding the hash covers, the per-session SHA-256 chain, signed gateway
// checkpoints, the JSON Schema files that validate every type, and the topics with their configuration.
//
// Every producer stamps events through a Chain; every consumer may check them with VerifySession,
// VerifyEvent and Validate. Other implementations can check their hashes against testdata/golden.json.
//
//	session events (key = session id)                 approval events (key = approval id)
//	pangate.audit:  seq 0 ─▶ seq 1 ─▶ … ─▶ seq n       pangate.approvals (gateways), pangate.decisions
//	                 prev=0…0  prev=h0      prev=hn-1   (approvers): each event hashed on its own
//
// The gateway's own lifecycle (gateway.started, policy.loaded, gateway.checkpoint, gateway.stopped) is a
// chain too, under a session id minted when the gateway process starts (its "run").
package schemas
