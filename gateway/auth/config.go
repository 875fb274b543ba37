package auth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// DefaultAlgorithms are the signature algorithms accepted when an issuer lists none.
var DefaultAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// DefaultClaimsKept are the claims copied into schemas.Identity.Claims when Config.ClaimsKept is empty:
// the workload claims of GitHub Actions, Kubernetes service accounts and common IdPs, and the CI run
// (GitHub Actions run_id, run_attempt, sha): which run and commit a session's statements belong to
// (docs/context.md).
var DefaultClaimsKept = []string{"repository", "workflow", "ref", "service_account", "email", "azp", "job_workflow_ref", "environment", "run_id", "run_attempt", "sha"}

// Defaults applied to zero Config fields.
const (
	DefaultClockSkew   = 30 * time.Second
	DefaultJWKSMaxAge  = 10 * time.Minute
	DefaultHTTPTimeout = 5 * time.Second
	DefaultGroupsClaim = "groups"
	// MaxClockSkew bounds ClockSkew: a larger leeway would keep expired tokens usable.
	MaxClockSkew = 5 * time.Minute
)

// MaxTokenBytes caps the size of a token the Verifier will look at; longer passwords are refused as malformed
// before any parsing.
const MaxTokenBytes = 16 << 10

// maxClaimBytes caps each kept claim value, so a large claim cannot bloat every event of a session.
const maxClaimBytes = 1024

// asymmetric lists the algorithms an issuer may be configured with: public-key signatures only, since an
// HMAC secret would be shared with every party that can verify.
var asymmetric = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
}

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
	// ClockSkew is the leeway applied to exp, nbf and iat (default DefaultClockSkew, at most MaxClockSkew).
	ClockSkew time.Duration `yaml:"clock_skew"`
	// ClaimsKept are copied (as strings) into schemas.Identity.Claims; default DefaultClaimsKept.
	ClaimsKept []string `yaml:"claims_kept"`
	// HumanClaim marks a token as a person's (schemas.Identity.Human, PCI DSS 10.2.1.2): "claim" means the
	// claim is present and not false/empty/null; "claim=value" means it equals value. Empty: never human.
	HumanClaim string `yaml:"human_claim"`
	// GroupsClaim names the claim holding group names (array of strings); default "groups".
	GroupsClaim string `yaml:"groups_claim"`
	// JWKSMaxAge is how long fetched keys are trusted before they are refetched, so a key the issuer retired
	// stops verifying (default DefaultJWKSMaxAge). An unknown kid always triggers a refetch.
	JWKSMaxAge time.Duration `yaml:"jwks_max_age"`
	// HTTPTimeout bounds each discovery or JWKS request (default DefaultHTTPTimeout).
	HTTPTimeout time.Duration `yaml:"http_timeout"`

	// Now replaces time.Now (tests). Not configurable from YAML.
	Now func() time.Time `yaml:"-"`
}

// Validate checks the configuration and says what to change.
func (c Config) Validate() error {
	var errs []error
	if len(c.Issuers) == 0 {
		errs = append(errs, errors.New("auth: no issuers configured: add at least one under auth.issuers with url and audiences"))
	}
	seen := map[string]bool{}
	for i, is := range c.Issuers {
		where := fmt.Sprintf("auth.issuers[%d]", i)
		if err := checkIssuerURL(is.URL); err != nil {
			errs = append(errs, fmt.Errorf("%s.url %q: %w", where, is.URL, err))
		}
		if seen[is.URL] {
			errs = append(errs, fmt.Errorf("%s.url %q: listed twice; merge the audiences into one entry", where, is.URL))
		}
		seen[is.URL] = true
		if len(is.Audiences) == 0 {
			errs = append(errs, fmt.Errorf("%s (%s): audiences is empty: list the audience(s) tokens for this gateway carry, e.g. [\"pangate\"]", where, is.URL))
		}
		for _, a := range is.Audiences {
			if strings.TrimSpace(a) == "" {
				errs = append(errs, fmt.Errorf("%s (%s): empty audience: remove it", where, is.URL))
			}
		}
		for _, a := range is.Algorithms {
			switch {
			case asymmetric[a]:
			case strings.EqualFold(a, "none") || strings.HasPrefix(strings.ToUpper(a), "HS"):
				errs = append(errs, fmt.Errorf("%s (%s): algorithm %q is never accepted (unsigned or shared-secret); use RS256, ES256 or EdDSA", where, is.URL, a))
			default:
				errs = append(errs, fmt.Errorf("%s (%s): unknown algorithm %q; use one of RS256/384/512, PS256/384/512, ES256/384/512, EdDSA", where, is.URL, a))
			}
		}
	}
	if c.ClockSkew < 0 || c.ClockSkew > MaxClockSkew {
		errs = append(errs, fmt.Errorf("auth.clock_skew %s: must be between 0 and %s", c.ClockSkew, MaxClockSkew))
	}
	if c.JWKSMaxAge < 0 {
		errs = append(errs, fmt.Errorf("auth.jwks_max_age %s: must not be negative (0 means %s)", c.JWKSMaxAge, DefaultJWKSMaxAge))
	}
	if c.HTTPTimeout < 0 {
		errs = append(errs, fmt.Errorf("auth.http_timeout %s: must not be negative (0 means %s)", c.HTTPTimeout, DefaultHTTPTimeout))
	}
	for _, k := range c.ClaimsKept {
		if strings.TrimSpace(k) == "" {
			errs = append(errs, errors.New("auth.claims_kept: empty claim name: remove it"))
		}
	}
	if c.HumanClaim != "" {
		name, _, _ := strings.Cut(c.HumanClaim, "=")
		if strings.TrimSpace(name) == "" {
			errs = append(errs, fmt.Errorf("auth.human_claim %q: give a claim name, optionally =value (e.g. \"actor_type=user\")", c.HumanClaim))
		}
	}
	return errors.Join(errs...)
}

func checkIssuerURL(raw string) error {
	if raw == "" {
		return errors.New("empty: set it to the issuer identifier, e.g. https://token.actions.githubusercontent.com")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("an issuer identifier has no query, fragment or user info")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return errors.New("http is allowed only for loopback issuers (dev); use https")
		}
	default:
		return errors.New("scheme must be https (or http on loopback)")
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if len(c.ClaimsKept) == 0 {
		c.ClaimsKept = DefaultClaimsKept
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = DefaultGroupsClaim
	}
	if c.JWKSMaxAge == 0 {
		c.JWKSMaxAge = DefaultJWKSMaxAge
	}
	if c.HTTPTimeout == 0 {
		c.HTTPTimeout = DefaultHTTPTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
