// Package authtest is a development OIDC issuer that tests (and the demo) can steer: it serves discovery and
// JWKS like a real issuer and mints signed JWTs with any claims, expiry, audience or kid, rotates and retires
// keys, and forges tokens a gateway must refuse (alg none, HS256 keyed with the public key, a foreign key
// under a known kid).
//
// Three ways to use it:
//
//	StartIssuer(t)         in-process over httptest, for unit tests (no process, no port juggling)
//	StartIssuerProcess(t)  builds ./deploy/issuer once per test binary and runs it as a separate process,
//	                       which the gateway discovers like a real issuer (integration tests)
//	NewIssuer + Handler    the building blocks ./deploy/issuer is made of
//
// Steering endpoints (POST /mint, /rotate, /retire, GET /keys) answer only loopback clients: a dev issuer
// that mints any token must never be reachable from elsewhere.
package authtest
