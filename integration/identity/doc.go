// Package identity tests pangate's identity pieces against real services: the OIDC verifier (gateway/auth)
// against the dev issuer running as a separate process (./deploy/issuer), and JIT roles (gateway/jit)
// against the stack's PostgreSQL. Start the stack with: go tool task up
package identity
