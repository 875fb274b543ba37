package audit

import "github.com/google/uuid"

// Event ids are UUIDv7 (schemas.NewID): 74 random bits each. By default every id costs a getrandom system
// call (2–3 % of the gateway's CPU under pgbench, BENCHMARKS.md); the pool reads crypto/rand in blocks of
// 16 ids instead. It must be enabled before any id is generated, hence init.
func init() { uuid.EnableRandPool() }
